"""What a domain's SPF record becomes with another service, worked out before anything changes."""

from __future__ import annotations

from postdesk.core import domains
from postdesk.core.servicechange import preview_service_change, spf_after_change
from postdesk.core.store.models import DedicatedDomain, DomainRecord, SmtpService


def test_the_old_include_gives_way_to_the_new_one_and_other_terms_stay() -> None:
    spf = "v=spf1 ip4:198.51.100.7 include:sendgrid.net ~all"
    after = spf_after_change(spf, "sendgrid.net", "mailgun.org")
    assert "include:mailgun.org" in after and "sendgrid.net" not in after
    assert "ip4:198.51.100.7" in after and after.endswith("~all")


def test_a_service_without_an_include_leaves_the_record_alone() -> None:
    spf = "v=spf1 include:sendgrid.net ~all"
    assert spf_after_change(spf, "sendgrid.net", None) == spf


def test_the_preview_writes_nothing(store) -> None:  # type: ignore[no-untyped-def]
    with store.session() as s:
        sendgrid = SmtpService(
            name="SendGrid",
            host="smtp.sendgrid.net",
            port=587,
            security="starttls",
            spf_include="sendgrid.net",
        )
        mailgun = SmtpService(
            name="Mailgun",
            host="smtp.mailgun.org",
            port=587,
            security="starttls",
            spf_include="mailgun.org",
        )
        s.add_all([sendgrid, mailgun])
        s.flush()
        domain = DedicatedDomain(name="shop.example", ownership_token="t", service_id=sendgrid.id)
        s.add(domain)
        s.flush()
        s.add(
            DomainRecord(
                domain_id=domain.id,
                kind="spf",
                type="TXT",
                host="shop.example",
                value="v=spf1 include:sendgrid.net ~all",
            )
        )
    change = preview_service_change(store, "shop.example", "Mailgun")
    assert change.spf_changes
    assert change.spf_now == "v=spf1 include:sendgrid.net ~all"
    assert change.spf_after is not None and "include:mailgun.org" in change.spf_after
    _, records = domains.expected_records(store, "shop.example")
    assert [r.value for r in records if r.kind == "spf"] == ["v=spf1 include:sendgrid.net ~all"]
