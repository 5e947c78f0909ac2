"""The upstream side of delivery: a domain's service and key, and pooled SMTP connections.

Each service gets a small pool of logged-in connections (as many as delivery lets send to it
at once, see ``worker``; ``CONNECTIONS_PER_SERVICE`` when used alone), kept open between
messages for ``IDLE_CLOSE`` seconds after their last use, so a busy service pays for the TCP,
STARTTLS and AUTH handshakes once per connection instead of per message. The service password
is read from the keyring only when a connection is opened; the DKIM key is read once and kept
loaded for a few minutes.

A missing secret is a local problem, never a reason to send differently: without the service's
password no connection is opened (``PasswordMissing``), and without a readable DKIM key the
domain's mail is held (``KeyUnavailable`` from ``dkimsign``).
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
from sqlalchemy import bindparam, select

from postdesk.core import secrets, tracking
from postdesk.core.errors import UserError
from postdesk.core.relay import dkimsign
from postdesk.core.relay.queue import Claimed
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, SmtpService, table_of

log = logging.getLogger(__name__)

CONNECTIONS_PER_SERVICE = 4  # parallel deliveries (and open connections) per upstream service
IDLE_CLOSE = 30.0  # seconds an unused connection stays open (servers drop idle ones after ~60)
CHECK_AFTER = 2.0  # a connection idle this long is checked with NOOP before it is used again


Refused = tuple[tuple[str, int, str], ...]  # (recipient, code, text) the upstream refused


class _Refusal(Exception):
    """A failure with, when the upstream answered, its reply code and refused recipients."""

    def __init__(self, text: str = "", *, code: int | None = None, refused: Refused = ()):
        super().__init__(text)
        self.code = code
        self.refused = refused


class TemporaryFailure(_Refusal):
    """Try again later: the reply (or what went wrong) is kept on the message."""


class ConnectionLost(TemporaryFailure):
    """The connection broke (no SMTP reply): another connection may well work."""


class Held(TemporaryFailure):
    """A local problem the user must fix (a missing secret): the domain's mail waits for it."""


class PermanentFailure(_Refusal):
    """The upstream refused the message for good: it bounces."""


Endpoint = tuple[object, ...]


@dataclass
class Upstream:
    """Everything needed to deliver one domain's mail (read once per claimed batch)."""

    domain: str
    host: str
    port: int
    security: str
    username: str
    password_ref: str | None
    pinned_sha256: str | None
    service_name: str
    tracking_host: str | None = None  # the domain's verified public tracking name, if any
    key: dkimsign.SigningKey | None = None  # always set once load_upstream returns
    one_click_unsubscribe: bool = False  # the domain's mail carries RFC 8058 headers

    @property
    def endpoint(self) -> Endpoint:
        """What a pooled connection must match to be reused (a changed service reconnects)."""
        return (
            self.host,
            self.port,
            self.security,
            self.username,
            self.password_ref,
            self.pinned_sha256,
        )


def forget_keys() -> None:
    """Drop every loaded DKIM key (the next batch reads them from the keyring again)."""
    dkimsign.forget_keys()


_DOMAINS = table_of(DedicatedDomain)
_SERVICES = table_of(SmtpService)
# Built once: read for every claimed batch.
_DOMAIN = select(
    _DOMAINS.c.id,
    _DOMAINS.c.name,
    _DOMAINS.c.service_id,
    _DOMAINS.c.dkim_selector,
    _DOMAINS.c.one_click_unsubscribe,
).where(_DOMAINS.c.id == bindparam("id"))
_SERVICE = select(
    _SERVICES.c.name,
    _SERVICES.c.host,
    _SERVICES.c.port,
    _SERVICES.c.security,
    _SERVICES.c.username,
    _SERVICES.c.secret_ref,
    _SERVICES.c.pinned_sha256,
).where(_SERVICES.c.id == bindparam("id"))


def load_upstream(store: Store, domain_id: int, service_id: int | None = None) -> Upstream:
    """The domain's service, its DKIM key and tracking address (keyring on a cache miss).

    ``service_id`` is the service an SMTP user sends through instead of the domain's (its
    removal falls back to the domain's). Raises ``Held`` when the DKIM key cannot be read: the
    mail waits rather than go unsigned.
    """
    with store.session() as s:
        conn = s.connection()
        domain = conn.execute(_DOMAIN, {"id": domain_id}).first()
        if domain is None:
            raise PermanentFailure("The domain was removed from Postdesk.")
        service = None
        for wanted in (service_id, domain.service_id):
            if wanted is not None and service is None:
                service = conn.execute(_SERVICE, {"id": wanted}).first()
        if service is None:
            raise Held(
                f"{domain.name} has no SMTP service to send through; choose one in Domain Settings."
            )
        key_ref = dkimsign.active_key(s, domain)
        address = tracking.tracking_address(s, domain)
        upstream = Upstream(
            domain=domain.name,
            host=service.host,
            port=service.port,
            security=service.security,
            username=service.username or "",
            password_ref=service.secret_ref,
            pinned_sha256=service.pinned_sha256,
            service_name=service.name,
            tracking_host=None if address is None else address.host,
            one_click_unsubscribe=bool(domain.one_click_unsubscribe),
        )
    try:
        upstream.key = dkimsign.domain_key(key_ref, upstream.domain)
    except dkimsign.KeyUnavailable as exc:
        raise Held(exc.reason) from None
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


def password_missing(service_name: str) -> str:
    """The reason shown on held messages when the service's password is not in the keyring."""
    return (
        f"Postdesk is holding this message: the password of the SMTP service '{service_name}' "
        "is missing from the keyring — re-enter it in SMTP Service → Edit."
    )


def read_password(upstream: Upstream) -> str | None:
    """The service password (keyring: blocking); ``Held`` when a login needs one and it is gone."""
    if not upstream.username:
        return None  # a service that takes mail without a login (e.g. a local smarthost)
    try:
        password = secrets.read_secret(upstream.password_ref) if upstream.password_ref else None
    except UserError as exc:
        raise Held(f"{exc.message} {exc.hint}".strip()) from None
    if not password:
        raise Held(password_missing(upstream.service_name))
    return password


async def connect(upstream: Upstream, timeout: float) -> aiosmtplib.SMTP:
    """An open, logged-in connection to the upstream service (TemporaryFailure otherwise).

    With a username configured, the connection logs in or is not used: never a silent downgrade
    to unauthenticated sending.
    """
    password = await asyncio.to_thread(read_password, upstream)
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
        if password is not None:
            # Raises when the server offers no AUTH at all: the message then waits.
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


@dataclass(frozen=True)
class Handed:
    """The upstream took the message: its reply, and the recipients it refused (if any)."""

    reply: str
    refused: Refused = ()


async def send_one(smtp: aiosmtplib.SMTP, message: Claimed, data: bytes) -> Handed:
    """Hand one message over; returns the reply, or raises Temporary/PermanentFailure."""
    # 8-bit content is announced as such (RFC 6152) when the service offers it, as the app
    # announced it to the relay; a 7-bit message needs no parameter.
    eight_bit = not data.isascii() and smtp.supports_extension("8bitmime")
    options = ["BODY=8BITMIME"] if eight_bit else []
    try:
        refused, reply = await smtp.sendmail(
            message.mail_from, message.rcpt_tos, data, mail_options=options
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        text = "; ".join(f"<{r.recipient}>: {r.code} {r.message}" for r in exc.recipients)
        every = tuple((r.recipient, r.code, r.message) for r in exc.recipients)
        if any(400 <= c < 500 for c in codes):
            raise TemporaryFailure(text, refused=every) from None
        raise PermanentFailure(text, refused=every) from None
    except aiosmtplib.SMTPServerDisconnected as exc:
        raise ConnectionLost(f"The connection to the SMTP service failed: {exc}") from None
    except aiosmtplib.SMTPResponseException as exc:
        text = f"{exc.code} {exc.message}"
        if 500 <= exc.code < 600:
            raise PermanentFailure(text, code=exc.code) from None
        raise TemporaryFailure(text, code=exc.code) from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise ConnectionLost(f"The connection to the SMTP service failed: {exc}") from None
    # aiosmtplib hands back the text of the 250 that ended DATA; the activity shows it whole.
    text = f"250 {reply}"
    if refused:
        # Some recipients were refused: the others got it, which is what "sent" means here.
        text += " (refused: " + "; ".join(f"<{r}>: {v[0]} {v[1]}" for r, v in refused.items())
        text += ")"
    return Handed(text, tuple((r, v[0], v[1]) for r, v in refused.items()))


@dataclass
class _Idle:
    smtp: aiosmtplib.SMTP
    since: float


class Pool:
    """Idle logged-in connections per service endpoint, each used by one delivery at a time."""

    def __init__(
        self,
        timeout: float,
        idle_close: float = IDLE_CLOSE,
        per_service: int = CONNECTIONS_PER_SERVICE,
    ) -> None:
        self.timeout = timeout
        self.idle_close = idle_close
        self.per_service = per_service
        self._idle: dict[Endpoint, list[_Idle]] = {}
        self.opened = 0  # connections opened so far (for the log and tests)

    async def take(self, upstream: Upstream) -> tuple[aiosmtplib.SMTP, bool]:
        """A connection to the upstream and whether it was reused (else freshly opened)."""
        idle = self._idle.get(upstream.endpoint, [])
        while idle:
            entry = idle.pop()  # the most recently used: the likeliest to be alive
            fresh = time.monotonic() - entry.since < CHECK_AFTER
            if entry.smtp.is_connected and (fresh or await _alive(entry.smtp)):
                return entry.smtp, True
            await close(entry.smtp)
        smtp = await connect(upstream, self.timeout)
        self.opened += 1
        return smtp, False

    async def give_back(self, upstream: Upstream, smtp: aiosmtplib.SMTP) -> None:
        """Keep a healthy connection for the service's next message (up to the pool's size)."""
        idle = self._idle.setdefault(upstream.endpoint, [])
        if smtp.is_connected and len(idle) < self.per_service:
            idle.append(_Idle(smtp, time.monotonic()))
        else:
            await close(smtp)

    async def close_idle(self) -> None:
        """Close connections nobody used for ``idle_close`` seconds."""
        now = time.monotonic()
        for endpoint, idle in list(self._idle.items()):
            keep = [entry for entry in idle if now - entry.since < self.idle_close]
            for entry in idle[: len(idle) - len(keep)]:  # the oldest come first
                await close(entry.smtp)
            if keep:
                self._idle[endpoint] = keep
            else:
                self._idle.pop(endpoint, None)

    async def close_all(self) -> None:
        """Close every pooled connection (the relay stops)."""
        idle, self._idle = [e for entries in self._idle.values() for e in entries], {}
        for entry in idle:
            await close(entry.smtp)


async def _alive(smtp: aiosmtplib.SMTP) -> bool:
    try:
        await smtp.noop(timeout=10)
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        return False
    return True
