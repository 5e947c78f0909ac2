"""Turning reception on or off for a dedicated domain, and the MX record that goes with it.

While a domain receives mail its MX record is required, so Verify Now checks it like SPF and
DKIM (a domain whose mail goes nowhere is not ready); turned off, the record stays listed as
optional, as for every domain.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from sqlalchemy.orm import selectinload

from postdesk.core import audit, events, recordgen, settings
from postdesk.core.domains import get_domain
from postdesk.core.errors import UserError
from postdesk.core.records import ExpectedRecord
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, DomainRecord, utcnow


@dataclass(frozen=True)
class ReceptionView:
    """A domain's reception after a change: on or off, and the MX record it asks for."""

    domain: str
    reception: bool
    mx: ExpectedRecord | None

    def as_dict(self) -> dict[str, object]:
        return {
            "domain": self.domain,
            "reception": self.reception,
            "mx": self.mx.as_dict() if self.mx else None,
        }


def mx_target(store: Store) -> str | None:
    """Where the MX should point: the ``mx_target`` setting, else a public ``relay_host``."""
    with store.session() as s:
        target = settings.get(s, "mx_target") or settings.get(s, "relay_host")
    if not target or _local(str(target)):
        return None
    return str(target)


def _local(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True  # an MX names a host, never an address (RFC 5321 section 5.1)


def not_receiving(store: Store, name: str | None = None) -> str | None:
    """Why no mail can arrive: the domain's name when ``name`` does not receive, "" when no
    domain receives at all (``name`` None), None when mail can arrive."""
    with store.session() as s:
        if name is not None:
            chosen = get_domain(s, name)
            return None if chosen.reception else chosen.name
        receiving = s.query(DedicatedDomain.id).filter_by(reception=True).first()
        return None if receiving is not None else ""


def set_reception(store: Store, name: str, on: bool) -> ReceptionView:
    """Receive the domain's mail into Conversations (``on``) or stop; makes the MX record
    required (or optional again) and asks for a check soon."""
    target = mx_target(store)
    with store.session() as s:
        domain = get_domain(s, name, selectinload(DedicatedDomain.records))
        row = next((r for r in domain.records if r.kind == "mx"), None)
        if on and target is None and row is None:
            raise UserError(
                "reception.no_mx_target",
                "Postdesk does not know the host name senders should deliver this domain's "
                "mail to, so it cannot say which MX record to publish.",
                "Set it to the public name of the machine running 'postdesk relay --inbound', "
                "e.g. postdesk settings mx_target mx.example.net, then try again.",
            )
        if on and target is not None:
            wanted = recordgen.mx_record(domain.name, target, required=True)
            if row is None:
                row = DomainRecord(
                    position=max((r.position for r in domain.records), default=-1) + 1,
                    kind="mx",
                    type="MX",
                    host=wanted.host,
                    value=wanted.value,
                )
                domain.records.append(row)
            elif row.value != wanted.value:
                row.value, row.status = wanted.value, "pending"
        if row is not None:
            row.required = on
        if on:
            _reports_come_back(domain)
        changed = bool(domain.reception) != on
        domain.reception = on
        if changed:
            domain.next_check_at = utcnow()  # the records to check changed
            audit.record(s, "domain.reception", domain.name, on=on)
        mx = (
            ExpectedRecord(row.kind, row.type, row.host, row.value, row.required)  # type: ignore[arg-type]
            if row is not None
            else None
        )
        view = ReceptionView(domain.name, on, mx)
    events.publish(events.Change.DOMAINS, view.domain)
    return view


def _reports_come_back(domain: DedicatedDomain) -> None:
    """Point the DMARC record's aggregate reports at the domain itself, so receivers' reports
    arrive in Conversations and feed "Who sends as this domain"."""
    dmarc = next((r for r in domain.records if r.kind == "dmarc"), None)
    if dmarc is None:
        return
    wanted = recordgen.dmarc_reporting_to(dmarc.value, recordgen.dmarc_report_mailbox(domain.name))
    if wanted != dmarc.value:
        dmarc.value, dmarc.status = wanted, "pending"
