"""BIMI against NSD and a local HTTPS server: the record, DMARC enforcement and the logo."""

from __future__ import annotations

import pytest

from postdesk.core.dnscheck.bimi import check_bimi, dmarc_enforcement
from postdesk.core.dnscheck.httpsfetch import HttpsOptions
from postdesk.core.dnscheck.resolver import make_client
from postdesk.core.records import RecordResult
from support.nsd import Nsd
from support.webpki import NamedPki

pytestmark = pytest.mark.nsd

LOGO_HOST = "brand.shop.test"
GOOD_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" version="1.2" baseProfile="tiny-ps" '
    b'viewBox="0 0 64 64"><title>Shop</title><rect width="64" height="64" fill="#036"/></svg>'
)
BAD_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
    b'version="1.1" viewBox="0 0 64 32"><script>x()</script>'
    b'<image xlink:href="https://cdn.shop.test/logo.png" width="64" height="32"/></svg>'
)
RECORD = "v=BIMI1; l=https://brand.shop.test/logo.svg"


def zone(record: str = RECORD, dmarc: str = "v=DMARC1; p=reject") -> str:
    return (
        f'default._bimi IN TXT "{record}"\n_dmarc IN TXT "{dmarc}"\n'
        "brand IN A 127.0.0.1\n@ IN MX 10 mx\nmx IN A 127.0.0.1\n"
    )


def codes(result: RecordResult) -> list[str]:
    return [p.code for p in result.problems]


async def bimi_of(
    nsd: Nsd,
    https_site,  # type: ignore[no-untyped-def]
    named_pki: NamedPki,
    records: str,
    logo: bytes | None = GOOD_SVG,
) -> RecordResult:
    nsd.serve({"shop.test": records})
    files = {(LOGO_HOST, "/logo.svg"): (200, "image/svg+xml", logo)} if logo is not None else {}
    port = await https_site(files, cert_names=(LOGO_HOST,))
    https = HttpsOptions(cafile=named_pki.cafile, port=port, timeout=5)
    return await check_bimi(make_client(), "shop.test", https=https)


async def test_a_good_logo_with_dmarc_reject_passes(nsd, https_site, named_pki) -> None:
    result = await bimi_of(nsd, https_site, named_pki, zone())
    assert result.status == "ok"
    assert codes(result) == ["bimi.no_certificate"]  # informational: Gmail wants a VMC
    assert result.found == [RECORD]


async def test_a_bad_logo_names_every_broken_rule(nsd, https_site, named_pki) -> None:
    result = await bimi_of(nsd, https_site, named_pki, zone(), BAD_SVG)
    assert (result.status, codes(result)) == (
        "mismatch",
        ["bimi.no_certificate", "bimi.svg_invalid"],
    )
    message = result.problems[1].message
    for rule in ("tiny-ps", '"1.2"', "<title>", "not square", "<script>", "raster <image>"):
        assert rule in message
    assert "https://cdn.shop.test/logo.png" in message


async def test_an_unreachable_logo_is_named(nsd, https_site, named_pki) -> None:
    result = await bimi_of(nsd, https_site, named_pki, zone(), logo=None)
    assert (result.status, codes(result)[-1]) == ("mismatch", "bimi.logo_unreachable")
    assert "HTTP 404" in result.problems[-1].message


@pytest.mark.parametrize(
    ("dmarc", "shown"),
    [
        ("v=DMARC1; p=none; rua=mailto:d@shop.test", "p=none"),
        ("v=DMARC1; p=quarantine; pct=50", "p=quarantine with pct=50"),
        ("v=DMARC1; p=reject; sp=none", "sp=none"),
    ],
)
async def test_dmarc_must_be_enforced(nsd, https_site, named_pki, dmarc: str, shown: str) -> None:
    result = await bimi_of(nsd, https_site, named_pki, zone(dmarc=dmarc))
    assert result.status == "mismatch"
    assert "bimi.dmarc_not_enforced" in codes(result)
    assert shown in result.problems[0].message


async def test_without_dmarc_there_is_no_logo(nsd: Nsd) -> None:
    nsd.serve({"shop.test": f'default._bimi IN TXT "{RECORD}"'})
    result = await check_bimi(make_client(), "shop.test", https=HttpsOptions(timeout=0.5))
    assert "no valid DMARC record" in result.problems[0].message


@pytest.mark.parametrize(
    ("record", "detail"),
    [
        ("v=BIMI1; l=http://brand.shop.test/logo.svg", "must be an https:// address"),
        ("v=BIMI1; a=https://brand.shop.test/vmc.pem", "the l= tag"),
        ("v=BIMI2; l=https://brand.shop.test/logo.svg", "v=BIMI1"),
    ],
)
async def test_an_invalid_record_says_why(nsd: Nsd, record: str, detail: str) -> None:
    nsd.serve({"shop.test": zone(record)})
    result = await check_bimi(make_client(), "shop.test")
    if detail == "v=BIMI1":  # not a BIMI record at all, so none is published
        assert result.status == "missing"
        return
    assert (result.status, codes(result)) == ("mismatch", ["bimi.record_invalid"])
    assert detail in result.problems[0].message


async def test_an_empty_l_declines_a_logo(nsd: Nsd) -> None:
    nsd.serve({"shop.test": zone("v=BIMI1; l=")})
    result = await check_bimi(make_client(), "shop.test")
    assert (result.status, codes(result)) == ("ok", ["bimi.declined"])


async def test_no_record_and_dns_failure(nsd: Nsd) -> None:
    nsd.serve({"shop.test": '_dmarc IN TXT "v=DMARC1; p=reject"'}, broken=["down.test"])
    missing = await check_bimi(make_client(), "shop.test")
    failed = await check_bimi(make_client(), "down.test")
    assert (missing.status, missing.problems) == ("missing", [])
    assert (failed.status, codes(failed)) == ("error", ["dns.servfail"])


# --- the same judgements as checkdmarc --------------------------------------------------------


@pytest.mark.parametrize(
    ("dmarc", "ours", "theirs"),
    [
        ("v=DMARC1; p=reject", False, False),
        ("v=DMARC1; p=none", True, True),
        ("v=DMARC1; p=quarantine", False, False),
        ("v=DMARC1; p=reject; pct=50", False, False),
        ("v=DMARC1; p=reject; sp=none", True, True),
        # checkdmarc drops pct= (removed from DMARC by RFC 9989), but receivers that apply the
        # BIMI draft (§7.1 step 9) still show no logo for quarantine at pct below 100.
        ("v=DMARC1; p=quarantine; pct=50", True, False),
    ],
)
def test_dmarc_enforcement_beside_checkdmarc(dmarc: str, ours: bool, theirs: bool) -> None:
    from checkdmarc.bimi import parse_bimi_record
    from checkdmarc.dmarc import parse_dmarc_record

    parsed = parse_dmarc_record(dmarc, "shop.test")
    parsed["valid"] = True
    # checkdmarc judges DMARC only when l= names a logo; this one refuses at once.
    found = parse_bimi_record(
        "v=BIMI1; l=https://127.0.0.1:1/x.svg", domain="shop.test", parsed_dmarc_record=parsed
    )
    assert any("DMARC" in w or "pct" in w for w in found["warnings"]) is theirs
    assert (dmarc_enforcement((dmarc,)) is not None) is ours


@pytest.mark.parametrize("svg", [GOOD_SVG, BAD_SVG])
def test_logo_rules_agree_with_checkdmarc(svg: bytes) -> None:
    from checkdmarc.bimi import check_svg_requirements, get_svg_metadata

    from postdesk.core.dnscheck.bimi import svg_problems

    assert bool(svg_problems(svg)) is bool(check_svg_requirements(get_svg_metadata(svg)))
