"""Verify Now judges the SPF published at the apex even when no SPF record is expected.

A service without an SPF include gets no SPF record proposed; what the domain publishes anyway
(two records, a broken one, too many lookups, +all) still breaks mail at every receiver, so it
must fail verification exactly as ``check`` reports it. DNS that does not answer says nothing.
"""

from __future__ import annotations

import pytest

from postdesk.core.dkimkeys import generate_dkim_key
from postdesk.core.dnscheck import diagnose_domain, verify_records
from postdesk.core.dnscheck.resolver import make_client
from postdesk.core.recordgen import build_expected_records
from postdesk.core.records import RecordResult
from support.nsd import Nsd, txt

pytestmark = pytest.mark.nsd

KEY = generate_dkim_key(2048, selector="pd1")
BASE = f"""
_postdesk IN TXT "postdesk-verification=tok123"
pd1._domainkey IN TXT {txt(KEY.txt_value)}
_dmarc IN TXT "v=DMARC1; p=quarantine"
"""
MANY_INCLUDES = " ".join(f"include:s{i}.mailer.test" for i in range(11))
SERVICE = "\n".join(f's{i} IN TXT "v=spf1 ip4:192.0.2.{i} -all"' for i in range(11))


def expected_without_spf():
    """What Postdesk asks a domain to publish when its service names no SPF include."""
    records = build_expected_records(
        "shop.test",
        ownership_token="tok123",
        spf_include=None,
        dkim_selector="pd1",
        dkim_public_b64=KEY.public_b64,
    )
    assert "spf" not in [r.kind for r in records]
    return records


def spf_result(report) -> RecordResult:  # type: ignore[no-untyped-def]
    return next(r for r in report.records if r.kind == "spf")


def codes(result: RecordResult) -> list[str]:
    return [p.code for p in result.problems]


@pytest.mark.parametrize(
    ("apex", "code"),
    [
        (["v=spf1 ip4:192.0.2.1 ~all", "v=spf1 a -all"], "spf.multiple"),
        (["v=spf1 ip4:192.0.2.999 ~all"], "spf.syntax"),
        (["v=spf1 +all"], "spf.permissive_all"),
        ([f"v=spf1 {MANY_INCLUDES} ~all"], "spf.too_many_lookups"),
        (
            ["v=spf1 a:gone1.mailer.test a:gone2.mailer.test a:gone3.mailer.test ~all"],
            "spf.void_lookups",
        ),
    ],
)
async def test_a_broken_apex_spf_fails_verification_without_an_include(
    nsd: Nsd, apex: list[str], code: str
) -> None:
    published = "".join(f"@ IN TXT {txt(value)}\n" for value in apex)
    nsd.serve({"shop.test": BASE + published, "mailer.test": SERVICE})
    report = await verify_records("shop.test", expected_without_spf(), spf_include=None)
    assert report.status == "failing"
    assert code in codes(spf_result(report))
    # `check` judges the same record the same way
    diagnosis = await diagnose_domain("shop.test")
    assert code in codes(spf_result(diagnosis))
    assert diagnosis.status == "failing"


async def test_question_mark_all_is_a_warning_and_the_domain_stays_verified(nsd: Nsd) -> None:
    nsd.serve({"shop.test": BASE + '@ IN TXT "v=spf1 ip4:192.0.2.1 ?all"'})
    report = await verify_records("shop.test", expected_without_spf(), spf_include=None)
    assert report.status == "verified"
    spf = spf_result(report)
    assert (spf.status, codes(spf)) == ("ok", ["spf.permissive_all"])
    assert spf.problems[0].severity == "warning"


async def test_no_spf_record_is_fine_while_none_is_needed(nsd: Nsd) -> None:
    nsd.serve({"shop.test": BASE})
    report = await verify_records("shop.test", expected_without_spf(), spf_include=None)
    assert report.status == "verified"
    spf = spf_result(report)
    assert (spf.status, codes(spf), spf.required) == ("ok", ["spf.none"], False)
    assert spf.problems[0].severity == "info"


async def test_an_unknown_service_include_is_a_warning_with_the_command_to_fix_it(
    nsd: Nsd,
) -> None:
    nsd.serve({"shop.test": BASE + '@ IN TXT "v=spf1 ip4:192.0.2.1 ~all"'})
    report = await verify_records(
        "shop.test", expected_without_spf(), spf_include=None, service="Shop Mailer"
    )
    assert report.status == "verified"  # a warning, not a failure
    spf = spf_result(report)
    unknown = next(p for p in spf.problems if p.code == "spf.include_unknown")
    assert unknown.severity == "warning"
    assert "Shop Mailer" in unknown.message
    assert "postdesk service edit 'Shop Mailer' --spf-include" in unknown.fix


async def test_dns_that_does_not_answer_concludes_nothing(silent_dns: str) -> None:
    client = make_client(silent_dns, lifetime=0.5)
    report = await verify_records(
        "shop.test", expected_without_spf(), spf_include=None, resolver=client
    )
    classic = [r for r in report.records if r.kind in ("ownership", "spf", "dkim", "dmarc")]
    assert len(classic) == 4 and {r.status for r in classic} == {"error"}
    assert report.status == "error" and not report.checked
    assert all(
        not c.startswith(("spf.missing", "dkim.missing")) for r in report.records for c in codes(r)
    )
