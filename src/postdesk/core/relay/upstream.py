"""The upstream side of delivery: a domain's service and key, and pooled SMTP connections.

One logged-in connection per domain is kept open between messages and batches (for
``IDLE_CLOSE`` seconds after its last use), so a busy domain pays for the TCP, STARTTLS and AUTH
handshakes once instead of for every batch. The service password is read from the keyring only
when a connection is opened; the DKIM key is read once and kept loaded for a few minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import ssl
import time
from dataclasses import dataclass

import aiosmtplib
from sqlalchemy import select

from postdesk.core import secrets
from postdesk.core.relay import dkimsign
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, DkimKey, QueuedMessage

log = logging.getLogger(__name__)

IDLE_CLOSE = 30.0  # seconds an unused connection stays open (servers drop idle ones after ~60)
CHECK_AFTER = 2.0  # a connection idle this long is checked with NOOP before it is used again


class TemporaryFailure(Exception):
    """Try again later: the reply (or what went wrong) is kept on the message."""


class ConnectionLost(TemporaryFailure):
    """The connection broke (no SMTP reply): another connection may well work."""


class PermanentFailure(Exception):
    """The upstream refused the message for good: it bounces."""


@dataclass
class Upstream:
    """Everything needed to deliver one domain's mail (read once per batch)."""

    domain: str
    host: str
    port: int
    security: str
    username: str
    password_ref: str | None
    pinned_sha256: str | None
    service_name: str
    key: dkimsign.SigningKey | None

    @property
    def endpoint(self) -> tuple[object, ...]:
        """What a pooled connection must match to be reused (a changed service reconnects)."""
        return (self.host, self.port, self.security, self.username, self.pinned_sha256)


_keys = dkimsign.KeyCache()


def forget_keys() -> None:
    """Drop every loaded DKIM key (the next batch reads them from the keyring again)."""
    _keys.clear()


def load_upstream(store: Store, domain_id: int) -> Upstream:
    """The domain's service and its active DKIM key (keyring on a cache miss: blocking)."""
    with store.session() as s:
        domain = s.get(DedicatedDomain, domain_id)
        if domain is None:
            raise PermanentFailure("The domain was removed from Postdesk.")
        service = domain.service
        if service is None:
            raise TemporaryFailure(
                f"{domain.name} has no SMTP service to send through; choose one in Domain Settings."
            )
        keys = s.scalars(
            select(DkimKey)
            .where(DkimKey.domain_id == domain_id, DkimKey.state == "active")
            .order_by(DkimKey.created_at.desc(), DkimKey.id.desc())
        ).all()
        key = next((k for k in keys if k.selector == domain.dkim_selector), None)
        key = key or (keys[0] if keys else None)
        upstream = Upstream(
            domain=domain.name,
            host=service.host,
            port=service.port,
            security=service.security,
            username=service.username,
            password_ref=service.secret_ref,
            pinned_sha256=service.pinned_sha256,
            service_name=service.name,
            key=None,
        )
        selector, key_ref = (key.selector, key.secret_ref) if key else (None, None)
    if selector is None:
        return upstream
    upstream.key = _keys.get(upstream.domain, selector)
    if upstream.key is None and key_ref:
        try:
            pem = secrets.read_secret(key_ref)
        except secrets.SecretsUnavailable as exc:
            raise TemporaryFailure(f"{exc.message} {exc.hint}") from None
        if pem:
            upstream.key = dkimsign.load_key(upstream.domain, selector, pem)
            _keys.put(upstream.key)
    if upstream.key is None:
        log.warning(
            "the DKIM key of %s is missing from the keyring; sending unsigned", upstream.domain
        )
    return upstream


def _pin_matches(smtp: aiosmtplib.SMTP, pinned: str) -> bool:
    transport = smtp.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        return False
    digest = hashlib.sha256(der).hexdigest().upper()
    wanted = pinned.replace(":", "").replace(" ", "").upper()
    return digest == wanted


async def connect(upstream: Upstream, timeout: float) -> aiosmtplib.SMTP:
    """An open, logged-in connection to the upstream service (TemporaryFailure otherwise)."""
    try:
        password = (
            await asyncio.to_thread(secrets.read_secret, upstream.password_ref)
            if upstream.password_ref
            else None
        )
    except secrets.SecretsUnavailable as exc:
        raise TemporaryFailure(f"{exc.message} {exc.hint}") from None
    context = ssl.create_default_context()
    if upstream.pinned_sha256:
        # The user explicitly trusts this one certificate: checked by fingerprint below.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    smtp = aiosmtplib.SMTP(
        hostname=upstream.host,
        port=upstream.port,
        use_tls=upstream.security == "tls",
        start_tls=upstream.security == "starttls",
        tls_context=context,
        timeout=timeout,
    )
    where = f"'{upstream.service_name}' ({upstream.host}:{upstream.port})"
    try:
        await smtp.connect()
        if upstream.pinned_sha256 and not _pin_matches(smtp, upstream.pinned_sha256):
            raise TemporaryFailure(
                f"The SMTP service {where} presented a certificate other than the pinned one."
            )
        if upstream.username and password:
            await smtp.login(upstream.username, password)
    except aiosmtplib.SMTPAuthenticationError as exc:
        await close(smtp)
        raise TemporaryFailure(
            f"The SMTP service {where} refused Postdesk's login ({exc.code} {exc.message}); "
            "check its username and password in SMTP Service."
        ) from None
    except TemporaryFailure:
        await close(smtp)
        raise
    except (aiosmtplib.SMTPException, OSError, ssl.SSLError, TimeoutError) as exc:
        await close(smtp)
        raise TemporaryFailure(f"Could not connect to the SMTP service {where}: {exc}") from None
    return smtp


async def close(smtp: aiosmtplib.SMTP | None) -> None:
    """Say QUIT if still possible, then drop the connection; never raises."""
    if smtp is None:
        return
    with contextlib.suppress(Exception):
        if smtp.is_connected:
            await asyncio.wait_for(smtp.quit(), 5)
    with contextlib.suppress(Exception):
        smtp.close()


async def send_one(smtp: aiosmtplib.SMTP, message: QueuedMessage, data: bytes) -> str:
    """Hand one message over; returns the reply, or raises Temporary/PermanentFailure."""
    try:
        refused, reply = await smtp.sendmail(message.mail_from, message.rcpt_tos, data)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        text = "; ".join(f"<{r.recipient}>: {r.code} {r.message}" for r in exc.recipients)
        if any(400 <= c < 500 for c in codes):
            raise TemporaryFailure(text) from None
        raise PermanentFailure(text) from None
    except aiosmtplib.SMTPServerDisconnected as exc:
        raise ConnectionLost(f"The connection to the SMTP service failed: {exc}") from None
    except aiosmtplib.SMTPResponseException as exc:
        text = f"{exc.code} {exc.message}"
        if 500 <= exc.code < 600:
            raise PermanentFailure(text) from None
        raise TemporaryFailure(text) from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise ConnectionLost(f"The connection to the SMTP service failed: {exc}") from None
    text = str(reply)
    if refused:
        # Some recipients were refused: the others got it, which is what "sent" means here.
        text += " (refused: " + "; ".join(f"<{r}>: {v[0]} {v[1]}" for r, v in refused.items())
        text += ")"
    return text


@dataclass
class _Idle:
    endpoint: tuple[object, ...]
    smtp: aiosmtplib.SMTP
    since: float


class Pool:
    """At most one idle connection per domain, handed to one delivery task at a time."""

    def __init__(self, timeout: float, idle_close: float = IDLE_CLOSE) -> None:
        self.timeout = timeout
        self.idle_close = idle_close
        self._idle: dict[int, _Idle] = {}
        self.opened = 0  # connections opened so far (for the log and tests)

    async def take(self, domain_id: int, upstream: Upstream) -> tuple[aiosmtplib.SMTP, bool]:
        """A connection for the domain and whether it was reused (else freshly opened)."""
        idle = self._idle.pop(domain_id, None)
        if idle is not None:
            usable = idle.endpoint == upstream.endpoint and idle.smtp.is_connected
            fresh = time.monotonic() - idle.since < CHECK_AFTER
            if usable and (fresh or await _alive(idle.smtp)):
                return idle.smtp, True
            await close(idle.smtp)
        smtp = await connect(upstream, self.timeout)
        self.opened += 1
        return smtp, False

    async def give_back(self, domain_id: int, upstream: Upstream, smtp: aiosmtplib.SMTP) -> None:
        """Keep a healthy connection for the domain's next message (closes any older one)."""
        old = self._idle.pop(domain_id, None)
        if old is not None:
            await close(old.smtp)
        if smtp.is_connected:
            self._idle[domain_id] = _Idle(upstream.endpoint, smtp, time.monotonic())
        else:
            await close(smtp)

    async def close_idle(self) -> None:
        """Close connections nobody used for ``idle_close`` seconds."""
        now = time.monotonic()
        for domain_id, idle in list(self._idle.items()):
            if now - idle.since >= self.idle_close:
                del self._idle[domain_id]
                await close(idle.smtp)

    async def close_all(self) -> None:
        """Close every pooled connection (the relay stops)."""
        idle, self._idle = list(self._idle.values()), {}
        for entry in idle:
            await close(entry.smtp)


async def _alive(smtp: aiosmtplib.SMTP) -> bool:
    try:
        await smtp.noop(timeout=10)
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        return False
    return True
