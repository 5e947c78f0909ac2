"""Dedicated IPs: the addresses a user sends from, with reverse-DNS, SPF and blocklist checks."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from sqlalchemy import select

from postdesk.core import audit, settings
from postdesk.core.errors import UserError
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, DedicatedIp, utcnow
from postdesk.core.validation import check_field, check_length, quote_input
from postdesk.core.views import IpView

if TYPE_CHECKING:
    from postdesk.core.dnscheck.ip import IpReport

MAX_LABEL_LENGTH = 100


def normalize_ip(text: str) -> str:
    """Check a typed IP address; returns its canonical form."""
    value = check_field("The IP address", text).strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    if "%" in value:
        # fe80::1%eth0 names a network card of this computer; receivers never see that.
        raise UserError(
            "ip.zone_id",
            f"{quote_input(value)} names a network interface (after “%”); a sending IP has none.",
            "Type the public address alone, e.g. 2001:db8::25.",
        )
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise UserError(
            "ip.invalid",
            f"{quote_input(value)} is not an IP address.",
            "Type an IPv4 address such as 203.0.113.25, or an IPv6 address such as 2001:db8::25.",
        ) from None
    if (
        address.is_loopback
        or address.is_unspecified
        or address.is_multicast
        or address.is_link_local
    ):
        raise UserError(
            "ip.not_public",
            f"{address} is a local address; mail is sent from a public one.",
            "Type the public address your provider gave you for sending.",
        )
    return str(address)


def add_ip(store: Store, text: str, label: str = "") -> IpView:
    """Remember a dedicated sending IP."""
    address = normalize_ip(text)
    check_length("The label", check_field("The label", label).strip(), MAX_LABEL_LENGTH)
    with store.session() as s:
        if s.scalars(select(DedicatedIp).where(DedicatedIp.address == address)).first():
            raise UserError("ip.exists", f"{address} is already in the list.", "")
        row = DedicatedIp(address=address, label=label.strip())
        s.add(row)
        audit.record(s, "ip.added", address)
        s.flush()
        return IpView.from_row(row)


def list_ips(store: Store) -> list[IpView]:
    """All dedicated IPs, in the order they were added."""
    with store.session() as s:
        return [IpView.from_row(r) for r in s.scalars(select(DedicatedIp).order_by(DedicatedIp.id))]


def _get(session, address: str) -> DedicatedIp:  # type: ignore[no-untyped-def]
    row = session.scalars(select(DedicatedIp).where(DedicatedIp.address == address)).first()
    if row is None:
        raise UserError(
            "ip.not_found",
            f"{address} is not one of your dedicated IPs.",
            "Add it first with 'postdesk ip add'.",
        )
    return row


def remove_ip(store: Store, text: str) -> None:
    """Forget a dedicated IP."""
    address = normalize_ip(text)
    with store.session() as s:
        s.delete(_get(s, address))
        audit.record(s, "ip.removed", address)


async def check_dedicated_ip(store: Store, text: str, *, resolver: object = None) -> IpReport:
    """Check reverse DNS, every dedicated domain's SPF and the blocklists; store the result."""
    from postdesk.core.dnscheck import check_ip

    address = normalize_ip(text)
    with store.session() as s:
        _get(s, address)
        domains = list(s.scalars(select(DedicatedDomain.name).order_by(DedicatedDomain.name)))
        blocklists = list(settings.get(s, "blocklists"))
    report = await check_ip(address, domains_spf=domains, blocklists=blocklists, resolver=resolver)
    with store.session() as s:
        row = _get(s, address)
        row.last_checked_at, row.last_status = utcnow(), report.status
        row.last_report = report.as_dict()
    return report
