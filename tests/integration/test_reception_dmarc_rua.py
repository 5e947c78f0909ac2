"""Turning reception on points the domain's DMARC reports at the domain itself: they then arrive
in Conversations and feed "Who sends as this domain" without the owner doing anything else."""

from __future__ import annotations

from postdesk.core import domains, settings
from postdesk.core.inbound.reception import set_reception
from postdesk.core.store.models import DedicatedDomain, DomainRecord, utcnow

OWNERS_POLICY = "v=DMARC1; p=quarantine; rua=mailto:dmarc@vendor.example"


def test_reception_adds_the_domain_to_the_report_addresses(store) -> None:
    with store.session() as s:
        s.add(
            DedicatedDomain(
                name="shop.test",
                ownership_token="t",
                status="verified",
                verified_at=utcnow(),
                records=[
                    DomainRecord(
                        position=0,
                        kind="dmarc",
                        type="TXT",
                        host="_dmarc.shop.test",
                        value=OWNERS_POLICY,
                        status="ok",
                    )
                ],
            )
        )
        settings.change(s, "mx_target", "mx.relay.test")

    set_reception(store, "shop.test", True)
    _, expected = domains.expected_records(store, "shop.test")
    (dmarc,) = [r for r in expected if r.kind == "dmarc"]
    assert dmarc.value == (
        "v=DMARC1; p=quarantine; rua=mailto:dmarc@vendor.example,mailto:dmarc-reports@shop.test"
    )
    # Turning it off and on again adds nothing twice.
    set_reception(store, "shop.test", False)
    set_reception(store, "shop.test", True)
    _, again = domains.expected_records(store, "shop.test")
    assert [r.value for r in again if r.kind == "dmarc"] == [dmarc.value]
