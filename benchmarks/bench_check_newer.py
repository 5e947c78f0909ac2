"""How long ``postdesk check`` with the newer standards takes, beside checkdmarc's check_domains.

Starts NSD with 12 zones mixing MTA-STS (enforce, testing, an MX outside the policy, none),
TLS-RPT (valid, broken, none), BIMI (a good and a bad SVG logo, DMARC reject or none) and DNSSEC
(zones signed by ldns-signzone with a DS in the parent, when ldnsutils is installed), puts a UDP
proxy in front of it that adds 10 ms each way, serves the MTA-STS policies and logos from a local
HTTPS server (test CA), and measures one domain, cold, at 20 ms round trip:

* ours: ``diagnose_domain`` with the newer standards (the STARTTLS probe of the MX is skipped,
  as with ``--no-mx-tls``: checkdmarc skips it by default too);
* checkdmarc: ``check_domains`` (SPF, DMARC, MX, DNSSEC, SOA, NS, MTA-STS, TLS-RPT, BIMI), with its
  HTTPS downloads sent to the same local server;

and prints what each flags per domain, so a difference in verdicts is visible beside the times.
checkdmarc asks its DNSSEC questions over TCP, which the delay proxy does not carry: in the timed
runs those fail at once (in its favour); its verdicts are therefore taken from a run on loopback.

Run: ``.venv/bin/python benchmarks/bench_check_newer.py [--repeat N] [--quick]``
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

import dns.nameserver  # noqa: E402

from postdesk.core.dnscheck.domain import diagnose_domain  # noqa: E402
from postdesk.core.dnscheck.httpsfetch import HttpsOptions  # noqa: E402
from postdesk.core.dnscheck.mxtls import MxTlsOptions  # noqa: E402
from postdesk.core.dnscheck.newer import NewerOptions  # noqa: E402
from postdesk.core.dnscheck.resolver import make_client  # noqa: E402
from support.dnsdelay import delay_proxy_process  # noqa: E402
from support.nsd import NsdServer, zone_text  # noqa: E402
from support.webpki import build_named_pki  # noqa: E402

DELAY = 0.010  # each way: 20 ms round trip
POLICY_PATH = "/.well-known/mta-sts.txt"
GOOD_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" version="1.2" baseProfile="tiny-ps" '
    b'viewBox="0 0 64 64"><title>Shop</title><rect width="64" height="64" fill="#036"/></svg>'
)
BAD_SVG = b'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" viewBox="0 0 64 32"></svg>'
# (MTA-STS mode or None, MX patterns, TLS-RPT, BIMI logo, DMARC policy, signed)
PATTERNS: list[tuple[str | None, str, str | None, bytes | None, str, bool]] = [
    ("enforce", "*.{d}", "mailto:tls@{d}", GOOD_SVG, "reject", True),
    ("enforce", "mx1.{d}", "mailto:tls@{d}", None, "reject", False),
    ("testing", "*.{d}", None, GOOD_SVG, "none", True),
    (None, "", None, None, "none", False),
    ("enforce", "*.{d}", "tls@{d}", BAD_SVG, "quarantine", False),
    ("none", "", "https://reports.{d}/tls", None, "reject", True),
    ("enforce", "*.{d}", "mailto:tls@{d}", GOOD_SVG, "quarantine", False),
    (None, "", "mailto:tls@{d}", GOOD_SVG, "reject", True),
    ("testing", "mx2.{d}", "mailto:tls@{d}", None, "none", False),
    ("enforce", "*.{d}", None, BAD_SVG, "reject", False),
    (None, "", None, None, "reject", True),
    ("enforce", "*.{d}", "mailto:tls@{d}", GOOD_SVG, "reject", False),
]


def zone_for(domain: str, pattern: int) -> str:
    sts, _, rpt, logo, dmarc, _ = PATTERNS[pattern]
    lines = [
        '@ IN TXT "v=spf1 mx -all"',
        f'_dmarc IN TXT "v=DMARC1; p={dmarc}; rua=mailto:dmarc@{domain}"',
        "@ IN MX 10 mx1",
        "@ IN MX 20 mx2",
        "mx1 IN A 127.0.0.1",
        "mx2 IN A 127.0.0.1",
    ]
    if sts:
        lines += [f'_mta-sts IN TXT "v=STSv1; id=2024{pattern:02}"', "mta-sts IN A 127.0.0.1"]
    if rpt:
        lines.append(f'_smtp._tls IN TXT "v=TLSRPTv1; rua={rpt.format(d=domain)}"')
    if logo is not None:
        lines += [
            f'default._bimi IN TXT "v=BIMI1; l=https://brand.{domain}/logo.svg"',
            "brand IN A 127.0.0.1",
        ]
    return "\n".join(lines) + "\n"


def files_for(domain: str, pattern: int) -> dict[tuple[str, str], bytes]:
    sts, mx, _, logo, _, _ = PATTERNS[pattern]
    files = {}
    if sts:
        mx_lines = "".join(f"mx: {m.format(d=domain)}\n" for m in mx.split() if m)
        policy = f"version: STSv1\nmode: {sts}\n{mx_lines}max_age: 604800\n"
        files[(f"mta-sts.{domain}", POLICY_PATH)] = policy.encode()
    if logo is not None:
        files[(f"brand.{domain}", "/logo.svg")] = logo
    return files


def sign_zones(zones: dict[str, str], signed: list[str], work: Path) -> str:
    """Sign ``signed`` zones in place; returns the DS records for the parent zone ``test``."""
    if not signed or not shutil.which("ldns-signzone"):
        print("ldns-signzone not found: no zone is signed (apt-get install ldnsutils)")
        return ""
    parent = []
    for domain in signed:

        def keygen(*flags: str, d: str = domain) -> str:
            done = subprocess.run(
                ["ldns-keygen", "-a", "ECDSAP256SHA256", *flags, d],
                cwd=work,
                capture_output=True,
                text=True,
                check=True,
            )
            return done.stdout.strip()

        ksk, zsk = keygen("-k"), keygen()
        unsigned = work / f"{domain}.zone"
        unsigned.write_text(zone_text(domain, zones[domain]))
        out = work / f"{domain}.signed"
        subprocess.run(
            ["ldns-signzone", "-f", str(out), str(unsigned), zsk, ksk], cwd=work, check=True
        )
        zones[domain] = out.read_text().replace("\t", " ")
        parent.append((work / f"{ksk}.ds").read_text().strip())
    return "\n".join(parent) + "\n"


class HttpsSite:
    """An aiohttp HTTPS server in a process of its own (as a real web server would be, so its
    TLS work never competes with the measured side), choosing the file by Host header."""

    def __init__(self, files: dict[tuple[str, str], bytes], context: Any) -> None:
        self.files, self.context = files, context
        self.port = 0
        fork = multiprocessing.get_context("fork")  # the TLS context is inherited, not pickled
        self.ports = fork.Queue()
        self.process = fork.Process(target=self._run, daemon=True)

    def __enter__(self) -> HttpsSite:
        self.process.start()
        self.port = self.ports.get(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.join(5)

    def _run(self) -> None:
        from aiohttp import web

        async def serve(request: web.Request) -> web.Response:
            host = (request.host or "").split(":")[0].lower()
            body = self.files.get((host, request.path))
            if body is None:
                return web.Response(status=404)
            kind = "image/svg+xml" if request.path.endswith(".svg") else "text/plain"
            return web.Response(body=body, content_type=kind)

        async def start() -> None:
            app = web.Application()
            app.router.add_route("GET", "/{tail:.*}", serve)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self.context)
            await site.start()
            self.ports.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

        loop = asyncio.new_event_loop()
        loop.run_until_complete(start())
        loop.run_forever()


def send_checkdmarc_downloads_to(port: int, cafile: str) -> None:
    """checkdmarc fetches with requests and the system's DNS; point its .test URLs at the site."""
    import requests

    original = requests.Session.request

    def request(self: Any, method: str, url: str, **kwargs: Any) -> Any:
        parts = urlsplit(url)
        if parts.hostname and parts.hostname.endswith(".test"):
            url = parts._replace(netloc=f"127.0.0.1:{port}").geturl()
            kwargs["headers"] = {**(kwargs.get("headers") or {}), "Host": parts.hostname}
            kwargs["verify"] = cafile
        return original(self, method, url, **kwargs)

    requests.Session.request = request  # type: ignore[method-assign]


def run_checkdmarc(domain: str, nameservers: list[dns.nameserver.Nameserver]) -> dict:
    import checkdmarc
    import checkdmarc.dnssec
    import checkdmarc.utils

    # Cold, like ours.
    checkdmarc.utils.DNS_CACHE.clear()
    checkdmarc.dnssec.DNSSEC_CACHE.clear()
    checkdmarc.dnssec.DNSKEY_CACHE.clear()
    return checkdmarc.check_domains([domain], nameservers=nameservers, timeout=2.0)  # type: ignore[return-value]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def flags_ours(report: Any) -> str:
    by_kind = {r.kind: r for r in report.records}
    sts, rpt, bimi = by_kind["mta_sts"], by_kind["tls_rpt"], by_kind["bimi"]
    uncovered = any(p.code == "mtasts.mx_not_covered" for p in sts.problems)
    dnssec = by_kind.get("dnssec")
    anchored = dnssec is not None and any(
        p.code == "dnssec.signed" and "DS matches" in p.message for p in dnssec.problems
    )
    return " ".join(
        [
            "sts:" + ("BAD" if uncovered else _mark(sts.status)),
            "rpt:" + _mark(rpt.status),
            "bimi:" + _mark(bimi.status),
            "dnssec:" + ("yes" if anchored else "no"),
        ]
    )


def _mark(status: str) -> str:
    return {"ok": "ok", "missing": "-", "error": "?"}.get(status, "BAD")


# checkdmarc's BIMI warnings that mean "no logo will be shown" (not the advice about a VMC).
_BIMI_BLOCKERS = ("DMARC", "pct", "SVG", "base profile", "title", "32 KB", "version")


def flags_theirs(result: dict) -> str:
    sts, rpt, bimi = result["mta_sts"], result["smtp_tls_reporting"], result.get("bimi") or {}
    uncovered = any("MTA-STS" in w for w in result["mx"].get("warnings", []))
    image = bimi.get("image") or {}
    bimi_bad = bool(image.get("error")) or any(
        b in w for w in bimi.get("warnings", []) + image.get("warnings", []) for b in _BIMI_BLOCKERS
    )
    return " ".join(
        [
            "sts:" + _their_mark(sts, bad=uncovered),
            "rpt:" + _their_mark(rpt),
            "bimi:" + _their_mark(bimi, bad=bimi_bad),
            "dnssec:" + ("yes" if result["dnssec"] else "no"),
        ]
    )


def _their_mark(part: dict, *, bad: bool = False) -> str:
    error = str(part.get("error", ""))
    if (
        "does not exist" in error
        or "not exist" in error
        or (not part.get("valid") and not error and not part.get("record"))
    ):
        return "-"
    return "BAD" if bad or not part.get("valid", True) else "ok"


def measure(
    loop: asyncio.AbstractEventLoop,
    port: int,
    domain: str,
    https: HttpsOptions,
    repeat: int,
) -> tuple[float, float, str, str]:
    servers = [("127.0.0.1", port)]
    nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", port)]
    newer = NewerOptions(https=https, mx_tls=MxTlsOptions(skip=True))
    reports: list[Any] = []

    def ours() -> None:
        reports.append(
            loop.run_until_complete(diagnose_domain(domain, (), make_client(servers), newer=newer))
        )

    results: list[dict] = []
    theirs = [
        timed(lambda: results.append(run_checkdmarc(domain, nameservers))) for _ in range(repeat)
    ]
    ours_t = [timed(ours) for _ in range(repeat)]
    return (
        statistics.median(ours_t) * 1000,
        statistics.median(theirs) * 1000,
        flags_ours(reports[-1]),
        flags_theirs(results[-1]),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per domain (default 5)")
    parser.add_argument("--quick", action="store_true", help="one run per domain")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat

    domains = [f"n{i:02}.test" for i in range(1, len(PATTERNS) + 1)]
    work = Path(tempfile.mkdtemp(prefix="postdesk-bench-newer-"))
    zones = {d: zone_for(d, i) for i, d in enumerate(domains)}
    signed = [d for i, d in enumerate(domains) if PATTERNS[i][5]]
    delegations = "".join(f"{d.split('.')[0]} IN NS ns.{d}.\n" for d in domains)
    zones["test"] = delegations + sign_zones(zones, signed, work)
    files: dict[tuple[str, str], bytes] = {}
    for i, d in enumerate(domains):
        files.update(files_for(d, i))
    pki = build_named_pki(work / "pki")
    context = pki.context(*sorted({host for host, _ in files}), "127.0.0.1")

    server = NsdServer(work / "nsd")
    (work / "nsd").mkdir(exist_ok=True)
    print(f"starting NSD with {len(zones)} zones ({len(signed)} signed) ...")
    server.serve(zones)
    try:
        with (
            HttpsSite(files, context) as site,
            delay_proxy_process(("127.0.0.1", server.port), delay=DELAY) as proxy_port,
        ):
            send_checkdmarc_downloads_to(site.port, pki.cafile)
            https = HttpsOptions(cafile=pki.cafile, port=site.port)
            loop = asyncio.new_event_loop()
            measure(loop, server.port, domains[0], https, 1)  # warm up imports and tables
            rows = [(d, *measure(loop, proxy_port, d, https, repeat)) for d in domains]
            # checkdmarc asks DNSSEC questions over TCP, which the UDP delay proxy does not
            # carry: its DNSSEC verdicts are taken straight from NSD, on loopback.
            direct = [dns.nameserver.Do53Nameserver("127.0.0.1", server.port)]
            rows = [(*row[:4], flags_theirs(run_checkdmarc(row[0], direct))) for row in rows]
            loop.close()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n== check one domain, cold, 20 ms round trip (median of {repeat} runs, ms) ==")
    print(f"{'domain':<9} {'ours':>7} {'checkdmarc':>11} {'ratio':>6}  flags: ours | checkdmarc")
    for domain, ours_ms, theirs_ms, f_ours, f_theirs in rows:
        same = "" if f_ours == f_theirs else "   <-- differs"
        print(
            f"{domain:<9} {ours_ms:>7.1f} {theirs_ms:>11.1f} {theirs_ms / ours_ms:>5.1f}x  "
            f"{f_ours} | {f_theirs}{same}"
        )
    ours_med = statistics.median(r[1] for r in rows)
    theirs_med = statistics.median(r[2] for r in rows)
    per_domain = statistics.median(r[2] / r[1] for r in rows)
    print(
        f"{'median':<9} {ours_med:>7.1f} {theirs_med:>11.1f} {theirs_med / ours_med:>5.1f}x"
        f"\nmedian of per-domain ratios (checkdmarc / ours): {per_domain:.1f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
