"""CNAME, MX and ownership records; DNS failures; records still on their way through caches."""

from __future__ import annotations

import pytest

from postdesk.core.dkimkeys import generate_dkim_key
from postdesk.core.dnscheck import verify_records
from postdesk.core.dnscheck.cname import check_cname
from postdesk.core.dnscheck.mx import check_mx
from postdesk.core.dnscheck.ownership import check_ownership
from postdesk.core.dnscheck.resolver import make_client
from postdesk.core.recordgen import build_expected_records
from postdesk.core.records import ExpectedRecord, RecordResult
from support.nsd import Nsd, txt

pytestmark = pytest.mark.nsd

BOUNCE = ExpectedRecord("return_path", "CNAME", "bounce.shop.test", "bounce.mailer.test", False)
MX = ExpectedRecord("mx", "MX", "shop.test", "10 mx.mailer.test", False)
OWNER = ExpectedRecord("ownership", "TXT", "_postdesk.shop.test", "postdesk-verification=tok")
KEY = generate_dkim_key(2048, selector="pd1")


def codes(result: RecordResult) -> list[str]:
    return [p.code for p in result.problems]


@pytest.mark.parametrize(
    ("zone", "status", "code"),
    [
        ("bounce IN CNAME bounce.mailer.test.", "ok", None),
        ("bouncer IN CNAME bounce.mailer.test.", "missing", "cname.missing"),
        ("bounce IN CNAME mailer.test.", "mismatch", "cname.wrong_target"),
        ('bounce IN A 192.0.2.7\nbounce IN TXT "x"', "conflict", "cname.conflict"),
    ],
)
async def test_cname(nsd: Nsd, zone: str, status: str, code: str | None) -> None:
    nsd.serve({"shop.test": zone, "mailer.test": "bounce IN A 192.0.2.1"})
    result = await check_cname(make_client(), BOUNCE)
    assert result.status == status
    assert codes(result) == ([code] if code else [])
    if code == "cname.conflict":
        assert "A and TXT" in result.problems[0].message
        assert "Delete the A and TXT records" in result.problems[0].fix


@pytest.mark.parametrize(
    ("zone", "status", "code"),
    [
        ("@ IN MX 10 mx.mailer.test.\n@ IN MX 20 backup.mailer.test.", "ok", None),
        ('@ IN TXT "v=spf1 -all"', "missing", "mx.missing"),
        ("@ IN MX 10 mail.google.test.", "mismatch", "mx.wrong"),
    ],
)
async def test_mx(nsd: Nsd, zone: str, status: str, code: str | None) -> None:
    nsd.serve({"shop.test": zone})
    result = await check_mx(make_client(), "shop.test", expected=MX)
    assert result.status == status
    assert codes(result) == ([code] if code else [])
    if code == "mx.wrong":
        assert "mail.google.test" in result.problems[0].message


@pytest.mark.parametrize(
    ("zone", "status"),
    [
        ('_postdesk IN TXT "postdesk-verification=tok"', "ok"),
        ('_postdesk IN TXT "postdesk-verification=older"', "mismatch"),
        ('@ IN TXT "postdesk-verification=tok"', "missing"),
    ],
)
async def test_ownership(nsd: Nsd, zone: str, status: str) -> None:
    nsd.serve({"shop.test": zone})
    result = await check_ownership(make_client(), OWNER)
    assert result.status == status
    assert codes(result) == ([] if status == "ok" else ["ownership.missing"])


# --- DNS failures are "could not check", never "missing" ------------------------------------


async def test_a_server_that_never_answers_is_a_timeout(silent_dns: str) -> None:
    client = make_client(silent_dns, lifetime=0.5)
    report = await verify_records("shop.test", [OWNER, MX], spf_include=None, resolver=client)
    # the SPF published at the apex is always judged, so it is asked for too
    checked = report.records[:3]  # newer standards (MTA-STS…) follow, checked where published
    assert [(r.kind, r.status) for r in checked] == [
        ("ownership", "error"),
        ("mx", "error"),
        ("spf", "error"),
    ]
    assert [codes(r) for r in checked] == [["dns.timeout"]] * 3
    assert "could not check" in report.records[0].problems[0].message
    assert report.status == "failing"  # no DKIM record is expected, so it can never pass


async def test_servfail_is_reported_as_such(nsd: Nsd) -> None:
    nsd.serve({"other.test": '@ IN TXT "x"'}, broken=["shop.test"])
    result = await check_ownership(make_client(), OWNER)
    assert (result.status, codes(result)) == ("error", ["dns.servfail"])


async def test_refused_is_reported_as_such(nsd: Nsd) -> None:
    nsd.serve({"other.test": '@ IN TXT "x"'})
    result = await check_mx(make_client(), "shop.test", expected=MX)
    assert (result.status, codes(result)) == ("error", ["dns.refused"])


# --- propagation ----------------------------------------------------------------------------


def _expected() -> list[ExpectedRecord]:
    return build_expected_records(
        "shop.test",
        ownership_token="newtoken",
        spf_include=None,
        dkim_selector="pd1",
        dkim_public_b64=KEY.public_b64,
    )


OLD = '_postdesk 7200 IN TXT "postdesk-verification=oldtoken"\n'
NEW = (
    '_postdesk 7200 IN TXT "postdesk-verification=newtoken"\n'
    f"pd1._domainkey IN TXT {txt(KEY.txt_value)}\n"
    '_dmarc IN TXT "v=DMARC1; p=none"\n'
)


async def test_records_newer_at_the_dns_host_than_in_caches_are_pending(nsd_factory) -> None:
    cache = nsd_factory.new().serve({"shop.test": OLD + '_dmarc IN TXT "v=DMARC1; p=none"'})
    source = nsd_factory.new().serve({"shop.test": NEW}, serial=2)
    client = make_client(cache.servers, authoritative=source.servers)
    report = await verify_records("shop.test", _expected(), spf_include=None, resolver=client)
    assert report.status == "failing"  # not verified until caches agree
    by_kind = {r.kind: r for r in report.records}
    assert by_kind["ownership"].status == "pending"
    assert by_kind["dkim"].status == "pending"
    assert by_kind["dmarc"].status == "ok"
    note = next(p for p in by_kind["ownership"].problems if p.code == "dns.propagating")
    assert "2 hours" in note.message  # the TTL of the old, cached answer
    dkim_note = next(p for p in by_kind["dkim"].problems if p.code == "dns.propagating")
    assert "5 minutes" in dkim_note.message  # how long "no such record" may be cached
    hosts = {n.host: n for n in report.propagation}
    assert hosts["_postdesk.shop.test"].cached == ["postdesk-verification=oldtoken"]
    assert hosts["_postdesk.shop.test"].ttl_left == 7200


async def test_authoritative_servers_are_found_through_ns(nsd_factory) -> None:
    source = nsd_factory.new().serve({"shop.test": NEW}, serial=2)
    cache = nsd_factory.new().serve({"shop.test": OLD + "ns IN A 127.0.0.1\n"})
    client = make_client(cache.servers, discover_authoritative=True, authoritative_port=source.port)
    report = await verify_records("shop.test", _expected(), spf_include=None, resolver=client)
    assert {n.host for n in report.propagation} == {
        "_postdesk.shop.test",
        "pd1._domainkey.shop.test",
        "_dmarc.shop.test",
    }


async def test_a_wrong_record_at_the_dns_host_is_not_called_pending(nsd_factory) -> None:
    cache = nsd_factory.new().serve({"shop.test": OLD})
    source = nsd_factory.new().serve(
        {"shop.test": '_postdesk IN TXT "postdesk-verification=typo"'}, serial=2
    )
    client = make_client(cache.servers, authoritative=source.servers)
    report = await verify_records("shop.test", _expected(), spf_include=None, resolver=client)
    assert report.record("ownership").status == "mismatch"  # type: ignore[union-attr]
    assert report.propagation == []
