"""How long analyzing a received message takes: 1,000 real-shaped messages, median and p95.

The messages are made from the analyzer's test fixtures (Gmail, Exchange Online, Yahoo, Fastmail,
skewed clocks, unparseable dates) with 0–8 extra ``Received`` hops each (varied hosts, addresses,
TLS and delays, some with clock skew), so no two are alike. Two measurements:

* **headers only**, nothing looked up (``analyze --no-dns``): parsing, hops, alignment, findings;
* **whole messages verified now** (with ``--signed N``, needs NSD): N messages DKIM-signed with a
  2048-bit key published in NSD, every Authentication-Results read, DKIM verified with dkimpy and
  the From domain's DNS checked — beside dkimpy's own ``dkim.verify`` on the same messages (the
  floor: the RSA check and canonicalisation every verifier pays), as a ratio.

Run: ``.venv/bin/python benchmarks/bench_analyze.py [--count 1000] [--signed 200]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from postdesk.core.analyze import analyze_message  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "messages"
SHAPES = [
    "gmail.eml",
    "outlook.eml",
    "yahoo.eml",
    "fastmail.eml",
    "skewed-clocks.eml",
    "unparseable-dates.eml",
]
TLS = [
    "with ESMTPS id {id} (version=TLS1_3 cipher=TLS_AES_256_GCM_SHA384 bits=256/256)",
    "with ESMTP id {id}",
    "with Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384)"
    " id {id}",
    "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)) with ESMTPS id {id}",
    "with LMTP id {id}",
]


def extra_hops(rng: random.Random, count: int, start: datetime) -> bytes:
    """``count`` Received headers, top (latest) first, with varied delays and some skew."""
    lines = []
    when = start
    stamps = []
    for _ in range(count):
        when += timedelta(seconds=rng.choice([0, 1, 2, 5, 40, 400, 1800]))
        stamps.append(when)
    for number, stamp in enumerate(stamps):
        shown = stamp + (
            timedelta(hours=rng.choice([-1, 23])) if rng.random() < 0.05 else timedelta()
        )
        host = f"relay{number}.hop{rng.randrange(1000)}.example.net"
        ip = f"198.51.100.{rng.randrange(1, 255)}"
        via = rng.choice(TLS).format(id=f"{rng.getrandbits(40):x}")
        lines.append(
            f"Received: from {host} ({host} [{ip}])\r\n\tby mx{number}.example.org {via}\r\n"
            f"\tfor <user@example.org>; {format_datetime(shown)}\r\n"
        )
    return "".join(reversed(lines)).encode()


def messages(count: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    bases = [
        (FIXTURES / name).read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        for name in SHAPES
    ]
    made = []
    for index in range(count):
        base = bases[index % len(bases)]
        start = datetime(2024, 3, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(100_000))
        made.append(extra_hops(rng, rng.randrange(0, 9), start) + base)
    return made


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def time_offline(batch: list[bytes]) -> list[float]:
    samples = []
    for raw in batch:
        started = time.perf_counter()
        await analyze_message(raw, check_dns=False)
        samples.append(time.perf_counter() - started)
    return samples


def report(label: str, samples: list[float]) -> None:
    print(
        f"{label}: median {statistics.median(samples) * 1000:.2f} ms, "
        f"p95 {percentile(samples, 0.95) * 1000:.2f} ms, "
        f"total {sum(samples):.2f} s for {len(samples)} messages"
    )


async def time_signed(count: int) -> None:
    import dkim

    from postdesk.core.dkimkeys import generate_dkim_key
    from postdesk.core.dnscheck import make_client
    from support.nsd import NsdServer, txt

    key = generate_dkim_key(2048, selector="pd1")
    root = Path(tempfile.mkdtemp(prefix="postdesk-bench-nsd-"))
    server = NsdServer(root)
    server.serve(
        {
            "author.test": '@ IN TXT "v=spf1 ip4:192.0.2.0/24 -all"\n'
            '_dmarc IN TXT "v=DMARC1; p=reject"\n@ IN MX 10 mx\nmx IN A 192.0.2.25\n'
            f"pd1._domainkey IN TXT {txt(key.txt_value)}\n"
        }
    )
    try:
        base = (FIXTURES / "list-original.eml").read_bytes().replace(b"\n", b"\r\n")
        rng = random.Random(11)
        batch = []
        for index in range(count):
            body = base.replace(b"Saturday", f"Saturday ({index})".encode())
            signed = dkim.sign(body, b"pd1", b"author.test", key.private_pem.encode())
            start = datetime(2024, 3, 12, tzinfo=UTC)
            batch.append(extra_hops(rng, rng.randrange(1, 6), start) + signed + body)
        keys = {b"pd1._domainkey.author.test.": key.txt_value.encode()}
        floor = []
        for raw in batch:
            started = time.perf_counter()
            dkim.verify(raw, dnsfunc=lambda name, timeout=5: keys.get(name))
            floor.append(time.perf_counter() - started)
        ours = []
        for raw in batch:
            client = make_client(server.address)
            started = time.perf_counter()
            result = await analyze_message(raw, resolver=client)
            ours.append(time.perf_counter() - started)
            assert [s.ok for s in result.signatures] == [True], result.signatures
        report("whole message, DKIM verified now + DNS check (NSD loopback)", ours)
        report("dkimpy dkim.verify alone, key in memory (the floor)", floor)
        print(f"ratio of medians: {statistics.median(ours) / statistics.median(floor):.1f}x")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--signed", type=int, default=0, help="also N whole signed messages")
    args = parser.parse_args()
    batch = messages(args.count)
    asyncio.run(time_offline(batch[:50]))  # warm-up: imports, the public suffix list
    samples = asyncio.run(time_offline(batch))
    hops = sum(raw.count(b"\nReceived:") + raw.startswith(b"Received:") for raw in batch)
    print(f"{len(batch)} messages, {hops / len(batch):.1f} Received hops on average")
    report("headers only, nothing looked up", samples)
    if args.signed:
        asyncio.run(time_signed(args.signed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
