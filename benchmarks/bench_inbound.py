"""Inbound messages per second: ``postdesk relay --inbound`` with SPF, DKIM and DMARC checked for
every message and each one committed before its 250.

The relay runs as its own process on a SQLite workspace (``synchronous=FULL``: the disk flush
before the 250 is real). The sender domain's SPF, DKIM key and DMARC record are served by NSD
behind a UDP proxy that holds every packet ``--delay`` seconds each way (default 10 ms, 20 ms
round trip, see BENCHMARKS.md). The relay keeps those answers for their TTL (300 s in these
zones), as a mail server behind a caching resolver does: the first messages wait for DNS, the
others of the run reuse the answers (every check still runs on every message).
``--concurrency`` clients (aiosmtplib, one process) each keep a connection and send
DKIM-signed messages until ``--messages`` are delivered. It prints messages per second, the
latency of a message (DATA sent to 250) at p50/p95, and the load average.

Mailpit, the peer, is a Go program distributed as a prebuilt binary; neither it nor a Go
toolchain recent enough to build it can be installed here (only PyPI, Debian and npm are
reachable, and no npm package carries it), so its published figure is printed instead.

    PYTHONPATH=src:tests .venv/bin/python benchmarks/bench_inbound.py [--messages 1000]
        [--concurrency 10] [--delay 0.010] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiosmtplib

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from support.dnsdelay import delay_proxy_process  # noqa: E402
from support.nsd import NsdServer  # noqa: E402
from support.reception import RECEIVING, mail, sender_zones, signed  # noqa: E402
from support.services import free_port  # noqa: E402

MAILPIT_PUBLISHED = "200-300 messages/s (Mailpit's published figure; not run here)"


def _wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the relay exited before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port}")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used (Linux ``/proc``), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def setup_workspace() -> None:
    from postdesk.core import settings
    from postdesk.core.store import open_store
    from support.reception import add_receiving_domain

    store = open_store()
    with store.session() as s:
        # One client address sends everything here: lift the per-address limits.
        settings.change(s, "inbound_messages_per_minute", 999_999)
        settings.change(s, "inbound_connections_per_ip", 1000)
    add_receiving_domain(store)
    store.close()


def start_relay(port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen(
        [sys.executable, "-m", "postdesk", "relay", "--listen", f"127.0.0.1:{free_port()}",
         "--no-tracking", "--inbound", f"127.0.0.1:{port}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _wait_port(port, process)
    return process


async def load(port: int, raws: list[bytes], concurrency: int) -> tuple[float, list[float], int]:
    """Send every message; (seconds, latencies in ms of the 250s, refusals)."""
    pending = iter(raws)
    latencies: list[float] = []
    refused = 0

    async def client() -> None:
        nonlocal refused
        smtp = aiosmtplib.SMTP(
            hostname="127.0.0.1",
            port=port,
            start_tls=False,
            timeout=60,
            local_hostname="client.sender.test",
        )
        await smtp.connect()
        for raw in pending:
            started = time.monotonic()
            try:
                await smtp.sendmail("alice@sender.test", [f"hello@{RECEIVING}"], raw)
            except aiosmtplib.SMTPException:
                refused += 1
                continue
            latencies.append((time.monotonic() - started) * 1000)
        with contextlib.suppress(aiosmtplib.SMTPException):
            await smtp.quit()

    first = time.monotonic()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.monotonic() - first, latencies, refused


def stored_count() -> dict[str, int]:
    from sqlalchemy import func, select

    from postdesk.core.store import open_store
    from postdesk.core.store.models import InboundMessage

    store = open_store()
    try:
        with store.session() as s:
            rows = s.execute(
                select(InboundMessage.dkim, func.count()).group_by(InboundMessage.dkim)
            ).all()
            return {str(k): int(n) for k, n in rows}
    finally:
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--delay", type=float, default=0.010, help="DNS delay each way (s)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="postdesk-bench-inbound-"))
    nsd_root = Path(tempfile.mkdtemp(prefix="postdesk-bench-nsd-"))
    os.environ["POSTDESK_HOME"] = str(home)
    os.environ.pop("POSTDESK_DATABASE_URL", None)
    nsd = NsdServer(nsd_root)
    relay: subprocess.Popen[bytes] | None = None
    try:
        nsd.serve(sender_zones())
        with delay_proxy_process(("127.0.0.1", nsd.port), delay=args.delay) as proxy_port:
            os.environ["POSTDESK_NAMESERVERS"] = f"127.0.0.1:{proxy_port}"
            setup_workspace()
            port = free_port()
            relay = start_relay(port)
            raws = [
                signed(mail(f"bench {n}", body=f"Order {n}: where is it?\n" * 20), "sender.test")
                for n in range(args.messages * args.rounds + 50)
            ]
            asyncio.run(load(port, raws[:50], args.concurrency))  # warm-up
            rates, p50s, p95s, cpus = [], [], [], []
            for round_no in range(args.rounds):
                chunk = raws[50 + round_no * args.messages : 50 + (round_no + 1) * args.messages]
                cpu_before = cpu_seconds(relay.pid)
                client_before = time.process_time()
                seconds, latencies, refused = asyncio.run(load(port, chunk, args.concurrency))
                cpu_after = cpu_seconds(relay.pid)
                client_cpu = (time.process_time() - client_before) * 1000 / len(chunk)
                # The relay's own CPU per message: what a busy shared machine disturbs least.
                cpu = (
                    (cpu_after - cpu_before) * 1000 / len(chunk)
                    if cpu_before is not None and cpu_after is not None
                    else float("nan")
                )
                cpus.append(cpu)
                rate = len(latencies) / seconds
                q = statistics.quantiles(latencies, n=100)
                rates.append(rate)
                p50s.append(q[49])
                p95s.append(q[94])
                print(
                    f"round {round_no + 1}: {len(latencies)}/{len(chunk)} answered 250 "
                    f"({refused} refused) in {seconds:.2f} s = {rate:.1f} msg/s; "
                    f"p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms; relay CPU {cpu:.2f} ms a message "
                    f"(the clients {client_cpu:.2f} ms)"
                )
            verdicts = stored_count()
    finally:
        if relay is not None:
            relay.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                relay.wait(15)
        nsd.stop()
        shutil.rmtree(nsd_root, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
    rate = statistics.median(rates)
    print(
        f"\nPostdesk inbound, {args.concurrency} clients, DNS {args.delay * 2000:.0f} ms round "
        f"trip, SPF+DKIM+DMARC, durable commit: median {rate:.1f} msg/s "
        f"(p50 {statistics.median(p50s):.1f} ms, p95 {statistics.median(p95s):.1f} ms); "
        f"relay CPU {statistics.median(cpus):.2f} ms a message"
    )
    print(f"stored messages by DKIM verdict: {verdicts}")
    print(f"Mailpit: {MAILPIT_PUBLISHED}; ratio against 250 msg/s: {rate / 250:.2f}x")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
