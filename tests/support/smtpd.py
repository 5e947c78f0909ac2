"""Real SMTP servers for the tests: aiosmtpd on loopback with a test CA, TLS, AUTH and refusals.

``smtp_pki`` is a throwaway certificate authority with server certificates (good, expired, wrong
name, self-signed). ``smtp_server(...)`` starts an aiosmtpd server (plaintext, STARTTLS or implicit
TLS) and stops it after the test. ``silent_server`` accepts connections and never says a word;
``blackhole_port`` is a port whose connection queue is full, so connecting times out.
Trust in the test CA is only ever passed explicitly (a ``cafile``); system trust is not touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from support.services import free_port

SMTP_USER = "shop@example.com"
SMTP_PASSWORD = "correct horse battery staple"
APP_PASSWORD_USER = "gmail-style@example.com"
SERVER_NAME = "mail.test.example"  # the server's own name in its greeting (no DNS lookup)


# --- certificates -----------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Postdesk Tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    names: tuple[str, ...] | list[str] = (),
    ca: bool = False,
    days: tuple[int, int] = (-1, 365),
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer or _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + dt.timedelta(days=days[0]))
        .not_valid_after(now + dt.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        general: list[x509.GeneralName] = []
        for n in names:
            try:
                general.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                general.append(x509.DNSName(n))
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class TestPKI:
    """The test CA file and one certificate + key file pair per server kind."""

    __test__ = False

    root: Path
    cafile: str
    chains: dict[str, tuple[str, str]] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)

    def server_context(self, kind: str) -> ssl.SSLContext:
        """A server-side TLS context presenting the ``kind`` certificate."""
        certfile, keyfile = self.chains[kind]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        return context


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


@pytest.fixture(scope="session")
def smtp_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    """A test CA and server certificates: good, expired, wrong_name, self_signed."""
    return build_pki(tmp_path_factory.mktemp("smtp-pki"))


def build_pki(root: Path) -> TestPKI:
    """Write a test CA and its server certificates into ``root`` (also used by benchmarks)."""
    root.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _cert("Postdesk Test CA", ca_key, None, ca_key, ca=True, days=(-2, 3650))
    pki = TestPKI(root, _write(root / "ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM)))
    local = ["localhost", "127.0.0.1"]
    kinds: dict[str, dict[str, Any]] = {
        "good": {"subject": "localhost", "names": local},
        "expired": {"subject": "localhost", "names": local, "days": (-400, -35)},
        "wrong_name": {"subject": "mail.other.example", "names": ["mail.other.example"]},
        "self_signed": {"subject": "localhost", "names": local, "self_signed": True},
    }
    for kind, spec in kinds.items():
        key = ec.generate_private_key(ec.SECP256R1())
        if spec.get("self_signed"):
            cert = _cert(spec["subject"], key, None, key, names=spec["names"])
        else:
            cert = _cert(
                spec["subject"],
                key,
                ca_cert.subject,
                ca_key,
                names=spec["names"],
                days=spec.get("days", (-1, 365)),
            )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        pki.chains[kind] = (
            _write(root / f"{kind}.crt", cert.public_bytes(serialization.Encoding.PEM)),
            _write(root / f"{kind}.key", key_pem),
        )
        digest = cert.fingerprint(hashes.SHA256()).hex().upper()
        pki.fingerprints[kind] = ":".join(digest[i : i + 2] for i in range(0, 64, 2))
    return pki


# --- aiosmtpd servers -------------------------------------------------------------------------


@dataclass
class Handler:
    """An aiosmtpd handler that records messages and refuses what it is told to refuse."""

    mail_reply: str | None = None
    rcpt_reply: str | None = None
    data_reply: str | None = None
    close_at_rcpt: bool = False
    hang_at_rcpt: bool = False
    messages: list[Any] = field(default_factory=list)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.close_at_rcpt:
            server.transport.close()
            return "250 OK"  # never arrives: the connection is already gone
        if self.hang_at_rcpt:
            await asyncio.sleep(3600)  # the connection stays open; no answer ever comes
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        self.messages.append(envelope)
        return "250 2.0.0 Message accepted for delivery"


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, data: Any
) -> AuthResult:
    """Accepts SMTP_USER / SMTP_PASSWORD; APP_PASSWORD_USER always needs an app password."""
    if not isinstance(data, LoginPassword):
        return AuthResult(success=False, handled=False)
    login, password = data.login.decode(), data.password.decode()
    if login == APP_PASSWORD_USER:
        return AuthResult(
            success=False,
            handled=False,
            message="534 5.7.9 Application-specific password required.",
        )
    return AuthResult(success=login == SMTP_USER and password == SMTP_PASSWORD, handled=False)


@dataclass
class SmtpServer:
    """A running test SMTP server."""

    host: str
    port: int
    security: str
    cafile: str
    handler: Handler
    fingerprint: str | None


@pytest.fixture
def smtp_server(smtp_pki: TestPKI) -> Iterator[Callable[..., SmtpServer]]:
    """Start aiosmtpd servers: ``smtp_server(security="starttls", cert="good", auth=True, ...)``.

    ``auth=True`` requires AUTH (only over TLS, as real submission servers do); ``auth=False``
    offers none. Handler options (``mail_reply``, ``rcpt_reply``, ``data_reply``,
    ``close_at_rcpt``) make the server refuse or hang up at that step.
    """
    controllers: list[Controller] = []

    def start(
        security: str = "starttls", cert: str = "good", auth: bool = True, **handler_options: Any
    ) -> SmtpServer:
        handler = Handler(**handler_options)
        port = free_port()
        kwargs: dict[str, Any] = {"server_hostname": SERVER_NAME, "ready_timeout": 10}
        if security == "tls":
            kwargs["ssl_context"] = smtp_pki.server_context(cert)
        elif security == "starttls":
            kwargs["tls_context"] = smtp_pki.server_context(cert)
        if auth and security == "tls":
            # aiosmtpd does not count implicit TLS as TLS for auth_require_tls, so it would hide
            # AUTH; the whole connection is encrypted anyway.
            kwargs.update(authenticator=authenticator, auth_require_tls=False)
        elif auth:
            kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=True)
        else:
            # aiosmtpd always lists its built-in methods; excluding them all leaves no login.
            kwargs["auth_exclude_mechanism"] = ["LOGIN", "PLAIN"]
            kwargs["auth_require_tls"] = True
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        fingerprint = smtp_pki.fingerprints[cert] if security != "none" else None
        return SmtpServer("127.0.0.1", port, security, smtp_pki.cafile, handler, fingerprint)

    yield start
    for controller in controllers:
        controller.stop()


# --- servers that misbehave at the socket level -----------------------------------------------


@dataclass
class SilentServer:
    """Accepts connections and never answers; counts the connections still open."""

    port: int
    open_connections: int = 0
    accepted: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)


@pytest_asyncio.fixture
async def silent_server() -> AsyncIterator[SilentServer]:
    """A port that accepts and then says nothing (like TLS-first port 465 to a plain client)."""
    state = SilentServer(port=0)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.accepted += 1
        state.open_connections += 1
        try:
            while await reader.read(4096):
                pass  # swallow whatever the client sends, answer nothing
        except ConnectionError:
            pass
        finally:
            state.open_connections -= 1
            state.closed.set()
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    async with server:
        yield state
        server.close()


@pytest.fixture
def blackhole_port() -> Iterator[int]:
    """A port whose accept queue is full, so the kernel drops new connection attempts."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def endpoint_for(server: SmtpServer, **overrides: Any) -> Any:
    """An SmtpEndpoint that logs into ``server`` trusting the test CA (``overrides`` win)."""
    from postdesk.core.smtptest import SmtpEndpoint

    settings: dict[str, Any] = {
        "host": "localhost",
        "port": server.port,
        "security": server.security,
        "username": SMTP_USER,
        "password": SMTP_PASSWORD,
        "cafile": server.cafile,
        "timeout": 5,
    }
    settings.update(overrides)
    return SmtpEndpoint(**settings)
