"""Servers with certificates for made-up host names: HTTPS sites and STARTTLS mail servers.

``named_pki.context("mta-sts.shop.test")`` is a server TLS context signed by a test CA made with
the same certificate helper as ``smtp_pki``; its ``cafile`` is passed to the code under test.
``https_site(files)`` serves ``{(host, path): (status, content_type, body)}`` over HTTPS on one
port for every host, choosing by the Host header, with a certificate for all those hosts.
``starttls_mx(address, names)`` starts an aiosmtpd with STARTTLS on ``address`` (any 127.x
address), all on one shared port so the port given to the check fits every MX host.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from support.services import free_port
from support.smtpd import Handler, _cert, _name

Files = dict[tuple[str, str], tuple[int, str, bytes]]


@dataclass
class NamedPki:
    """A test CA that issues server certificates for any names a test asks for."""

    root: Path
    cafile: str
    ca_key: ec.EllipticCurvePrivateKey

    def context(
        self, *names: str, days: tuple[int, int] = (-1, 365), self_signed: bool = False
    ) -> ssl.SSLContext:
        """A server TLS context with a certificate for ``names`` (expired with negative days)."""
        key = ec.generate_private_key(ec.SECP256R1())
        issuer_key = key if self_signed else self.ca_key
        issuer = None if self_signed else _name("Postdesk Test CA")
        cert = _cert(names[0], key, issuer, issuer_key, names=list(names), days=days)
        stem = f"{names[0]}-{free_port()}"
        certfile, keyfile = self.root / f"{stem}.crt", self.root / f"{stem}.key"
        certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        keyfile.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        return context


def build_named_pki(root: Path) -> NamedPki:
    """Write a test CA into ``root`` issuing certificates for any names (benchmarks use it too)."""
    root.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Postdesk Test CA", ca_key, None, ca_key, ca=True, days=(-2, 3650))
    cafile = root / "ca.pem"
    cafile.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return NamedPki(root, str(cafile), ca_key)


@pytest.fixture(scope="session")
def named_pki(tmp_path_factory: pytest.TempPathFactory) -> NamedPki:
    """A test CA (its file is ``named_pki.cafile``) issuing certificates for any host names."""
    return build_named_pki(tmp_path_factory.mktemp("named-pki"))


@pytest_asyncio.fixture
async def https_site(named_pki: NamedPki) -> AsyncIterator[Callable[..., Awaitable[int]]]:
    """Start an HTTPS server for ``files``; returns its port. ``cert_names`` overrides the
    certificate's names (default: every host in ``files``)."""
    runners: list[web.AppRunner] = []

    async def start(files: Files, cert_names: tuple[str, ...] = (), **cert: Any) -> int:
        async def serve(request: web.Request) -> web.Response:
            host = (request.host or "").split(":")[0].lower()
            status, content_type, body = files.get((host, request.path), (404, "text/plain", b""))
            return web.Response(status=status, body=body, content_type=content_type)

        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", serve)
        runner = web.AppRunner(app)
        await runner.setup()
        names = cert_names or tuple(dict.fromkeys(host for host, _ in files))
        port = free_port()
        site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=named_pki.context(*names, **cert))
        await site.start()
        runners.append(runner)
        return port

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
def starttls_mx(named_pki: NamedPki) -> Iterator[Callable[..., int]]:
    """Start STARTTLS mail servers: ``starttls_mx("127.0.0.2", ["mx2.shop.test"], port=p)``.

    ``starttls=False`` offers no STARTTLS; ``cert`` options go to ``named_pki.context``.
    Returns the port (a free one unless given, so several addresses can share one port).
    """
    controllers: list[Controller] = []

    def start(
        address: str, names: list[str], *, port: int = 0, starttls: bool = True, **cert: Any
    ) -> int:
        port = port or free_port()
        kwargs: dict[str, Any] = {"server_hostname": names[0], "ready_timeout": 10}
        if starttls:
            kwargs["tls_context"] = named_pki.context(*names, **cert)
        controller = Controller(Handler(), hostname=address, port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return port

    yield start
    for controller in controllers:
        controller.stop()
