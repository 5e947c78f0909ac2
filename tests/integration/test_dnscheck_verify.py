"""Verify Now against a real DNS server: the whole domain, batches, and "check any domain"."""

from __future__ import annotations

import pytest

from postdesk.core.dkimkeys import generate_dkim_key
from postdesk.core.dnscheck import diagnose_domain, verify_many, verify_records
from postdesk.core.dnscheck.domain import VerifyJob
from postdesk.core.recordgen import build_expected_records
from support.nsd import Nsd, txt

pytestmark = pytest.mark.nsd

KEY = generate_dkim_key(2048, selector="pd1")
MAILER = """
spf IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
bounce IN A 192.0.2.20
track IN A 192.0.2.21
mx IN A 192.0.2.25
"""


def expected(domain: str = "shop.test"):
    return build_expected_records(
        domain,
        ownership_token="tok123",
        spf_include="spf.mailer.test",
        dkim_selector="pd1",
        dkim_public_b64=KEY.public_b64,
        return_path_target="bounce.mailer.test",
        tracking_target="track.mailer.test",
        mx_target="mx.mailer.test",
    )


def good_zone(domain: str = "shop.test") -> str:
    return f"""
_postdesk IN TXT "postdesk-verification=tok123"
@ IN TXT "v=spf1 include:spf.mailer.test ~all"
@ IN MX 10 mx.mailer.test.
pd1._domainkey IN TXT {txt(KEY.txt_value)}
_dmarc IN TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@{domain}"
bounce IN CNAME bounce.mailer.test.
track IN CNAME track.mailer.test.
"""


async def test_a_fully_correct_domain_is_verified(nsd: Nsd) -> None:
    nsd.serve({"shop.test": good_zone(), "mailer.test": MAILER})
    report = await verify_records("shop.test", expected(), spf_include="spf.mailer.test")
    assert report.status == "verified"
    assert {r.kind: r.status for r in report.records} == {
        "ownership": "ok",
        "spf": "ok",
        "dkim": "ok",
        "dmarc": "ok",
        "return_path": "ok",
        "tracking": "ok",
        "mx": "ok",
    }
    assert all(not r.problems for r in report.records)
    data = report.as_dict()
    assert set(data) >= {"domain", "status", "checked_at", "records"}
    first = data["records"][0]  # type: ignore[index]
    assert set(first) == {
        "kind",
        "type",
        "host",
        "expected",
        "found",
        "status",
        "required",
        "problems",
    }
    assert report.checked_at.tzinfo is not None


async def test_missing_dkim_means_failing_but_optional_records_do_not(nsd: Nsd) -> None:
    zone = good_zone().replace("pd1._domainkey", "old._domainkey").replace("track IN", "trk IN")
    nsd.serve({"shop.test": zone, "mailer.test": MAILER})
    report = await verify_records("shop.test", expected(), spf_include="spf.mailer.test")
    assert report.status == "failing"
    dkim = report.record("dkim")
    assert dkim is not None and dkim.status == "missing"
    assert [p.code for p in dkim.problems] == ["dkim.missing"]
    tracking = report.record("tracking")
    assert tracking is not None and tracking.status == "missing" and not tracking.required


async def test_policy_none_is_a_warning_and_the_domain_stays_verified(nsd: Nsd) -> None:
    zone = good_zone().replace("p=quarantine", "p=none")
    nsd.serve({"shop.test": zone, "mailer.test": MAILER})
    report = await verify_records("shop.test", expected(), spf_include="spf.mailer.test")
    dmarc = report.record("dmarc")
    assert dmarc is not None and dmarc.status == "ok"
    assert [(p.code, p.severity) for p in dmarc.problems] == [("dmarc.policy_none", "warning")]
    assert report.status == "verified"


async def test_many_domains_come_back_in_order(nsd: Nsd) -> None:
    zones = {f"d{i}.test": good_zone(f"d{i}.test") for i in range(30)}
    zones["d7.test"] = '@ IN TXT "unrelated"'
    nsd.serve({**zones, "mailer.test": MAILER})
    jobs = [VerifyJob(name, expected(name), "spf.mailer.test") for name in zones]
    reports = await verify_many(jobs, concurrency=5)
    assert [r.domain for r in reports] == list(zones)
    assert [r.status for r in reports].count("failing") == 1
    assert reports[7].status == "failing"


async def test_diagnose_any_domain_checks_spf_dmarc_mx_and_selectors(nsd: Nsd) -> None:
    nsd.serve({"shop.test": good_zone(), "mailer.test": MAILER})
    report = await diagnose_domain("Shop.Test.", ["pd1", "nosuch"])
    kinds = [(r.kind, r.host, r.status) for r in report.records]
    assert ("dkim", "pd1._domainkey.shop.test", "ok") in kinds
    assert ("dkim", "nosuch._domainkey.shop.test", "missing") in kinds
    assert ("spf", "shop.test", "ok") in kinds
    assert ("mx", "shop.test", "ok") in kinds
    assert report.status == "failing"  # the unknown selector has no key


async def test_diagnose_reports_a_domain_without_mx(nsd: Nsd) -> None:
    nsd.serve({"bare.test": '@ IN TXT "v=spf1 -all"\n_dmarc IN TXT "v=DMARC1; p=reject"'})
    report = await diagnose_domain("bare.test", [])
    mx = report.record("mx")
    assert mx is not None and mx.status == "missing"
    assert [(p.code, p.severity) for p in mx.problems] == [("mx.missing", "warning")]
    assert report.status == "ok"
