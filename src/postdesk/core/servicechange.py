"""Sending a domain through another service: what its SPF record becomes, before anything changes.

The window asks the user to confirm a change of service with the SPF value to publish in front
of them; this module works that value out without writing anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from postdesk.core import recordgen
from postdesk.core.domains import get_domain
from postdesk.core.services import service_named
from postdesk.core.store import Store
from postdesk.core.store.models import DomainRecord, SmtpService


@dataclass(frozen=True)
class ServiceChange:
    """The domain's SPF value now and after it sends through ``service`` (None: no SPF record)."""

    domain: str
    service: str
    spf_now: str | None
    spf_after: str | None

    @property
    def spf_changes(self) -> bool:
        return self.spf_now != self.spf_after


def spf_after_change(spf: str, old_include: str | None, new_include: str | None) -> str:
    """``spf`` once the domain's service with ``old_include`` gives way to one with ``new_include``.

    A service without an SPF include leaves the record as it is (nothing is known to add).
    """
    if not new_include:
        return spf
    old = f"include:{old_include}" if old_include else None
    terms = [t for t in spf.split()[1:] if old is None or t.lower().lstrip("+") != old]
    return recordgen.merge_spf(" ".join(["v=spf1", *terms]), [new_include])


def preview_service_change(store: Store, domain_name: str, service_name: str) -> ServiceChange:
    """What changes when ``domain_name`` sends through ``service_name``; nothing is written."""
    with store.session() as s:
        domain = get_domain(s, domain_name)
        new = service_named(s, service_name)
        old_include = None
        if domain.service_id is not None:
            old_include = s.scalar(
                select(SmtpService.spf_include).where(SmtpService.id == domain.service_id)
            )
        spf = s.scalar(
            select(DomainRecord.value).where(
                DomainRecord.domain_id == domain.id, DomainRecord.kind == "spf"
            )
        )
        after = spf_after_change(spf, old_include, new.spf_include) if spf is not None else None
        return ServiceChange(domain.name, new.name, spf, after)
