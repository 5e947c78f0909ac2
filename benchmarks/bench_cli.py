"""Command-line commands as a user runs them: whole processes, side by side with their peers.

Rows, each printed with both sides and the ratio:

* `postdesk service list --json`, `domain list --json` and `usage --json` (a workspace with one
  service and one domain) against `postdesk --version`, the floor of any Postdesk command
  (target: at most 2x);
* `postdesk check DOMAIN` against checkdmarc checking the same domain in its own process
  (`checkdmarc.check_domains`, the work behind its command line, pointed at the same server),
  both asking a local NSD on loopback (target: Postdesk at least 3x faster).

Runs are interleaved (A B A B …) after a warm-up; medians, and the load average before and after.
Each side runs as a user installs it (``uservenv.py``): Postdesk from its package in a venv of its
own, started with its ``postdesk`` command, and checkdmarc 6.0.4 in another; ``--dev-venv`` runs
both with this interpreter instead (the development venv: an editable install and the test
tools). Needs NSD (Debian package) and, the first time, the package index (pip).

    .venv/bin/python benchmarks/bench_cli.py [--runs 9] [--listings-only] [--compare SRC]
        [--dev-venv]

``--compare SRC`` adds Postdesk run from another source tree (``SRC`` first on ``PYTHONPATH``) to
every row, interleaved in the same rounds, to compare code before and after a change.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "benchmarks")]

DOMAIN = "shop.test"
ZONE = """
@ IN MX 10 mx.shop.test.
mx IN A 192.0.2.25
@ IN TXT "v=spf1 include:_spf.esp.shop.test ~all"
_spf.esp IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
_dmarc IN TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@shop.test"
pd1._domainkey IN TXT "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu"
"""

CHECKDMARC_PACKAGE = "checkdmarc==6.0.4"
CHECKDMARC = """
import sys, dns.nameserver, checkdmarc
checkdmarc.check_domains([sys.argv[1]], nameservers=[dns.nameserver.Do53Nameserver(
    "127.0.0.1", int(sys.argv[2]))], skip_tls=True, timeout=2.0)
"""

FILL = """
from postdesk.core.store import open_store
from postdesk.core.store.models import DedicatedDomain, SmtpService
with open_store().session() as s:
    service = SmtpService(name="SendGrid", host="smtp.sendgrid.net", port=587,
                          security="starttls", username="apikey", secret_ref="bench-none",
                          spf_include="sendgrid.net")
    s.add(service)
    s.add(DedicatedDomain(name="shop.example", ownership_token="t", service=service))
"""


def _time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):  # check exits 1 when it finds problems
        raise SystemExit(f"{argv[1:4]} failed ({done.returncode}): {done.stderr.decode()[-800:]}")
    return elapsed


def _side_by_side(
    title: str, ours: tuple, peer: tuple, runs: int, faster: bool, other_src: str | None = None
) -> None:
    sides = [ours, peer]
    if other_src:  # Postdesk from another source tree, run with the same arguments
        sides.append((ours[0], {**ours[1], "PYTHONPATH": str(Path(other_src).resolve())}))
    for argv, env in sides:
        _time(argv, env)  # warm-up
    times: list[list[float]] = [[] for _ in sides]
    for _ in range(runs):
        for side, spent in zip(sides, times, strict=True):
            spent.append(_time(*side))
    ours_ms, peer_ms = (statistics.median(t) * 1000 for t in times[:2])
    print(title)
    print(f"  Postdesk {ours_ms:7.0f} ms   peer {peer_ms:7.0f} ms")
    _ratio(ours_ms, peer_ms, faster)
    if other_src:
        other_ms = statistics.median(times[2]) * 1000
        print(f"  --compare tree {other_ms:7.0f} ms")
        _ratio(other_ms, peer_ms, faster)


def _ratio(ours_ms: float, peer_ms: float, faster: bool) -> None:
    if faster:
        speed = peer_ms / ours_ms
        how = f"{speed:.2f}x faster" if speed >= 1 else f"{1 / speed:.2f}x slower"
        print(f"  Postdesk is {how} (target: at least 3x faster)")
    else:
        print(f"  ratio {ours_ms / peer_ms:.2f}x the peer's time (target: at most 2x)")


def main() -> int:
    from support.nsd import NsdServer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--listings-only", action="store_true", help="skip the check row")
    parser.add_argument("--compare", metavar="SRC", help="also time Postdesk from this src tree")
    parser.add_argument("--dev-venv", action="store_true", help="run both sides in this venv")
    args = parser.parse_args()
    if args.dev_venv:
        postdesk, peer_python = [sys.executable, "-m", "postdesk"], sys.executable
    else:
        from uservenv import peer_python as peer_venv
        from uservenv import project_python

        postdesk = [str(Path(project_python()).with_name("postdesk"))]
        peer_python = peer_venv(CHECKDMARC_PACKAGE)
    load_before = os.getloadavg()[0]
    env = {**os.environ, "POSTDESK_HOME": tempfile.mkdtemp(prefix="postdesk-bench-")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"  # listing needs no secret
    subprocess.run([sys.executable, "-c", FILL], env=env, check=True)
    for listing in (["service", "list"], ["domain", "list"], ["usage"]):
        _side_by_side(
            f"{' '.join(listing)} --json (one service, one domain) vs --version, whole process",
            ([*postdesk, *listing, "--json"], env),
            ([*postdesk, "--version"], env),
            args.runs,
            faster=False,
            other_src=args.compare,
        )
    if args.listings_only:
        return _load(load_before)
    server = NsdServer(Path(tempfile.mkdtemp(prefix="postdesk-bench-nsd-")))
    server.serve({DOMAIN: ZONE})
    try:
        dns_env = {**env, "POSTDESK_NAMESERVERS": f"127.0.0.1:{server.port}"}
        _side_by_side(
            f"check {DOMAIN} vs checkdmarc on the same domain, whole process, NSD on loopback",
            # Neither side tries the MX hosts' STARTTLS (checkdmarc: skip_tls).
            ([*postdesk, "check", DOMAIN, "--no-mx-tls"], dns_env),
            ([peer_python, "-c", CHECKDMARC, DOMAIN, str(server.port)], dns_env),
            args.runs,
            faster=True,
            other_src=args.compare,
        )
    finally:
        server.stop()
    return _load(load_before)


def _load(before: float) -> int:
    print(f"load average {before:.1f} before, {os.getloadavg()[0]:.1f} after")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
