"""DMARC checks against a real DNS server."""

from __future__ import annotations

import pytest

from postdesk.core.dnscheck.dmarc import check_dmarc
from postdesk.core.dnscheck.resolver import make_client
from postdesk.core.records import RecordResult
from support.nsd import Nsd

pytestmark = pytest.mark.nsd


async def dmarc_of(nsd: Nsd, records: str, extra: dict[str, str] | None = None) -> RecordResult:
    nsd.serve({"shop.test": records, **(extra or {})})
    return await check_dmarc(make_client(), "shop.test")


def codes(result: RecordResult) -> list[str]:
    return [p.code for p in result.problems]


async def test_a_strict_policy_passes(nsd: Nsd) -> None:
    result = await dmarc_of(nsd, '_dmarc IN TXT "v=DMARC1; p=reject; rua=mailto:d@shop.test;"')
    assert (result.status, result.problems) == ("ok", [])


async def test_no_record(nsd: Nsd) -> None:
    result = await dmarc_of(nsd, '@ IN TXT "v=spf1 -all"')
    assert (result.status, codes(result)) == ("missing", ["dmarc.missing"])
    assert "_dmarc.shop.test" in result.problems[0].fix


async def test_two_records(nsd: Nsd) -> None:
    result = await dmarc_of(
        nsd, '_dmarc IN TXT "v=DMARC1; p=none"\n_dmarc IN TXT "v=DMARC1; p=reject"'
    )
    assert (result.status, codes(result)) == ("conflict", ["dmarc.multiple"])


@pytest.mark.parametrize(
    ("record", "detail"),
    [
        ("v=DMARC1; p=block", "p=block is not an allowed value"),
        ("v=DMARC1; p=none; p=reject", "p= appears more than once"),
        ("p=none; v=DMARC1", "must start with v=DMARC1"),
        ("v=DMARC1; rua=mailto:d@shop.test", "p= is missing"),
        ("v=DMARC1; p=none; pct=150", "pct=150"),
        ("v=DMARC1; p=none; rua=d@shop.test", "rua=d@shop.test"),
    ],
)
async def test_invalid_records_say_why(nsd: Nsd, record: str, detail: str) -> None:
    result = await dmarc_of(nsd, f'_dmarc IN TXT "{record}"')
    assert (result.status, codes(result)) == ("mismatch", ["dmarc.invalid"])
    assert detail in result.problems[0].message


async def test_policy_none_is_only_a_warning(nsd: Nsd) -> None:
    result = await dmarc_of(nsd, '_dmarc IN TXT "v=DMARC1; p=none"')
    assert result.status == "ok"
    assert [(p.code, p.severity) for p in result.problems] == [("dmarc.policy_none", "warning")]


async def test_reports_to_another_domain_need_its_consent(nsd: Nsd) -> None:
    record = '_dmarc IN TXT "v=DMARC1; p=reject; rua=mailto:r@reports.test,mailto:x@agreed.test"'
    result = await dmarc_of(
        nsd,
        record,
        extra={
            "reports.test": '@ IN TXT "nothing here"',
            "agreed.test": 'shop.test._report._dmarc IN TXT "v=DMARC1"',
        },
    )
    assert result.status == "ok"
    assert codes(result) == ["dmarc.rua_unauthorized"]
    problem = result.problems[0]
    assert "r@reports.test" in problem.message
    assert "shop.test._report._dmarc.reports.test" in problem.fix


async def test_reports_to_a_subdomain_of_the_same_organisation_are_fine(nsd: Nsd) -> None:
    result = await dmarc_of(nsd, '_dmarc IN TXT "v=DMARC1; p=reject; rua=mailto:r@mx.shop.test"')
    assert (result.status, result.problems) == ("ok", [])
