"""The submission server: aiosmtpd with STARTTLS, AUTH PLAIN/LOGIN and Postdesk's checks.

It is never an open relay: every MAIL, RCPT and DATA needs a login (530 otherwise). Logins are
checked against the database in a worker thread (scrypt is slow on purpose), so the event loop
— possibly the GUI's — never waits on them.

Sessions have threads of their own (``SESSION_THREADS``), not the loop's default pool: a
session waiting for its group commit holds a thread, and with a pool of a few threads (CPUs + 4)
the next session's RCPT check queued behind those waits.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import warnings
import weakref
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from postdesk.core.relay import accept, intake
from postdesk.core.relay.accept import RelayLogin
from postdesk.core.relay.addresses import plain_angle_address, smtp_safe
from postdesk.core.relay.ratelimit import LoginLimiter
from postdesk.core.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")

SESSION_THREADS = 32  # sessions checking a recipient or waiting for their commit at once


class _KnownNotices(logging.Filter):
    """aiosmtpd's warnings about choices Postdesk makes on purpose, logged for every session:
    AUTH without TLS (offered on loopback only) and its own use of ``Session.login_data``.
    Without a filter they reach the relay's console as unexplained lines."""

    KNOWN = (
        "auth_required == True but auth_require_tls == False",
        "Session.login_data is deprecated",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(message.startswith(known) for known in self.KNOWN)


logging.getLogger("mail.log").addFilter(_KnownNotices())

WRONG_LOGIN = (
    "535 5.7.8 Wrong username or password; the username is the full login, e.g. shop@example.com"
)


class _Unchecked:
    """Credentials read by aiosmtpd, not yet checked (the check is async, aiosmtpd's is not)."""

    def __init__(self, data: LoginPassword) -> None:
        self.data = data


class RelayHandler:
    """aiosmtpd hooks: sender checks at MAIL, a recipient cap, and queueing at DATA."""

    def __init__(
        self,
        store: Store,
        *,
        max_recipients: int,
        on_queued: Callable[[int], None],
        executor: Executor | None = None,
    ) -> None:
        self.store = store
        self.max_recipients = max_recipients
        self.on_queued = on_queued
        self.executor = executor  # None: the loop's default threads

    async def call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run blocking work (database, password check) on a session thread."""
        call = functools.partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.executor, call)

    async def handle_MAIL(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        login: RelayLogin = session.auth_data
        problem = accept.sender_problem(address, login)
        if problem:
            return problem
        # BODY=8BITMIME stays in mail_options; 8-bit content passes through unchanged.
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        problem = accept.recipient_problem(address)
        if problem:
            return problem
        login: RelayLogin = session.auth_data
        refusal = await self.call(accept.suppressed_reply, self.store, address, login)
        if refusal is not None:
            # Shown in the message's activity if the message is accepted for others.
            vars(envelope).setdefault("suppressed", []).append((address, refusal))
            return refusal
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return (
                f"452 4.5.3 At most {self.max_recipients} recipients per message; "
                "send to the rest in another message"
            )
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        login: RelayLogin = session.auth_data
        outcome = await self.call(
            intake.accept_message,
            self.store,
            login,
            envelope.mail_from,
            list(envelope.rcpt_tos),
            bytes(envelope.original_content),
            suppressed=list(vars(envelope).get("suppressed", ())),
        )
        if outcome.message_id is not None:
            self.on_queued(outcome.message_id)
        return outcome.reply


class RelaySMTP(SMTP):
    """aiosmtpd's protocol with asynchronous login checks, throttling and clearer size replies."""

    def __init__(
        self, handler: RelayHandler, *, store: Store, limiter: LoginLimiter, **kwargs: Any
    ) -> None:
        with warnings.catch_warnings():
            # On loopback AUTH is offered without TLS on purpose; aiosmtpd warns about that.
            warnings.simplefilter("ignore")
            super().__init__(handler, **kwargs)
        self._store = store
        self._limiter = limiter

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        plain = plain_angle_address(arg)
        if plain is None:
            return super()._getaddr(arg)
        local = plain[0].rpartition("@")[0]
        if self.local_part_limit and len(local) > self.local_part_limit:
            return None, None
        return plain

    def _peer_ip(self) -> str:
        peer = self.session.peer if self.session is not None else None
        return str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"

    async def _handle_client(self) -> None:
        wait = self._limiter.banned_for(self._peer_ip())
        if wait > 0:
            await self.push(f"421 4.7.0 {_ban_text(wait)}")
            if self.transport is not None:
                self.transport.close()
            return
        await super()._handle_client()

    async def push(self, status: Any) -> None:
        if isinstance(status, str):
            if status.startswith("552 Error"):
                limit_mb = (self.data_size_limit or 0) / (1024 * 1024)
                status = (
                    f"552 5.3.4 The message is larger than the {limit_mb:g} MB limit; "
                    "send large files as a link instead"
                )
            else:
                status = _CLEARER.get(status, status)
            # Replies are ASCII (no SMTPUTF8): an echoed character must never break one.
            status = smtp_safe(status, 510)
        await super().push(status)

    def _authenticate(self, mechanism: str, auth_data: Any) -> AuthResult:
        # Called synchronously by aiosmtpd's PLAIN/LOGIN parsers: only hand the data on.
        return AuthResult(success=True, handled=False, auth_data=_Unchecked(auth_data))

    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._check(await super().auth_PLAIN(_, args))

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:
        return await self._check(await super().auth_LOGIN(_, args))

    async def _check(self, result: AuthResult) -> AuthResult:
        if not result.success or not isinstance(result.auth_data, _Unchecked):
            return result
        ip = self._peer_ip()
        # Counted before the check, so parallel guesses cannot all reach the slow password check.
        wait = self._limiter.admit(ip)
        if wait > 0:
            return AuthResult(success=False, handled=False, message=f"454 4.7.0 {_ban_text(wait)}")
        data = result.auth_data.data
        username = data.login.decode("utf-8", "replace")
        password = data.password.decode("utf-8", "replace")
        try:
            handler: RelayHandler = self.event_handler
            login = await handler.call(accept.check_login, self._store, username, password)
        except Exception:
            self._limiter.withdraw(ip)
            log.exception("could not check a login")
            return AuthResult(
                success=False,
                handled=False,
                message="454 4.7.0 Postdesk could not check the login right now; try again",
            )
        if login is None:
            delay = self._limiter.failure(ip)
            log.info("failed relay login from %s", ip)
            await asyncio.sleep(delay)  # slows down guessing; other sessions go on meanwhile
            return AuthResult(success=False, handled=False, message=WRONG_LOGIN)
        self._limiter.success(ip)
        return AuthResult(success=True, handled=False, auth_data=login)


# aiosmtpd's own refusals of what this relay does not offer, in words a user can act on.
_CLEARER = {
    "501 Error: SMTPUTF8 disabled": (
        "555 5.6.7 This relay does not offer SMTPUTF8; send with ASCII addresses "
        "(an international domain in its xn-- form)"
    ),
    "553 5.1.3 Error: malformed address": (
        "553 5.1.3 That is not an email address receivers accept; write it as name@example.com"
    ),
    "500 Error: strict ASCII mode": (
        "553 5.6.7 Non-ASCII characters in a command are not supported (no SMTPUTF8); "
        "use ASCII addresses (an international domain in its xn-- form)"
    ),
}


def _ban_text(wait: float) -> str:
    minutes = max(1, round(wait / 60))
    return (
        f"Too many failed logins from your address; try again in {minutes} minute"
        f"{'s' if minutes != 1 else ''}"
    )


async def start_smtp_server(
    handler: RelayHandler,
    *,
    store: Store,
    limiter: LoginLimiter,
    host: str,
    port: int,
    tls_context: ssl.SSLContext,
    require_tls_for_auth: bool,
    server_name: str,
    max_message_bytes: int,
    connections: weakref.WeakSet[RelaySMTP] | None = None,
) -> asyncio.Server:
    """Listen on the running loop (the GUI's, embedded) and serve each connection."""
    loop = asyncio.get_running_loop()

    def factory() -> RelaySMTP:
        protocol = RelaySMTP(
            handler,
            store=store,
            limiter=limiter,
            hostname=server_name,  # never socket.getfqdn(): that may ask DNS for every client
            ident="Postdesk relay",
            tls_context=tls_context,
            data_size_limit=max_message_bytes,
            auth_required=True,
            auth_require_tls=require_tls_for_auth,
            timeout=300,
            loop=loop,
        )
        if connections is not None:
            connections.add(protocol)  # so stop() can close sessions still open
        return protocol

    return await loop.create_server(factory, host=host, port=port)
