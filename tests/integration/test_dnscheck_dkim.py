"""DKIM checks against a real DNS server, with real RSA keys."""

from __future__ import annotations

import pytest

from postdesk.core.dkimkeys import dkim_txt_value, generate_dkim_key
from postdesk.core.dnscheck.dkim import check_dkim
from postdesk.core.dnscheck.resolver import make_client
from postdesk.core.records import ExpectedRecord, RecordResult
from support.nsd import Nsd, txt

pytestmark = pytest.mark.nsd

OURS = generate_dkim_key(2048, selector="pd1")
OTHER = generate_dkim_key(2048, selector="pd1")
SMALL = generate_dkim_key(1024, selector="pd1")
HOST = "pd1._domainkey.shop.test"


async def dkim_of(
    nsd: Nsd,
    records: str,
    expected_value: str | None = OURS.txt_value,
    extra: dict[str, str] | None = None,
) -> RecordResult:
    nsd.serve({"shop.test": records, **(extra or {})})
    expected = ExpectedRecord("dkim", "TXT", HOST, expected_value) if expected_value else None
    return await check_dkim(make_client(), HOST, domain="shop.test", expected=expected)


def codes(result: RecordResult) -> list[str]:
    return [p.code for p in result.problems]


async def test_our_key_with_other_tag_order_and_split_strings_is_ok(nsd: Nsd) -> None:
    value = f"k=rsa; p={OURS.public_b64}; v=DKIM1"  # tag order does not matter
    result = await dkim_of(nsd, f"pd1._domainkey IN TXT {txt(value)}")
    assert (result.status, result.problems) == ("ok", [])


async def test_no_record_is_missing(nsd: Nsd) -> None:
    result = await dkim_of(nsd, '@ IN TXT "v=spf1 -all"')
    assert (result.status, codes(result)) == ("missing", ["dkim.missing"])


async def test_zone_name_appended_by_the_dns_panel(nsd: Nsd) -> None:
    result = await dkim_of(nsd, f"pd1._domainkey.shop.test IN TXT {txt(OURS.txt_value)}")
    assert (result.status, codes(result)) == ("missing", ["dkim.zone_appended"])
    problem = result.problems[0]
    assert "pd1._domainkey.shop.test.shop.test" in problem.message
    assert "pd1._domainkey" in problem.fix


async def test_another_key_says_where_it_differs(nsd: Nsd) -> None:
    result = await dkim_of(nsd, f"pd1._domainkey IN TXT {txt(OTHER.txt_value)}")
    assert (result.status, codes(result)) == ("mismatch", ["dkim.mismatch"])
    assert "first differ at character" in result.problems[0].message


async def test_a_key_of_another_size_says_so_and_is_weak(nsd: Nsd) -> None:
    result = await dkim_of(nsd, f"pd1._domainkey IN TXT {txt(SMALL.txt_value)}")
    assert result.status == "mismatch"
    assert codes(result) == ["dkim.mismatch", "dkim.weak_key"]
    assert "1024-bit" in result.problems[0].message
    assert "2048-bit" in result.problems[0].message


async def test_weak_key_alone_is_a_warning(nsd: Nsd) -> None:
    result = await dkim_of(nsd, f"pd1._domainkey IN TXT {txt(SMALL.txt_value)}", None)
    assert (result.status, codes(result)) == ("ok", ["dkim.weak_key"])
    assert "1024 bits" in result.problems[0].message


async def test_truncated_key(nsd: Nsd) -> None:
    cut = dkim_txt_value(OURS.public_b64[:255])
    result = await dkim_of(nsd, f"pd1._domainkey IN TXT {txt(cut)}")
    assert (result.status, codes(result)) == ("mismatch", ["dkim.malformed"])
    assert "cut off after 255 of" in result.problems[0].message


async def test_quotes_pasted_inside_the_key(nsd: Nsd) -> None:
    half = len(OURS.public_b64) // 2
    pasted = f'v=DKIM1; k=rsa; p={OURS.public_b64[:half]}" "{OURS.public_b64[half:]}'
    result = await dkim_of(nsd, f"pd1._domainkey IN TXT {txt(pasted)}")
    assert result.status == "mismatch"
    assert codes(result) == ["dkim.malformed"]
    assert "quote marks" in result.problems[0].message


async def test_spaces_inside_the_key_are_a_warning(nsd: Nsd) -> None:
    spaced = f"v=DKIM1; k=rsa; p={OURS.public_b64[:100]} {OURS.public_b64[100:]}"
    result = await dkim_of(nsd, f"pd1._domainkey IN TXT {txt(spaced)}")
    assert result.status == "ok"
    assert [(p.code, p.severity) for p in result.problems] == [("dkim.malformed", "warning")]


async def test_garbage_key_is_malformed(nsd: Nsd) -> None:
    result = await dkim_of(nsd, 'pd1._domainkey IN TXT "v=DKIM1; k=rsa; p=bm90IGEga2V5"', None)
    assert (result.status, codes(result)) == ("mismatch", ["dkim.malformed"])


async def test_testing_flag(nsd: Nsd) -> None:
    value = OURS.txt_value.replace("k=rsa;", "k=rsa; t=y;")
    result = await dkim_of(nsd, f"pd1._domainkey IN TXT {txt(value)}")
    assert (result.status, codes(result)) == ("ok", ["dkim.testing"])


async def test_two_records_at_the_selector(nsd: Nsd) -> None:
    records = f"pd1._domainkey IN TXT {txt(OURS.txt_value)}\n"
    records += f"pd1._domainkey IN TXT {txt(OTHER.txt_value)}\n"
    result = await dkim_of(nsd, records)
    assert (result.status, codes(result)) == ("conflict", ["dkim.multiple"])
    assert len(result.found) == 2


async def test_cname_delegation_to_the_service_is_followed(nsd: Nsd) -> None:
    result = await dkim_of(
        nsd,
        "pd1._domainkey IN CNAME pd1.dkim.mailer.test.",
        extra={"mailer.test": f"pd1.dkim IN TXT {txt(OURS.txt_value)}"},
    )
    assert (result.status, result.problems) == ("ok", [])


async def test_cname_to_a_target_on_another_server_is_followed(nsd: Nsd, nsd_factory) -> None:
    # The first server knows only the CNAME; the target lives on a second server that the
    # client asks too (as a recursive resolver would).
    other = nsd_factory.new().serve({"mailer.test": f"pd1.dkim IN TXT {txt(OURS.txt_value)}"})
    nsd.serve({"shop.test": "pd1._domainkey IN CNAME pd1.dkim.mailer.test."})
    client = make_client(nsd.servers + other.servers)
    expected = ExpectedRecord("dkim", "TXT", HOST, OURS.txt_value)
    result = await check_dkim(client, HOST, domain="shop.test", expected=expected)
    assert (result.status, result.problems) == ("ok", [])
