"""What the relay decides about a login and a message: blocking database work, run in a thread.

Each answer is an SMTP reply line; ``250`` only after the message was committed to the queue.

The daily limit: a message is refused when the day's count has already reached the limit. A
message that starts below the limit is accepted whole, even when its recipients take the count
past it; counting it then trips the limit rule (every SMTP credential is deleted), and every
later message — in open sessions too, because the user is re-checked at DATA — is refused.
Refusing that last message instead would mean the rule could never fire through the relay, and
counting mail that was refused would make the statistics wrong.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import secrets as _random
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser

from sqlalchemy.exc import SQLAlchemyError

from postdesk.core import credentials, tracking, usage
from postdesk.core.domains import lookup_name
from postdesk.core.relay import queue
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, SmtpUser, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RelayLogin:
    """Who is logged in on an SMTP session (``login`` is what aiosmtpd keeps as login_data)."""

    user_id: int
    domain_id: int
    domain: str
    login: str


@dataclass(frozen=True)
class Outcome:
    """The reply to DATA, and what was queued (None when refused)."""

    reply: str
    message_id: int | None = None
    limit_fired: bool = False


def check_login(store: Store, username: str, password: str) -> RelayLogin | None:
    """The live SMTP user with these credentials, or None (scrypt: takes tens of milliseconds)."""
    with store.session() as s:
        user = credentials.authenticate(s, username, password)
        if user is None:
            return None
        return RelayLogin(user.id, user.domain_id, user.domain.name, username.strip().lower())


def on_domain(address: str, domain: str) -> bool:
    """Whether an address belongs to the domain or one of its subdomains."""
    _, _, host = address.strip().strip("<>").rpartition("@")
    host = lookup_name(host)
    return bool(host) and (host == domain or host.endswith("." + domain))


def sender_problem(address: str, login: RelayLogin) -> str | None:
    """Why this envelope sender may not be used by the login (None when it may)."""
    if not address or "@" not in address:
        return (
            f"A sender address is required; send from an address @{login.domain} "
            f"(or a subdomain of it)."
        )
    if not on_domain(address, login.domain):
        return (
            f"The sender <{address}> is not on {login.domain}, the domain this login sends "
            f"for; send from an address @{login.domain} (or a subdomain of it)."
        )
    return None


def limit_reply(limit: int) -> str:
    return f"550 5.7.0 Daily sending limit of {limit:,} emails reached; resets at 00:00 UTC"


def _header_block(raw: bytes) -> tuple[bytes, bytes]:
    for sep in (b"\r\n\r\n", b"\n\n"):
        head, found, body = raw.partition(sep)
        if found:
            return head + sep[: len(sep) // 2], body
    return raw if raw.endswith(b"\n") else raw + b"\r\n", b""


def _from_problem(headers, login: RelayLogin) -> str | None:  # type: ignore[no-untyped-def]
    try:
        values = headers.get_all("From") or []
        addresses = [a for v in values for a in v.addresses]
    except (AttributeError, ValueError, IndexError):
        addresses = []
    if not addresses:
        return f"550 5.6.0 The message has no From header; add one with an address @{login.domain}"
    for address in addresses:
        if not on_domain(address.addr_spec, login.domain):
            return (
                f"553 5.7.1 The From address <{address.addr_spec}> is not on {login.domain}, "
                f"the domain this login sends for; use an address @{login.domain}"
            )
    return None


def complete_headers(raw: bytes, headers, login: RelayLogin, reply_to: str | None) -> bytes:  # type: ignore[no-untyped-def]
    """Add the Date and Message-ID a message must have (and the domain's Reply-To) if missing."""
    added: list[str] = []
    if headers.get("Date") is None:
        added.append(f"Date: {email.utils.formatdate(usegmt=True)}")
    if headers.get("Message-ID") is None:
        added.append(f"Message-ID: <{_random.token_hex(16)}@{login.domain}>")
    if reply_to and headers.get("Reply-To") is None:
        added.append(f"Reply-To: {reply_to}")
    head, body = _header_block(raw)
    # Work in CRLF throughout so the DKIM signature covers exactly what goes on the wire.
    head = head.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    extra = "".join(line + "\r\n" for line in added).encode("utf-8")
    return head + extra + b"\r\n" + body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def accept_message(
    store: Store, login: RelayLogin, mail_from: str, rcpt_tos: list[str], raw: bytes
) -> Outcome:
    """Check and queue one message; the reply says why when it is refused."""
    now = utcnow()
    headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)
    try:
        with store.session() as s:
            user = s.get(SmtpUser, login.user_id)
            if user is None or user.deleted_at is not None:
                return Outcome(_deleted_reply(user))
            problem = _from_problem(headers, login)
            if problem:
                return Outcome(problem)
            limit = usage.daily_limit(s)
            if usage.total_on(s, usage.utc_day(now)) >= limit:
                return Outcome(limit_reply(limit))
            domain = s.get(DedicatedDomain, login.domain_id)
            if domain is None:
                return Outcome(_deleted_reply(None))
            data = complete_headers(raw, headers, login, domain.reply_to)
            final = BytesHeaderParser(policy=policy.default).parsebytes(data)
            row = queue.enqueue(
                s,
                domain_id=login.domain_id,
                smtp_user_id=login.user_id,
                mail_from=mail_from,
                rcpt_tos=rcpt_tos,
                raw=data,
                subject=str(final.get("Subject", "") or ""),
                message_id=str(final.get("Message-ID", "") or ""),
                track_open=tracking.in_effect(s, login.domain_id, "open", now),
                track_click=tracking.in_effect(s, login.domain_id, "click", now),
                now=now,
            )
            queued_id = row.id
    except SQLAlchemyError:
        log.exception("could not store an accepted message")
        return Outcome("451 4.3.0 Postdesk could not store the message; please try again shortly")
    # Committed: from here on the message will be delivered whatever happens to this process.
    fired = _count(store, login, len(rcpt_tos), now)
    return Outcome(f"250 2.0.0 Queued as {queued_id}", queued_id, fired)


def _count(store: Store, login: RelayLogin, recipients: int, at: dt.datetime) -> bool:
    try:
        recorded = usage.record_sent(
            store,
            recipients=recipients,
            smtp_user_id=login.user_id,
            domain_id=login.domain_id,
            at=at,
        )
    except Exception:
        # The message is already queued; a failed count must not turn into a refusal that
        # makes the client send it twice.
        log.exception("could not count a relayed message")
        return False
    if recorded.enforced is not None:
        log.warning(
            "daily limit exceeded (%d of %d): %d SMTP logins deleted",
            recorded.enforced.sent,
            recorded.enforced.limit,
            len(recorded.enforced.deleted),
        )
        return True
    return False


def _deleted_reply(user: SmtpUser | None) -> str:
    if user is not None and user.deleted_reason == "daily_limit":
        return (
            "550 5.7.1 This SMTP login was deleted because the daily sending limit was "
            "exceeded; create a new login in SMTP Settings"
        )
    return "550 5.7.1 This SMTP login was deleted; sending with it has stopped"
