"""DKIM key rotation, second half: once Verify Now finds a pending key's record, it takes over.

Domain Settings starts a rotation (a new *pending* key and its record to publish); the
verification workflow calls ``promote_verified_keys`` after each check. The key that signed until
then is retired and its record leaves the list; its private half is deleted by the caller once
the change is committed.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from postdesk.core import audit
from postdesk.core.domainname import dkim_host
from postdesk.core.records import RecordResult
from postdesk.core.store.models import DedicatedDomain


def promote_verified_keys(
    session: Session, domain: DedicatedDomain, results: Sequence[RecordResult]
) -> list[str]:
    """After a check: a pending key whose record was found takes over; returns retired refs.

    The caller loads the domain's ``records`` and ``dkim_keys``.
    """
    found = {r.host for r in results if r.kind == "dkim" and r.status == "ok"}
    pending = [
        k
        for k in domain.dkim_keys
        if k.state == "pending" and dkim_host(k.selector, domain.name) in found
    ]
    if not pending:
        return []
    new = max(pending, key=lambda k: k.created_at)
    retired = []
    for key in domain.dkim_keys:
        if key is not new and key.state in ("active", "pending"):
            key.state = "retired"
            retired.append(key.secret_ref)
            host = dkim_host(key.selector, domain.name)
            for record in [r for r in domain.records if r.kind == "dkim" and r.host == host]:
                domain.records.remove(record)
    new.state = "active"
    domain.dkim_selector = new.selector
    audit.record(session, "dkim.rotated", domain.name, selector=new.selector)
    return retired
