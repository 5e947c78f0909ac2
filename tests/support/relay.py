"""A workspace ready for the relay: a verified domain with its real DKIM key published in NSD,
an SMTP user, an upstream sink (aiosmtpd with AUTH) its service points at, and relays to start
in-process or as ``postdesk relay`` subprocesses.
"""

from __future__ import annotations

import asyncio
import os
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import dkim
import dns.message
import dns.query
import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from support.services import free_port

DOMAIN = "example.com"
UPSTREAM_USER = "relay-upstream"
UPSTREAM_PASSWORD = "upstream-password-1"


class SinkHandler:
    """Records every message the relay hands over; can be told to answer 4xx/5xx for a while."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.reply: str | None = None
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reply:
            return self.reply
        with self.lock:
            self.messages.append(envelope)
        return "250 2.0.0 Ok: queued at the sink"


def _sink_auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = (
        isinstance(data, LoginPassword)
        and data.login == UPSTREAM_USER.encode()
        and data.password == UPSTREAM_PASSWORD.encode()
    )
    return AuthResult(success=ok)


@dataclass
class Sink:
    """The upstream SMTP service stand-in on 127.0.0.1 (stop() and start() keep the port)."""

    port: int
    tls_context: Any = None
    handler: SinkHandler = field(default_factory=SinkHandler)
    controller: Controller | None = None

    def start(self) -> Sink:
        kwargs: dict[str, Any] = {"authenticator": _sink_auth, "auth_require_tls": False}
        if self.tls_context is not None:
            kwargs["tls_context"] = self.tls_context
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            server_hostname="sink.test",
            ready_timeout=10,
            **kwargs,
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[Any]:
        with self.handler.lock:
            return list(self.handler.messages)

    def wait_for(self, count: int, timeout: float = 30) -> list[Any]:
        """Wait until at least ``count`` messages arrived; returns them all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.messages
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"the sink got {len(self.messages)} of {count} messages in time")

    async def await_for(self, count: int, timeout: float = 30) -> list[Any]:
        return await asyncio.to_thread(self.wait_for, count, timeout)


@dataclass
class RelayWorld:
    """Everything a relay test needs; ``username``/``password`` are the SMTP user's."""

    store: Any
    nsd: Any
    sink: Sink
    selector: str
    username: str
    password: str
    home: Path
    relays: list[Any] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def dkim_valid(self, raw: bytes) -> bool:
        """Verify a DKIM signature against the key NSD publishes (dkimpy, real DNS query)."""

        def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
            query = dns.message.make_query(name.decode().rstrip("."), "TXT")
            answer = dns.query.udp(query, "127.0.0.1", port=self.nsd.port, timeout=timeout)
            for rrset in answer.answer:
                for rdata in rrset:
                    return b"".join(rdata.strings)
            return b""

        return bool(dkim.verify(raw, dnsfunc=dnsfunc))

    def options(self, **overrides: Any) -> Any:
        from postdesk.core.relay import RelayOptions

        values: dict[str, Any] = {
            "listen_host": "127.0.0.1",
            # 0: the system picks a port at bind time (read back from relay.port and
            # relay.tracking_port), so no other process can take it between pick and bind.
            "listen_port": 0,
            "tracking_port": 0,
            "server_name": "relay.test",
            "retry_base": 0.2,
            "retry_cap": 1.0,
            "poll_interval": 0.1,
            "fail_delay": 0.05,
            "fail_delay_max": 0.2,
            "lease": 5.0,
        }
        values.update(overrides)
        return RelayOptions(**values)

    async def start_relay(self, **overrides: Any) -> Any:
        from postdesk.core.relay import Relay

        relay = Relay(self.store, self.options(**overrides))
        await relay.start()
        self.relays.append(relay)
        return relay

    def start_process(self, port: int, *, env: dict[str, str] | None = None) -> RelayProcess:
        """``postdesk relay --listen 127.0.0.1:PORT`` as a subprocess, once it accepts."""
        command = ["-m", "postdesk", "relay"]
        out = self.home / f"relay-{port}-{len(self.processes)}.log"
        child_env = {**os.environ, **(env or {})}
        child_env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(__file__).resolve().parents[2] / "src"), child_env.get("PYTHONPATH", "")]
        )
        process = subprocess.Popen(
            [
                sys.executable,
                *command,
                "--listen",
                f"127.0.0.1:{port}",
                "--no-tracking",
                "--retry-after",
                "0.2",
                "--lease",
                "3",
            ],
            stdout=out.open("wb"),
            stderr=subprocess.STDOUT,
            env=child_env,
        )
        self.processes.append(process)
        handle = RelayProcess(process, port, out)
        handle.wait_listening()
        return handle

    def send(
        self,
        port: int,
        msg: EmailMessage,
        *,
        user: str | None = None,
        password: str | None = None,
        rcpts: list[str] | None = None,
    ) -> tuple[int, bytes]:
        """Log in with smtplib (STARTTLS, AUTH) and send; returns the reply to DATA."""
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.starttls()
            client.login(user or self.username, password or self.password)
            return submit(client, msg, rcpts)


@dataclass
class RelayProcess:
    """A relay subprocess and its output file."""

    process: subprocess.Popen[bytes]
    port: int
    output: Path

    def wait_listening(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the relay exited: {self.output.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"the relay did not listen in time: {self.output.read_text()}")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def terminate(self) -> int:
        self.process.terminate()
        return self.process.wait(15)


async def wait_until(predicate: Callable[[], Any], timeout: float = 20) -> None:
    """Wait until ``predicate`` (blocking: called in a thread) is true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


def submit(
    client: smtplib.SMTP,
    msg: EmailMessage,
    rcpts: list[str] | None = None,
    envelope_from: str | None = None,
) -> tuple[int, bytes]:
    """MAIL, RCPT and DATA on a logged-in client; the first refusal's reply, or DATA's."""
    code, text = client.mail(envelope_from or str(msg["From"]).split("<")[-1].strip(">"))
    if code != 250:
        client.rset()
        return code, text
    for rcpt in rcpts or [str(msg["To"])]:
        code, text = client.rcpt(rcpt)
        if code != 250:
            client.rset()
            return code, text
    return client.data(msg.as_bytes(policy=policy.SMTP))


def message(
    subject: str,
    *,
    sender: str = f"shop@{DOMAIN}",
    to: str = "customer@client.test",
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """A small test email (plain text, optionally with an HTML alternative)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(f"Hello, this is {subject}.\n")
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


async def build_world(
    store: Any, nsd: Any, home: Path, *, tls_context: Any = None, pin: str | None = None
) -> RelayWorld:
    """The domain (real DKIM key), its upstream service, the SMTP user, and NSD's zone."""
    from postdesk.core import credentials, services
    from support.nsd import txt
    from support.workspace import add_signing_domain

    sink = Sink(free_port(), tls_context=tls_context).start()
    services.add_service(
        store,
        services.ServiceForm(
            name="Sink",
            host="127.0.0.1",
            port=sink.port,
            security="starttls" if tls_context is not None else "none",
            username=UPSTREAM_USER,
            password=UPSTREAM_PASSWORD,
            make_default=True,
        ),
    )
    if pin:
        services.pin_certificate(store, "Sink", pin)
    # The domain as Add & Verify leaves it, with its real generated key in the keyring, then
    # marked verified (the DNS checks themselves are tested elsewhere).
    with store.session() as s:
        service = services.default_service(s)
        service_id = service.id if service else None
    key = await asyncio.to_thread(add_signing_domain, store, DOMAIN, service_id)
    selector = key.selector
    nsd.serve({DOMAIN: f"{selector}._domainkey IN TXT {txt(key.txt_value)}"})
    user = await asyncio.to_thread(credentials.create_smtp_user, store, DOMAIN, "shop")
    return RelayWorld(store, nsd, sink, selector, user.username, user.password, home)


async def close_world(world: RelayWorld) -> None:
    for relay in world.relays:
        await relay.stop()
    for process in world.processes:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    world.sink.stop()


@pytest_asyncio.fixture
async def relay_world(
    secret_service: str, store: Any, nsd: Any, postdesk_home: Path
) -> AsyncIterator[RelayWorld]:
    """A verified domain, an SMTP user and a plain (AUTH, no TLS) upstream sink."""
    world = await build_world(store, nsd, postdesk_home)
    try:
        yield world
    finally:
        await close_world(world)


@pytest.fixture
def swaks() -> Iterator[str]:
    """The swaks SMTP client (Debian package)."""
    import shutil

    path = shutil.which("swaks")
    if path is None:
        from support.services import need

        need("swaks", "the swaks package is not installed (apt-get install swaks)")
    yield str(path)
