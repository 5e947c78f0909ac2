"""How long verifying a domain's DNS records takes, beside checkdmarc's SPF + DMARC check.

Starts NSD with 12 varied zones (SPF include chains of different depth and width, DMARC, DKIM)
plus 200 more for the batch, puts a UDP proxy in front of it that adds 10 ms each way, and measures:

* one domain, cold (no DNS cache), on loopback and at 20 ms round trip — median per domain;
* 200 domains with bounded concurrency at 20 ms;
* checkdmarc's ``check_spf`` + ``check_dmarc`` in process on the same zones, and the ratio;
* that both count the same SPF lookups on every include chain.

Run: ``.venv/bin/python benchmarks/bench_verify.py [--repeat N] [--quick]``
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

import dns.nameserver  # noqa: E402

from postdesk.core.dkimkeys import generate_dkim_key  # noqa: E402
from postdesk.core.dnscheck import count_spf_lookups, make_client, verify_many  # noqa: E402
from postdesk.core.dnscheck.dmarc import check_dmarc as our_dmarc  # noqa: E402
from postdesk.core.dnscheck.domain import VerifyJob, verify_records  # noqa: E402
from postdesk.core.dnscheck.spf import check_spf as our_spf  # noqa: E402
from postdesk.core.recordgen import build_expected_records  # noqa: E402
from support.dnsdelay import delay_proxy_process  # noqa: E402
from support.nsd import NsdServer, txt  # noqa: E402

DELAY = 0.010  # each way: 20 ms round trip
BATCH = 200
CONCURRENCY = 20

# The service side: SPF records other domains include, chains of depth 1 to 4 and a wide tree.
ESP = """
flat IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
c2 IN TXT "v=spf1 include:c2a.esp.test -all"
c2a IN TXT "v=spf1 ip4:198.51.100.0/24 -all"
c3 IN TXT "v=spf1 include:c3a.esp.test -all"
c3a IN TXT "v=spf1 include:c3b.esp.test ip4:203.0.113.0/26 -all"
c3b IN TXT "v=spf1 ip4:203.0.113.64/26 -all"
c4 IN TXT "v=spf1 include:c4a.esp.test -all"
c4a IN TXT "v=spf1 include:c4b.esp.test -all"
c4b IN TXT "v=spf1 include:c4c.esp.test -all"
c4c IN TXT "v=spf1 ip4:192.0.2.128/25 -all"
wide IN TXT "v=spf1 include:w1.esp.test include:w2.esp.test include:w3.esp.test -all"
w1 IN TXT "v=spf1 include:w1x.esp.test -all"
w2 IN TXT "v=spf1 include:w2x.esp.test -all"
w3 IN TXT "v=spf1 include:w3x.esp.test -all"
w1x IN TXT "v=spf1 ip4:192.0.2.1 -all"
w2x IN TXT "v=spf1 ip4:192.0.2.2 -all"
w3x IN TXT "v=spf1 ip4:192.0.2.3 -all"
amx IN TXT "v=spf1 a mx ip4:192.0.2.4 -all"
amx IN A 192.0.2.5
amx IN MX 10 mail.esp.test.
mail IN A 192.0.2.6
"""
# (SPF terms, DMARC record) per pattern; the SPF include list is what the domain uses.
PATTERNS = [
    ("include:flat.esp.test ~all", "v=DMARC1; p=none; rua=mailto:dmarc@{d}"),
    ("include:c2.esp.test ~all", "v=DMARC1; p=quarantine; rua=mailto:dmarc@{d}"),
    ("include:c3.esp.test -all", "v=DMARC1; p=reject; rua=mailto:r@reports.esp.test"),
    ("include:c4.esp.test ~all", "v=DMARC1; p=none"),
    ("include:wide.esp.test ~all", "v=DMARC1; p=reject; pct=50; rua=mailto:dmarc@{d}"),
    ("include:flat.esp.test include:c3.esp.test a mx ~all", "v=DMARC1; p=none; sp=reject"),
    ("redirect=c2.esp.test", "v=DMARC1; p=quarantine; adkim=s; aspf=s"),
    ("include:amx.esp.test include:c2.esp.test ~all", "v=DMARC1; p=none; fo=1"),
    ("ip4:192.0.2.77 mx -all", "v=DMARC1; p=reject; rua=mailto:r@reports.esp.test"),
    ("include:wide.esp.test include:c4.esp.test ~all", "v=DMARC1; p=none"),
    ("include:flat.esp.test include:c2.esp.test include:c3.esp.test mx ~all", "v=DMARC1; p=none"),
    ("include:c4.esp.test include:amx.esp.test a ~all", "v=DMARC1; p=reject"),
]


def zone_for(domain: str, pattern: int, key_txt: str) -> str:
    spf, dmarc = PATTERNS[pattern]
    return (
        f'_postdesk IN TXT "postdesk-verification=tok{pattern}"\n'
        f'@ IN TXT "v=spf1 {spf}"\n'
        '@ IN TXT "google-site-verification=abcdef"\n'
        "@ IN A 192.0.2.80\n@ IN MX 10 mx\nmx IN A 192.0.2.81\n"
        f"pd1._domainkey IN TXT {txt(key_txt)}\n"
        f'_dmarc IN TXT "{dmarc.format(d=domain)}"\n'
    )


def main_include(pattern: int) -> str | None:
    spf = PATTERNS[pattern][0]
    first = next((t for t in spf.split() if t.startswith(("include:", "redirect="))), None)
    return first.split(":", 1)[-1].split("=", 1)[-1] if first else None


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def run_checkdmarc(domain: str, nameservers: list[dns.nameserver.Nameserver]) -> dict:
    import checkdmarc.dmarc
    import checkdmarc.spf
    import checkdmarc.utils

    checkdmarc.utils.DNS_CACHE.clear()  # cold, like ours
    spf = checkdmarc.spf.check_spf(domain, nameservers=nameservers, timeout=2.0)
    checkdmarc.dmarc.check_dmarc(domain, nameservers=nameservers, timeout=2.0)
    return spf


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_network(
    label: str, port: int, domains: list[str], keys: dict[str, str], repeat: int
) -> list[tuple[str, float, float, float]]:
    servers = [("127.0.0.1", port)]
    nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", port)]
    loop = asyncio.new_event_loop()
    rows = []
    for i, domain in enumerate(domains):
        rows.append(measure(loop, servers, nameservers, domain, i % len(PATTERNS), keys, repeat))
    loop.close()
    print(f"\n== one domain, cold, {label} (median of {repeat} runs per domain, ms) ==")
    print(
        f"{'domain':<10} {'checkdmarc':>11} {'ours spf+dmarc':>15} {'ours verify':>12} "
        f"{'ratio (cd/verify)':>18}"
    )
    for domain, peer_ms, same_ms, full_ms in rows:
        print(
            f"{domain:<10} {peer_ms:>11.1f} {same_ms:>15.1f} {full_ms:>12.1f} "
            f"{peer_ms / full_ms:>17.1f}x"
        )
    peer_med = statistics.median(r[1] for r in rows)
    same_med = statistics.median(r[2] for r in rows)
    full_med = statistics.median(r[3] for r in rows)
    print(
        f"{'median':<10} {peer_med:>11.1f} {same_med:>15.1f} {full_med:>12.1f} "
        f"{peer_med / full_med:>17.1f}x"
    )
    print(f"ratio checkdmarc / ours on the same SPF + DMARC work: {peer_med / same_med:.1f}x")
    return rows


def measure(
    loop: asyncio.AbstractEventLoop,
    servers: list[tuple[str, int]],
    nameservers: list[dns.nameserver.Nameserver],
    domain: str,
    pattern: int,
    keys: dict[str, str],
    repeat: int,
) -> tuple[str, float, float, float]:
    """Median times (ms) of checkdmarc, our SPF + DMARC, and our whole verification."""
    expected = expected_for(domain, pattern, keys[domain])
    include = main_include(pattern)

    async def ours_full() -> object:
        client = make_client(servers)
        return await verify_records(domain, expected, spf_include=include, resolver=client)

    async def ours_spf_dmarc() -> object:
        client = make_client(servers)
        return await asyncio.gather(our_spf(client, domain), our_dmarc(client, domain))

    peer = [timed(lambda: run_checkdmarc(domain, nameservers)) for _ in range(repeat)]
    full = [timed(lambda: loop.run_until_complete(ours_full())) for _ in range(repeat)]
    same = [timed(lambda: loop.run_until_complete(ours_spf_dmarc())) for _ in range(repeat)]
    return domain, median_ms(peer), median_ms(same), median_ms(full)


def expected_for(domain: str, pattern: int, key_b64: str):
    return build_expected_records(
        domain,
        ownership_token=f"tok{pattern}",
        spf_include=main_include(pattern),
        dkim_selector="pd1",
        dkim_public_b64=key_b64,
    )


def compare_lookups(port: int, domains: list[str]) -> bool:
    nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", port)]
    client = make_client([("127.0.0.1", port)])
    print("\n== SPF lookup counts (RFC 7208 §4.6.4) ==")
    print(f"{'domain':<10} {'record':<66} {'ours':>5} {'checkdmarc':>11}")
    same = True
    for i, domain in enumerate(domains):
        ours = asyncio.run(count_spf_lookups(domain, client))
        theirs = run_checkdmarc(domain, nameservers).get("dns_lookups")
        same &= ours == theirs
        mark = "" if ours == theirs else "  <-- differs"
        print(f"{domain:<10} {PATTERNS[i][0]:<66} {ours:>5} {theirs!s:>11}{mark}")
    print("lookup counts agree on every domain" if same else "LOOKUP COUNTS DIFFER")
    return same


def bench_batch(port: int, domains: list[str], keys: dict[str, str], peer: bool) -> None:
    servers = [("127.0.0.1", port)]
    jobs = [
        VerifyJob(d, expected_for(d, i % len(PATTERNS), keys[d]), main_include(i % len(PATTERNS)))
        for i, d in enumerate(domains)
    ]
    start = time.perf_counter()
    reports = asyncio.run(verify_many(jobs, resolver=make_client(servers), concurrency=CONCURRENCY))
    ours = time.perf_counter() - start
    verified = sum(r.status == "verified" for r in reports)
    print(f"\n== {len(domains)} domains at 20 ms round trip ==")
    print(
        f"ours, verify_many (concurrency {CONCURRENCY}): {ours:.2f} s "
        f"({verified}/{len(domains)} verified)"
    )
    if peer:
        nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", port)]
        start = time.perf_counter()
        for domain in domains:
            run_checkdmarc(domain, nameservers)
        theirs = time.perf_counter() - start
        print(
            f"checkdmarc SPF + DMARC, one domain after another: {theirs:.2f} s "
            f"(ratio {theirs / ours:.1f}x)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per domain (default 5)")
    parser.add_argument("--quick", action="store_true", help="skip checkdmarc on the batch")
    args = parser.parse_args()

    keys_pool = [generate_dkim_key(2048, selector="pd1").public_b64 for _ in range(3)]
    domains = [f"d{i:02}.test" for i in range(1, len(PATTERNS) + 1)]
    batch = [f"b{i:03}.test" for i in range(BATCH)]
    keys = {d: keys_pool[i % 3] for i, d in enumerate(domains + batch)}
    zones = {"esp.test": ESP, "reports.esp.test": ""}
    zones["reports.esp.test"] = "".join(
        f'{d}._report._dmarc IN TXT "v=DMARC1"\n' for d in domains + batch
    )
    for i, d in enumerate(domains + batch):
        zones[d] = zone_for(d, i % len(PATTERNS), f"v=DKIM1; k=rsa; p={keys[d]}")

    root = Path(tempfile.mkdtemp(prefix="postdesk-bench-"))
    server = NsdServer(root)
    print(f"starting NSD with {len(zones)} zones ...")
    server.serve(zones)
    try:
        # The proxy runs in its own process so our Python work never delays its packets.
        with delay_proxy_process(("127.0.0.1", server.port), delay=DELAY) as proxy_port:
            # Warm up imports and lazily built tables so the first domain is not penalised.
            run_checkdmarc(domains[0], [dns.nameserver.Do53Nameserver("127.0.0.1", server.port)])
            warm = expected_for(domains[0], 0, keys[domains[0]])
            asyncio.run(
                verify_records(
                    domains[0],
                    warm,
                    spf_include=main_include(0),
                    resolver=make_client(server.servers),
                )
            )
            agree = compare_lookups(server.port, domains)
            bench_network("loopback", server.port, domains, keys, args.repeat)
            rows = bench_network("20 ms round trip", proxy_port, domains, keys, args.repeat)
            bench_batch(proxy_port, batch, keys, peer=not args.quick)
            per_domain = statistics.median(r[1] / r[3] for r in rows)
            of_medians = statistics.median(r[1] for r in rows) / statistics.median(
                r[3] for r in rows
            )
            verdict = "met" if per_domain >= 5 else "NOT met"
            print(
                f"\ntarget: verify one domain at 20 ms >= 5x faster than checkdmarc: {verdict} "
                f"(median of per-domain ratios {per_domain:.1f}x; ratio of medians "
                f"{of_medians:.1f}x)"
            )
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
