"""Domain Settings: which service a domain sends through, its reply-to, and its DKIM keys.

A new DKIM key starts *pending*: its record is added to the records to publish while the current
key keeps signing. Once Verify Now finds the new record, the new key becomes active and the old one
is retired (its private key leaves the keyring).
"""

from __future__ import annotations

import asyncio

from sqlalchemy.orm import joinedload, selectinload

from postdesk.core import audit, dkimkeys, recordgen, secrets
from postdesk.core.domains import get_domain
from postdesk.core.errors import UserError
from postdesk.core.services import service_named
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, DkimKey, DomainRecord
from postdesk.core.validation import normalize_email
from postdesk.core.views import DkimKeyView


def set_domain_service(store: Store, domain_name: str, service_name: str) -> None:
    """Send a domain through another service; its SPF record to publish changes with it."""
    with store.session() as s:
        domain = get_domain(
            s,
            domain_name,
            joinedload(DedicatedDomain.service),
            selectinload(DedicatedDomain.records),
        )
        service = service_named(s, service_name)
        old_include = domain.service.spf_include if domain.service else None
        domain.service_id = service.id
        spf = next((r for r in domain.records if r.kind == "spf"), None)
        if spf is not None and service.spf_include:
            terms = [
                t
                for t in spf.value.split()[1:]
                if old_include is None or t.lower().lstrip("+") != f"include:{old_include}"
            ]
            spf.value = recordgen.merge_spf(" ".join(["v=spf1", *terms]), [service.spf_include])
            spf.status = "pending"
        audit.record(s, "domain.service", domain.name, service=service.name)


def set_reply_to(store: Store, domain_name: str, address: str | None) -> str | None:
    """The default reply-to address for mail from this domain (None clears it)."""
    value = normalize_email(address) if address and address.strip() else None
    with store.session() as s:
        domain = get_domain(s, domain_name)
        domain.reply_to = value
        audit.record(s, "domain.reply_to", domain.name)
    return value


def dkim_keys(store: Store, domain_name: str) -> list[DkimKeyView]:
    """The domain's DKIM keys, newest first (selector, size, created, state)."""
    with store.session() as s:
        domain = get_domain(s, domain_name, selectinload(DedicatedDomain.dkim_keys))
        keys = sorted(domain.dkim_keys, key=lambda k: k.created_at, reverse=True)
        return [DkimKeyView.from_row(k) for k in keys]


async def generate_new_key(store: Store, domain_name: str) -> DkimKeyView:
    """Start a DKIM key rotation: a new pending key whose record must be published and verified."""
    with store.session() as s:
        domain = get_domain(s, domain_name, selectinload(DedicatedDomain.dkim_keys))
        if any(k.state == "pending" for k in domain.dkim_keys):
            raise UserError(
                "dkim.rotation_pending",
                f"{domain.name} already has a new DKIM key waiting for its DNS record.",
                "Publish that record and press Verify Now; the new key takes over once found.",
            )
        taken = {k.selector for k in domain.dkim_keys}
    key = await asyncio.to_thread(dkimkeys.generate_dkim_key, existing_selectors=taken)
    ref = secrets.new_secret_ref("dkim")
    await asyncio.to_thread(secrets.store_secret, ref, key.private_pem)
    try:
        with store.session() as s:
            domain = get_domain(s, domain_name, selectinload(DedicatedDomain.records))
            row = DkimKey(
                domain_id=domain.id,
                selector=key.selector,
                bits=key.bits,
                public_key=key.public_b64,
                secret_ref=ref,
                state="pending",
            )
            s.add(row)
            position = max((r.position for r in domain.records), default=0) + 1
            s.add(
                DomainRecord(
                    domain_id=domain.id,
                    position=position,
                    kind="dkim",
                    type="TXT",
                    host=f"{key.selector}._domainkey.{domain.name}",
                    value=key.txt_value,
                    required=True,
                )
            )
            audit.record(s, "dkim.new_key", domain.name, selector=key.selector)
            s.flush()
            view = DkimKeyView.from_row(row)
    except BaseException:
        await asyncio.to_thread(secrets.delete_secret, ref)
        raise
    return view
