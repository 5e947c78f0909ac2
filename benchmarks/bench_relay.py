"""Throughput and latency of the relay against Postfix, both relaying to the same aiosmtpd sink.

The relay runs as ``postdesk relay`` (its own process, SQLite workspace with the durable queue,
DKIM signing with a real 2048-bit key from a private gnome-keyring). Postfix (Debian package)
runs from a private config and queue directory, with SASL (Cyrus, sasldb) so its clients log in
too, and relays to the same sink with SASL. It listens twice: on one port its smtpd signs every
message through OpenDKIM (Debian package; a milter, a fresh 2048-bit key, relaxed/relaxed, the
same header list as Postdesk), the usual way Postfix signs DKIM; on the other it signs nothing.
The first is the peer of the target (DKIM and a durable queue on both sides); the second is shown
beside it. The sink counts the signed messages, so a side that skipped signing would show.

Clients log in over plain SMTP on loopback and send ``--messages`` small messages over
``--concurrency`` connections, the systems taking turns (``--rounds``, after ``--warmup``
messages each); it prints each round, the medians and the ratios, and the machine's load
average (the figures mean little on a busy machine). Latency is from the client starting a
message to the sink receiving it. Bounded in count and time; not a test.

    PYTHONPATH=src:tests .venv/bin/python benchmarks/bench_relay.py [--messages 400] [--rounds 2]
        [--warmup 50] [--skip-postfix] [--skip-unsigned-postfix]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from support.relay import UPSTREAM_PASSWORD, UPSTREAM_USER, _sink_auth  # noqa: E402
from support.services import free_port, secret_service_daemon  # noqa: E402

SENDER = "shop@example.com"  # the workspace's signing domain (support/relay.py)


class TimedSink:
    """The upstream stand-in: notes when each benchmark message arrives."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.signed: set[str] = set()
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            server_hostname="sink.test",
            authenticator=_sink_auth,
            auth_require_tls=False,
        )

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        now = time.monotonic()
        content = envelope.content
        start = content.find(b"X-Bench-Id: ")
        if start >= 0:
            key = content[start + 12 : content.find(b"\r\n", start)].decode()
            # The first header, as both Postdesk and OpenDKIM add it.
            signed = content.startswith(b"DKIM-Signature:") or b"\nDKIM-Signature:" in content
            with self.lock:
                self.arrived.setdefault(key, now)
                if signed:
                    self.signed.add(key)
        return "250 2.0.0 Ok"


def _wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port}")


async def load(port: int, user: str, password: str, sink: TimedSink, args, tag: str):  # type: ignore[no-untyped-def]
    """Send the messages; returns (started per id, seconds until all arrived or the deadline)."""
    started: dict[str, float] = {}
    counter = iter(range(args.messages))
    first = time.monotonic()
    deadline = first + args.timeout

    async def client() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=30)
        await smtp.connect()
        await smtp.login(user, password)
        for i in counter:
            if time.monotonic() > deadline:
                break
            msg = EmailMessage()
            msg["From"] = SENDER
            msg["To"] = f"customer{i}@client.test"
            msg["Subject"] = f"Your order {i}"
            msg["X-Bench-Id"] = f"{tag}-{i}"
            msg.set_content("Thank you for your order.\n" * 20)
            started[f"{tag}-{i}"] = time.monotonic()
            await smtp.send_message(msg)
        await smtp.quit()

    await asyncio.gather(*(client() for _ in range(args.concurrency)))
    print(f"{tag:9} all {len(started)} accepted after {time.monotonic() - first:.2f} s")
    while time.monotonic() < deadline:
        with sink.lock:
            if all(k in sink.arrived for k in started):
                break
        await asyncio.sleep(0.02)
    with sink.lock:
        last = max((sink.arrived[k] for k in started if k in sink.arrived), default=first)
    return started, last - first


def report(name: str, started: dict[str, float], seconds: float, sink: TimedSink) -> float:
    latencies = sorted(
        (sink.arrived[k] - t) * 1000 for k, t in started.items() if k in sink.arrived
    )
    if not latencies:
        print(f"{name}: nothing arrived")
        return 0.0
    rate = len(latencies) / seconds if seconds else 0.0
    q = statistics.quantiles(latencies, n=100)
    signed = sum(1 for k in started if k in sink.signed)
    print(
        f"{name:14} {len(latencies):5d}/{len(started)} delivered ({signed} signed)  "
        f"{rate:7.1f} msg/s  p50 {q[49]:7.1f} ms  p95 {q[94]:7.1f} ms  p99 {q[98]:7.1f} ms"
    )
    return rate


def setup_workspace(home: Path) -> tuple[str, str, int]:
    """A workspace with the domain, its key, the sink service and an SMTP user."""
    from postdesk.core import secrets, settings
    from postdesk.core.store import open_store
    from support.relay import build_world

    class NoDns:  # the benchmark verifies no signatures, so nothing needs publishing
        port = 0

        def serve(self, zones: dict[str, str]) -> None:
            pass

    secrets.reset_backend()
    store = open_store()
    with store.session() as s:
        settings.put(s, "daily_limit", 1_000_000)
    world = asyncio.run(build_world(store, NoDns(), home))
    world.sink.stop()  # the benchmark's own sink takes its place
    store.close()
    return world.username, world.password, world.sink.port


def start_relay(port: int, sink_port: int) -> subprocess.Popen[bytes]:
    from postdesk.core.store import open_store
    from postdesk.core.store.models import SmtpService

    store = open_store()
    with store.session() as s:
        for service in s.query(SmtpService):
            service.port = sink_port
    store.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen(
        [sys.executable, "-m", "postdesk.cli.relay", "--listen", f"127.0.0.1:{port}",
         "--no-tracking"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _wait_port(port)
    return process


POSTFIX_MAIN = """compatibility_level = 3.6
queue_directory = {d}/spool
data_directory = {d}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = bench.test
mydomain = bench.test
myorigin = bench.test
mydestination =
mynetworks = 127.0.0.1/32
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
relayhost = [127.0.0.1]:{sink}
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
smtp_host_lookup = native
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = {d}/sasl
smtpd_tls_security_level = none
smtpd_tls_auth_only = no
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = static:{up_user}:{up_pass}
smtp_sasl_security_options = noanonymous
smtp_tls_security_level = none
milter_protocol = 6
milter_default_action = tempfail
in_flow_delay = 0s
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
alias_maps =
alias_database =
local_transport = error:no local mail
"""

POSTFIX_MASTER = """127.0.0.1:{port} inet n - n - - smtpd -o smtpd_milters=unix:{milter}
127.0.0.1:{unsigned_port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


# OpenDKIM signs what Postdesk signs: rsa-sha256, relaxed/relaxed, the same header list.
OPENDKIM_CONF = """Syslog no
Mode s
Domain {domain}
Selector bench
KeyFile {key}
Canonicalization relaxed/relaxed
SignatureAlgorithm rsa-sha256
SignHeaders {headers}
InternalHosts 127.0.0.1
RequireSafeKeys false
Socket local:{socket}
UMask 000
PidFile {d}/opendkim.pid
"""


def start_opendkim(root: Path, domain: str) -> tuple[subprocess.Popen[bytes], Path]:
    """OpenDKIM as a milter with a fresh 2048-bit key for ``domain``; returns it and its socket
    (a Unix socket, as Debian sets it up: a loopback TCP milter connection adds delays)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if not shutil.which("opendkim"):
        raise SystemExit("OpenDKIM is missing: apt-get install opendkim")
    d = root / "opendkim"
    d.mkdir()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    (d / "bench.private").write_bytes(pem)
    os.chmod(d / "bench.private", 0o600)
    socket_path = d / "opendkim.sock"
    from postdesk.core.relay.dkimsign import SIGNED_HEADERS

    headers = ",".join(SIGNED_HEADERS)
    conf = OPENDKIM_CONF.format(
        domain=domain, key=d / "bench.private", socket=socket_path, d=d, headers=headers
    )
    (d / "opendkim.conf").write_text(conf)
    process = subprocess.Popen(
        ["opendkim", "-f", "-x", str(d / "opendkim.conf")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _wait_socket(socket_path, process, 15)
    except SystemExit:
        process.kill()
        _, err = process.communicate()
        raise SystemExit(f"OpenDKIM would not start: {err.decode(errors='replace')}") from None
    return process, socket_path


def _wait_socket(path: Path, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if path.exists():
            return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on {path}")


def start_postfix(
    root: Path, ports: tuple[int, int], milter: Path, sink_port: int, user: str, password: str
) -> Path:
    """A private Postfix instance listening on ``ports`` (signed through the ``milter``
    socket, unsigned); raises SystemExit with the reason when it can't start."""
    if not shutil.which("postfix") or not shutil.which("saslpasswd2"):
        raise SystemExit("Postfix is missing: apt-get install postfix sasl2-bin libsasl2-modules")
    port, unsigned_port = ports
    d = root / "postfix"
    for sub in ("sasl", "spool", "data"):
        (d / sub).mkdir(parents=True)
    shutil.chown(d / "data", "postfix")
    (d / "main.cf").write_text(
        POSTFIX_MAIN.format(d=d, sink=sink_port, up_user=UPSTREAM_USER, up_pass=UPSTREAM_PASSWORD)
    )
    (d / "master.cf").write_text(
        POSTFIX_MASTER.format(port=port, unsigned_port=unsigned_port, milter=milter)
    )
    login, _, realm = user.partition("@")
    (d / "sasl" / "smtpd.conf").write_text(
        f"pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\n"
        f"sasldb_path: {d}/sasldb2\n"
    )
    subprocess.run(
        ["saslpasswd2", "-f", str(d / "sasldb2"), "-c", "-p", "-u", realm, login],
        input=password.encode(), check=True,
    )  # fmt: skip
    shutil.chown(d / "sasldb2", "postfix")
    os.chmod(root, 0o755)
    for cmd in (["postfix", "-c", str(d), "check"], ["postfix", "-c", str(d), "start"]):
        # postfix reports to syslog, or to stderr only on a terminal: give it one (script).
        done = subprocess.run(
            ["script", "-qec", " ".join(cmd), "/dev/null"], capture_output=True, text=True
        )
        if done.returncode:
            raise SystemExit(f"Postfix would not start: {(done.stderr + done.stdout).strip()}")
    _wait_port(port)
    _wait_port(unsigned_port)
    return d


def _load_average() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved: Postdesk, Postfix, …")
    parser.add_argument(
        "--warmup", type=int, default=50, help="messages each system gets first, not reported"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="per system, seconds")
    parser.add_argument("--skip-postfix", action="store_true")
    parser.add_argument(
        "--skip-unsigned-postfix", action="store_true", help="only Postfix with OpenDKIM"
    )
    args = parser.parse_args()
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's deprecation notes
    root = Path(tempfile.mkdtemp(prefix="postdesk-bench-relay-"))
    os.environ["POSTDESK_HOME"] = str(root / "home")
    os.environ.pop("POSTDESK_DATABASE_URL", None)
    relay = postfix_dir = opendkim = None
    rates: dict[str, list[float]] = {"Postdesk": [], "Postfix+DKIM": [], "Postfix": []}
    with secret_service_daemon() as bus:
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = bus
        os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.SecretService.Keyring"
        try:
            user, password, _ = setup_workspace(root / "home")
            sink = TimedSink()
            sink.controller.start()
            relay_port = free_port()
            relay = start_relay(relay_port, sink.port)
            postfix_ports = (free_port(), free_port())
            if not args.skip_postfix:
                opendkim, milter = start_opendkim(root, SENDER.partition("@")[2])
                postfix_dir = start_postfix(root, postfix_ports, milter, sink.port, user, password)
            print(
                f"{args.messages} messages, {args.concurrency} connections, loopback, "
                f"{args.rounds} interleaved rounds; load average {_load_average()}\n"
            )
            systems = [("Postdesk", relay_port, "relay")]
            if postfix_dir is not None:
                systems.append(("Postfix+DKIM", postfix_ports[0], "pfdkim"))
                if not args.skip_unsigned_postfix:
                    systems.append(("Postfix", postfix_ports[1], "pf"))
            # First logins, key loading and lazy imports are paid once, outside the figures.
            warm = argparse.Namespace(**{**vars(args), "messages": args.warmup})
            for _, port, tag in systems if args.warmup else []:
                asyncio.run(load(port, user, password, sink, warm, f"{tag}-warm"))
            for round_ in range(args.rounds):
                for name, port, tag in systems:
                    tag = f"{tag}{round_}"
                    started, seconds = asyncio.run(load(port, user, password, sink, args, tag))
                    rates[name].append(report(name, started, seconds, sink))
            ours = statistics.median(rates["Postdesk"])
            print(f"\nload average after: {_load_average()}")
            print(f"Postdesk median {ours:.1f} msg/s")
            for peer, what in (
                ("Postfix+DKIM", "the target's peer: DKIM and a durable queue on both sides"),
                ("Postfix", "Postfix signing nothing"),
            ):
                if rates[peer]:
                    theirs = statistics.median(rates[peer])
                    ratio = f"{ours / theirs:.2f}" if theirs else "-"
                    print(
                        f"{peer:12} median {theirs:.1f} msg/s; Postdesk / {peer}: {ratio} ({what})"
                    )
            print(
                "Postdesk signs every message with DKIM and commits it to SQLite (fsync) before "
                "answering 250; Postfix fsyncs its queue file, and on its first port OpenDKIM "
                "signs every message before Postfix answers 250."
            )
        finally:
            if relay is not None:
                relay.terminate()
                relay.wait(15)
            if postfix_dir is not None:
                subprocess.run(["postfix", "-c", str(postfix_dir), "stop"], capture_output=True)
            if opendkim is not None:
                opendkim.terminate()
                opendkim.wait(15)
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
