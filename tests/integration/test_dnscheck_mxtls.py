"""STARTTLS of each MX host against aiosmtpd servers on loopback, and ``postdesk check``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from postdesk.core.dnscheck.mxtls import MxTlsOptions, check_mx_tls
from postdesk.core.dnscheck.resolver import make_client
from postdesk.core.records import RecordResult
from support.nsd import Nsd
from support.webpki import NamedPki

pytestmark = pytest.mark.nsd

ZONE = "@ IN MX 10 mx1\n@ IN MX 20 mx2\nmx1 IN A 127.0.0.1\nmx2 IN A 127.0.0.2\n"
MX1, MX2 = "mx1.shop.test", "mx2.shop.test"


def codes(result: RecordResult) -> list[str]:
    return [p.code for p in result.problems]


async def mx_tls(
    nsd: Nsd, named_pki: NamedPki, port: int, timeout: float = 5
) -> list[RecordResult]:
    nsd.serve({"shop.test": ZONE})
    options = MxTlsOptions(port=port, timeout=timeout, cafile=named_pki.cafile)
    return await check_mx_tls(make_client(), "shop.test", options=options)


async def test_every_mx_host_offers_starttls_with_a_valid_certificate(
    nsd, named_pki, starttls_mx
) -> None:
    port = starttls_mx("127.0.0.1", [MX1])
    starttls_mx("127.0.0.2", [MX2], port=port)
    first, second = await mx_tls(nsd, named_pki, port)
    assert [(r.host, r.status, r.problems) for r in (first, second)] == [
        (MX1, "ok", []),
        (MX2, "ok", []),
    ]
    assert first.found[0].startswith("STARTTLS TLSv1.")
    assert f"certificate for {MX1}" in first.found[0]


@pytest.mark.parametrize(
    ("cert", "reason"),
    [
        ({"names_override": ("mail.other.test",)}, "Hostname mismatch"),
        ({"days": (-400, -10)}, "expired"),
        ({"self_signed": True}, "self-signed"),
    ],
)
async def test_a_bad_certificate_is_named(nsd, named_pki, starttls_mx, cert, reason) -> None:
    port = starttls_mx("127.0.0.1", [MX1])
    names = list(cert.pop("names_override", (MX2,)))
    starttls_mx("127.0.0.2", names, port=port, **cert)
    first, second = await mx_tls(nsd, named_pki, port)
    assert first.status == "ok"
    assert (second.status, codes(second)) == ("mismatch", ["mxtls.cert_invalid"])
    assert reason in second.problems[0].message
    assert MX2 in second.problems[0].message


async def test_no_starttls_is_an_error(nsd, named_pki, starttls_mx) -> None:
    port = starttls_mx("127.0.0.1", [MX1])
    starttls_mx("127.0.0.2", [MX2], port=port, starttls=False)
    _, second = await mx_tls(nsd, named_pki, port)
    assert (second.status, codes(second)) == ("mismatch", ["mxtls.no_starttls"])


async def test_a_certificate_about_to_expire_is_a_warning(nsd, named_pki, starttls_mx) -> None:
    port = starttls_mx("127.0.0.1", [MX1], days=(-80, 5))
    starttls_mx("127.0.0.2", [MX2], port=port)
    first, _ = await mx_tls(nsd, named_pki, port)
    assert (first.status, codes(first)) == ("ok", ["mxtls.cert_expiring"])
    assert first.problems[0].severity == "warning"


async def test_one_unreachable_mx_host_is_named(nsd, named_pki, starttls_mx) -> None:
    port = starttls_mx("127.0.0.1", [MX1])
    first, second = await mx_tls(nsd, named_pki, port)
    assert first.status == "ok"
    assert (second.status, codes(second)) == ("error", ["mxtls.host_unreachable"])
    assert "connection refused" in second.problems[0].message


async def test_no_mx_host_reachable_is_not_a_failure(nsd, named_pki) -> None:
    from support.services import free_port

    results = await mx_tls(nsd, named_pki, free_port())
    assert [(r.host, r.status, codes(r)) for r in results] == [
        ("shop.test", "error", ["mxtls.unreachable"])
    ]
    assert results[0].problems[0].severity == "info"
    assert "block port 25" in results[0].problems[0].message


async def test_a_silent_server_times_out_each_host(nsd, named_pki, silent_server) -> None:
    nsd.serve({"shop.test": "@ IN MX 10 mx1\nmx1 IN A 127.0.0.1\n"})
    options = MxTlsOptions(port=silent_server.port, timeout=0.5, cafile=named_pki.cafile)
    results = await check_mx_tls(make_client(), "shop.test", options=options)
    assert codes(results[0]) == ["mxtls.unreachable"]
    assert "no answer within 0.5 seconds" in results[0].problems[0].message


async def test_skipping_says_so(nsd: Nsd) -> None:
    nsd.serve({"shop.test": ZONE})
    results = await check_mx_tls(make_client(), "shop.test", options=MxTlsOptions(skip=True))
    assert [(r.status, codes(r)) for r in results] == [("error", ["mxtls.skipped"])]


async def test_no_mx_hosts_means_nothing_to_check(nsd: Nsd) -> None:
    nsd.serve({"shop.test": "@ IN MX 0 .\n"})
    assert await check_mx_tls(make_client(), "shop.test") == []


# --- postdesk check ---------------------------------------------------------------------------


def postdesk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "postdesk", *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_reports_the_newer_standards(nsd: Nsd) -> None:
    nsd.serve(
        {
            "shop.test": ZONE
            + '@ IN TXT "v=spf1 -all"\n_dmarc IN TXT "v=DMARC1; p=none"\n'
            + '_smtp._tls IN TXT "v=TLSRPTv1; rua=tls@shop.test"\n'
            + 'default._bimi IN TXT "v=BIMI1; l=https://brand.shop.test/logo.svg"\n'
        }
    )
    done = postdesk("check", "shop.test", "--json", "--no-mx-tls")
    report = json.loads(done.stdout)
    by_kind = {r["kind"]: r for r in report["records"]}
    assert {"mta_sts", "tls_rpt", "bimi", "dnssec", "mx_tls"} <= set(by_kind)
    assert by_kind["mta_sts"]["status"] == "missing"
    assert by_kind["dnssec"]["status"] == "missing"
    assert [p["code"] for p in by_kind["mx_tls"]["problems"]] == ["mxtls.skipped"]
    assert by_kind["tls_rpt"]["status"] == "mismatch"
    assert "bimi.dmarc_not_enforced" in [p["code"] for p in by_kind["bimi"]["problems"]]
    assert (report["status"], done.returncode) == ("failing", 1)

    text = postdesk("check", "shop.test", "--no-mx-tls").stdout
    assert "_smtp._tls.shop.test" in text
    assert "not checked (skipped on request)" in text
