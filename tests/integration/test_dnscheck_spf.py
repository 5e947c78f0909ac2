"""SPF checks against a real DNS server."""

from __future__ import annotations

import pytest

from postdesk.core.dnscheck.resolver import make_client
from postdesk.core.dnscheck.spf import check_spf, count_spf_lookups
from postdesk.core.records import RecordResult
from support.nsd import Nsd

pytestmark = pytest.mark.nsd

SERVICE = """
spf IN TXT "v=spf1 include:_a.mailer.test include:_b.mailer.test -all"
_a IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
_b IN TXT "v=spf1 ip4:198.51.100.0/24 -all"
"""


async def spf_of(
    nsd: Nsd,
    records: str,
    *,
    include: str | None = "spf.mailer.test",
    extra: dict[str, str] | None = None,
) -> RecordResult:
    nsd.serve({"shop.test": records, "mailer.test": SERVICE, **(extra or {})})
    return await check_spf(make_client(), "shop.test", include=include)


def codes(result: RecordResult) -> list[str]:
    return [p.code for p in result.problems]


async def test_a_good_record_passes(nsd: Nsd) -> None:
    result = await spf_of(nsd, '@ IN TXT "v=spf1 include:spf.mailer.test ~all"')
    assert (result.status, result.problems) == ("ok", [])
    assert result.found == ["v=spf1 include:spf.mailer.test ~all"]


async def test_no_record_is_missing(nsd: Nsd) -> None:
    result = await spf_of(nsd, '@ IN TXT "google-site-verification=abc"')
    assert result.status == "missing"
    assert codes(result) == ["spf.missing"]


async def test_two_records_conflict(nsd: Nsd) -> None:
    result = await spf_of(
        nsd, '@ IN TXT "v=spf1 include:spf.mailer.test ~all"\n@ IN TXT "v=spf1 mx -all"'
    )
    assert result.status == "conflict"
    assert codes(result) == ["spf.multiple"]
    assert "2 SPF records" in result.problems[0].message


async def test_the_service_include_must_be_there(nsd: Nsd) -> None:
    result = await spf_of(nsd, '@ IN TXT "v=spf1 ip4:192.0.2.1 ~all"')
    assert result.status == "mismatch"
    assert codes(result) == ["spf.include_missing"]
    assert "include:spf.mailer.test" in result.problems[0].fix


async def test_more_than_ten_lookups_shows_the_count(nsd: Nsd) -> None:
    chain = "\n".join(
        f'l{i} IN TXT "v=spf1 a mx include:l{i + 1}.shop.test -all"' for i in range(4)
    )
    chain += '\nl4 IN TXT "v=spf1 ip4:192.0.2.1 -all"\n@ IN A 192.0.2.1\n@ IN MX 10 mail\n'
    chain += "mail IN A 192.0.2.2\n"
    for i in range(5):
        chain += f"l{i} IN A 192.0.2.1\nl{i} IN MX 10 mail.shop.test.\n"
    record = '@ IN TXT "v=spf1 include:spf.mailer.test include:l0.shop.test ~all"\n'
    result = await spf_of(nsd, record + chain)
    # spf.mailer.test (1 + 2), l0..l3 each a + mx + include (4 × 3), l0 itself (1) = 16
    assert result.status == "mismatch"
    assert codes(result) == ["spf.too_many_lookups"]
    assert "16 DNS lookups" in result.problems[0].message
    assert await count_spf_lookups("shop.test") == 16


async def test_more_than_two_void_lookups(nsd: Nsd) -> None:
    record = (
        '@ IN TXT "v=spf1 include:spf.mailer.test a:gone1.shop.test mx:gone2.shop.test '
        'include:gone3.shop.test ~all"'
    )
    result = await spf_of(nsd, record)
    assert "spf.void_lookups" in codes(result)
    void = next(p for p in result.problems if p.code == "spf.void_lookups")
    assert "3 names" in void.message and "gone2.shop.test" in void.message


async def test_syntax_errors_are_named(nsd: Nsd) -> None:
    result = await spf_of(nsd, '@ IN TXT "v=spf1 include:spf.mailer.test ip4:10.0.0.256 ~all"')
    assert result.status == "mismatch"
    assert codes(result) == ["spf.syntax"]
    assert "ip4:10.0.0.256" in result.problems[0].message


@pytest.mark.parametrize(
    ("ending", "severity"), [("+all", "error"), ("?all", "warning"), ("", "warning")]
)
async def test_permissive_endings(nsd: Nsd, ending: str, severity: str) -> None:
    result = await spf_of(nsd, f'@ IN TXT "v=spf1 include:spf.mailer.test {ending}"')
    assert codes(result) == ["spf.permissive_all"]
    assert result.problems[0].severity == severity
    assert result.status == ("mismatch" if severity == "error" else "ok")


async def test_ptr_is_discouraged(nsd: Nsd) -> None:
    result = await spf_of(nsd, '@ IN TXT "v=spf1 include:spf.mailer.test ptr ~all"')
    assert codes(result) == ["spf.ptr"]
    assert result.problems[0].severity == "warning"


async def test_include_loops_are_caught(nsd: Nsd) -> None:
    record = '@ IN TXT "v=spf1 include:spf.mailer.test include:_x.shop.test ~all"\n'
    record += '_x IN TXT "v=spf1 include:shop.test -all"\n'
    result = await spf_of(nsd, record)
    assert result.status == "mismatch"
    assert "spf.include_loop" in codes(result)
    loop = next(p for p in result.problems if p.code == "spf.include_loop")
    assert "shop.test → _x.shop.test → shop.test" in loop.message


async def test_redirect_to_a_service_record_is_followed(nsd: Nsd) -> None:
    result = await spf_of(nsd, '@ IN TXT "v=spf1 redirect=spf.mailer.test"')
    assert (result.status, codes(result)) == ("ok", [])
    assert await count_spf_lookups("shop.test") == 3
