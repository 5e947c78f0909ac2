"""MTA-STS and TLS-RPT against NSD and a local HTTPS server trusting a test CA."""

from __future__ import annotations

import dns.nameserver
import pytest

from postdesk.core.dnscheck.httpsfetch import HttpsOptions
from postdesk.core.dnscheck.mtasts import check_mta_sts, mx_matches, parse_policy
from postdesk.core.dnscheck.mxtls import MxTlsOptions
from postdesk.core.dnscheck.newer import NewerOptions, check_newer_standards
from postdesk.core.dnscheck.resolver import make_client
from postdesk.core.dnscheck.tlsrpt import check_tls_rpt
from postdesk.core.records import RecordResult
from support.nsd import Nsd
from support.webpki import NamedPki

pytestmark = pytest.mark.nsd

POLICY_HOST = "mta-sts.shop.test"
POLICY_PATH = "/.well-known/mta-sts.txt"
ZONE = """
_mta-sts IN TXT "v=STSv1; id=20240101"
mta-sts IN A 127.0.0.1
@ IN MX 10 mx1
@ IN MX 20 mx2
mx1 IN A 127.0.0.1
mx2 IN A 127.0.0.1
"""


def policy(
    mode: str = "enforce", mx: tuple[str, ...] = ("*.shop.test",), age: str = "604800"
) -> bytes:
    lines = ["version: STSv1", f"mode: {mode}", *(f"mx: {m}" for m in mx), f"max_age: {age}"]
    return ("\r\n".join(lines) + "\r\n").encode()


def codes(result: RecordResult) -> list[str]:
    return [p.code for p in result.problems]


async def sts_of(
    nsd: Nsd,
    https_site,  # type: ignore[no-untyped-def]
    named_pki: NamedPki,
    body: bytes | None,
    *,
    zone: str = ZONE,
    status: int = 200,
    content_type: str = "text/plain",
    **cert: object,
) -> RecordResult:
    nsd.serve({"shop.test": zone})
    files = {} if body is None else {(POLICY_HOST, POLICY_PATH): (status, content_type, body)}
    port = await https_site(files, cert_names=cert.pop("names", (POLICY_HOST,)), **cert)
    https = HttpsOptions(cafile=named_pki.cafile, port=port, timeout=5)
    return await check_mta_sts(make_client(), "shop.test", https=https)


async def test_an_enforced_policy_covering_every_mx_passes(nsd, https_site, named_pki) -> None:
    result = await sts_of(nsd, https_site, named_pki, policy())
    assert (result.status, result.problems) == ("ok", [])
    assert result.found[0] == "v=STSv1; id=20240101"
    assert "mode: enforce" in result.found[1]


async def test_an_mx_host_outside_an_enforced_policy_fails(nsd, https_site, named_pki) -> None:
    result = await sts_of(nsd, https_site, named_pki, policy(mx=("mx1.shop.test",)))
    assert (result.status, codes(result)) == ("mismatch", ["mtasts.mx_not_covered"])
    assert "mx2.shop.test" in result.problems[0].message
    assert "mx: mx2.shop.test" in result.problems[0].fix


async def test_a_wildcard_covers_one_label_only(nsd, https_site, named_pki) -> None:
    zone = ZONE.replace("@ IN MX 20 mx2", "@ IN MX 20 a.mx2")
    zone += "a.mx2 IN A 127.0.0.1\n"
    result = await sts_of(nsd, https_site, named_pki, policy(), zone=zone)
    assert codes(result) == ["mtasts.mx_not_covered"]
    assert "a.mx2.shop.test" in result.problems[0].message


@pytest.mark.parametrize(
    ("host", "patterns", "covered"),
    [
        ("mx1.shop.test", ["*.shop.test"], True),
        ("shop.test", ["*.shop.test"], False),
        ("a.b.shop.test", ["*.shop.test"], False),
        ("MX1.Shop.Test.", ["mx1.shop.test"], True),
        ("mx1.shop.test.evil.test", ["mx1.shop.test"], False),
        ("bad-shop.test", ["shop.test"], False),
    ],
)
def test_mx_patterns_follow_rfc_8461(host: str, patterns: list[str], covered: bool) -> None:
    from checkdmarc.mta_sts import mx_in_mta_sts_patterns

    assert mx_matches(host, patterns) is covered
    assert mx_in_mta_sts_patterns(host.rstrip("."), patterns) is covered  # checkdmarc agrees


async def test_testing_mode_warns_but_does_not_fail(nsd, https_site, named_pki) -> None:
    result = await sts_of(nsd, https_site, named_pki, policy("testing", ("mx1.shop.test",)))
    assert result.status == "ok"
    assert codes(result) == ["mtasts.testing_mode", "mtasts.mx_not_covered"]
    assert result.problems[1].severity == "warning"


async def test_a_missing_policy_file_is_named(nsd, https_site, named_pki) -> None:
    result = await sts_of(nsd, https_site, named_pki, None)
    assert (result.status, codes(result)) == ("mismatch", ["mtasts.record_without_policy"])
    assert "HTTP 404" in result.problems[0].message


async def test_a_policy_host_without_address_is_a_record_without_policy(
    nsd, https_site, named_pki
) -> None:
    zone = ZONE.replace("mta-sts IN A 127.0.0.1\n", "")
    result = await sts_of(nsd, https_site, named_pki, policy(), zone=zone)
    assert codes(result) == ["mtasts.record_without_policy"]
    assert "mta-sts.shop.test has no address" in result.problems[0].message


async def test_a_certificate_for_another_name_makes_the_policy_unreachable(
    nsd, https_site, named_pki
) -> None:
    result = await sts_of(nsd, https_site, named_pki, policy(), names=("www.shop.test",))
    assert (result.status, codes(result)) == ("mismatch", ["mtasts.policy_unreachable"])
    assert "certificate is not valid for mta-sts.shop.test" in result.problems[0].message


async def test_an_expired_certificate_makes_the_policy_unreachable(
    nsd, https_site, named_pki
) -> None:
    result = await sts_of(nsd, https_site, named_pki, policy(), days=(-400, -10))
    assert codes(result) == ["mtasts.policy_unreachable"]
    assert "expired" in result.problems[0].message


async def test_a_redirect_is_not_followed(nsd, https_site, named_pki) -> None:
    result = await sts_of(nsd, https_site, named_pki, policy(), status=301)
    assert codes(result) == ["mtasts.policy_unreachable"]
    assert "HTTP 301" in result.problems[0].message


async def test_an_oversized_policy_is_refused(nsd, https_site, named_pki) -> None:
    body = policy() + b"# " + b"x" * 70_000 + b"\n"
    result = await sts_of(nsd, https_site, named_pki, body)
    assert codes(result) == ["mtasts.policy_unreachable"]
    assert "larger than 64 KB" in result.problems[0].message


async def test_an_invalid_policy_says_why(nsd, https_site, named_pki) -> None:
    body = b"version: STSv1\nmode: strict\nmx: mx1.shop.test\n"
    result = await sts_of(nsd, https_site, named_pki, body, content_type="text/html")
    assert result.status == "mismatch"
    assert codes(result) == ["mtasts.content_type", "mtasts.policy_invalid"]
    assert "mode: must be enforce, testing or none" in result.problems[1].message
    assert "max_age: is missing" in result.problems[1].message


@pytest.mark.parametrize(
    ("record", "detail"),
    [
        ("v=STSv1;", "the id= tag is missing"),
        ("v=STSv1; id=2024-01-01", "must be 1 to 32 letters or digits"),
        ("v=STSv1; id=a; id=b", "appears more than once"),
    ],
)
async def test_an_invalid_record_says_why(nsd: Nsd, record: str, detail: str) -> None:
    nsd.serve({"shop.test": f'_mta-sts IN TXT "{record}"'})
    result = await check_mta_sts(make_client(), "shop.test")
    assert (result.status, codes(result)) == ("mismatch", ["mtasts.record_invalid"])
    assert detail in result.problems[0].message


async def test_no_record_is_missing_not_failing(nsd: Nsd) -> None:
    nsd.serve({"shop.test": "@ IN MX 10 mx1\nmx1 IN A 127.0.0.1"})
    result = await check_mta_sts(make_client(), "shop.test")
    assert (result.status, codes(result)) == ("missing", ["mtasts.none"])
    assert result.problems[0].severity == "info"


async def test_two_records_conflict(nsd: Nsd) -> None:
    nsd.serve({"shop.test": '_mta-sts IN TXT "v=STSv1; id=1"\n_mta-sts IN TXT "v=STSv1; id=2"'})
    result = await check_mta_sts(make_client(), "shop.test")
    assert (result.status, codes(result)) == ("conflict", ["mtasts.multiple"])


async def test_a_dns_failure_is_an_error_never_missing(nsd: Nsd) -> None:
    nsd.serve({"other.test": "@ IN TXT x"}, broken=["shop.test"])
    sts = await check_mta_sts(make_client(), "shop.test")
    rpt = await check_tls_rpt(make_client(), "shop.test")
    assert (sts.status, codes(sts)) == ("error", ["dns.servfail"])
    assert (rpt.status, codes(rpt)) == ("error", ["dns.servfail"])


# --- TLS-RPT ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "problems"),
    [
        ("v=TLSRPTv1; rua=mailto:tls@shop.test", []),
        ("v=TLSRPTv1; rua=mailto:tls@shop.test,https://reports.shop.test/tls", []),
        ("v=TLSRPTv1; rua=tls@shop.test", ["tlsrpt.invalid"]),
        ("v=TLSRPTv1", ["tlsrpt.invalid"]),
        ("v=TLSRPTv1; rua=http://reports.shop.test/tls", ["tlsrpt.invalid"]),
    ],
)
async def test_tls_rpt_records(nsd: Nsd, record: str, problems: list[str]) -> None:
    nsd.serve({"shop.test": f'_smtp._tls IN TXT "{record}"'})
    result = await check_tls_rpt(make_client(), "shop.test")
    assert codes(result) == problems
    assert result.status == ("mismatch" if problems else "ok")


async def test_tls_rpt_is_suggested_only_with_mta_sts(nsd, https_site, named_pki) -> None:
    nsd.serve({"shop.test": ZONE})
    port = await https_site({(POLICY_HOST, POLICY_PATH): (200, "text/plain", policy())})
    options = NewerOptions(
        https=HttpsOptions(cafile=named_pki.cafile, port=port),
        mx_tls=MxTlsOptions(skip=True),
        dnssec=False,
    )
    with_sts = await check_newer_standards(make_client(), "shop.test", options)
    nsd.serve({"shop.test": "@ IN MX 10 mx1\nmx1 IN A 127.0.0.1"})
    without = await check_newer_standards(make_client(), "shop.test", options)
    rpt = {r.kind: r for r in with_sts}["tls_rpt"]
    assert (rpt.status, codes(rpt)) == ("missing", ["tlsrpt.suggested"])
    assert codes({r.kind: r for r in without}["tls_rpt"]) == []


# --- the same zones through checkdmarc --------------------------------------------------------


@pytest.fixture(autouse=True)
def cold_checkdmarc() -> None:
    """checkdmarc remembers DNS answers process-wide; every zone here is served anew."""
    import checkdmarc.utils

    checkdmarc.utils.DNS_CACHE.clear()


@pytest.mark.parametrize(
    ("record", "valid"),
    [("v=STSv1; id=20240101", True), ("v=STSv1;", False), ("v=STSv1; id=2024-01-01", False)],
)
async def test_records_judged_like_checkdmarc(nsd: Nsd, record: str, valid: bool) -> None:
    from checkdmarc.mta_sts import MTASTSError, parse_mta_sts_record, query_mta_sts_record

    nsd.serve({"shop.test": f'_mta-sts IN TXT "{record}"'})
    ours = await check_mta_sts(make_client(), "shop.test", https=HttpsOptions(timeout=0.5))
    ns = [dns.nameserver.Do53Nameserver("127.0.0.1", nsd.port)]
    try:
        parse_mta_sts_record(query_mta_sts_record("shop.test", nameservers=ns)["record"])
        theirs = True
    except MTASTSError:
        theirs = False
    assert theirs is valid
    assert ("mtasts.record_invalid" not in codes(ours)) is valid


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        (policy(), True),
        (policy("testing"), True),
        (b"version: STSv1\nmode: strict\nmx: a.test\nmax_age: 86400\n", False),
        (b"version: STSv1\nmode: enforce\nmx: a.test\n", False),
        (b"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 99999999999\n", False),
    ],
)
def test_policies_judged_like_checkdmarc(body: bytes, valid: bool) -> None:
    from checkdmarc.mta_sts import MTASTSError, parse_mta_sts_policy

    try:
        parse_mta_sts_policy(body.decode())
        theirs = True
    except MTASTSError:
        theirs = False
    assert theirs is valid
    assert (not parse_policy(body.decode()).errors) is valid


async def test_tls_rpt_judged_like_checkdmarc(nsd: Nsd) -> None:
    import checkdmarc.utils
    from checkdmarc.smtp_tls_reporting import check_smtp_tls_reporting

    ns = [dns.nameserver.Do53Nameserver("127.0.0.1", nsd.port)]
    for record in ("v=TLSRPTv1; rua=mailto:tls@shop.test", "v=TLSRPTv1; rua=tls@shop.test"):
        nsd.serve({"shop.test": f'_smtp._tls IN TXT "{record}"'})
        ours = await check_tls_rpt(make_client(), "shop.test")
        checkdmarc.utils.DNS_CACHE.clear()
        theirs = check_smtp_tls_reporting("shop.test", nameservers=ns)
        assert (ours.status == "ok") is theirs["valid"], record


# --- Verify -----------------------------------------------------------------------------------


async def test_verify_adds_only_what_the_domain_publishes(nsd, https_site, named_pki) -> None:
    from postdesk.core.dnscheck.domain import verify_records
    from postdesk.core.records import ExpectedRecord

    nsd.serve({"shop.test": ZONE})
    body = policy(mx=("mx1.shop.test",))
    port = await https_site({(POLICY_HOST, POLICY_PATH): (200, "text/plain", body)})
    https = HttpsOptions(cafile=named_pki.cafile, port=port)
    expected = [ExpectedRecord("mx", "MX", "shop.test", "10 mx1.shop.test")]
    report = await verify_records(
        "shop.test", expected, spf_include=None, resolver=make_client(), https=https
    )
    assert [r.kind for r in report.records if r.kind in ("mta_sts", "tls_rpt", "bimi")] == [
        "mta_sts"
    ]
    sts = report.record("mta_sts")
    assert sts is not None
    assert (sts.status, codes(sts)) == ("mismatch", ["mtasts.mx_not_covered"])


async def test_a_silent_dns_server_makes_every_newer_check_an_error(silent_dns: str) -> None:
    options = NewerOptions(mx_tls=MxTlsOptions(timeout=0.5), https=HttpsOptions(timeout=0.5))
    results = await check_newer_standards(
        make_client(silent_dns, lifetime=0.5), "shop.test", options
    )
    assert [(r.kind, r.status) for r in results] == [
        ("mta_sts", "error"),
        ("tls_rpt", "error"),
        ("bimi", "error"),
        ("dnssec", "error"),
        ("mx_tls", "error"),
    ]
    assert {p.code for r in results for p in r.problems} == {"dns.timeout"}
