"""What the relay decides about a login and a message: blocking database work, run in a thread.

Each answer is an SMTP reply line; ``250`` only after the message was committed to the queue.

The daily limit: a message is refused when the day's count has already reached the limit. A
message that starts below the limit is accepted whole, even when its recipients take the count
past it; counting it then trips the limit rule (every SMTP credential is deleted), and every
later message — in open sessions too, because the user is re-checked at DATA — is refused.
Refusing that last message instead would mean the rule could never fire through the relay, and
counting mail that was refused would make the statistics wrong.

Messages that arrive at the same moment on several sessions are checked one after another in a
single transaction, each seeing the ones before it as counted, then committed together (one
disk flush for the group) and counted, before any of them is answered 250.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import secrets as _random
import threading
import weakref
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

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


@dataclass
class _Request:
    """One message waiting for its group's commit."""

    login: RelayLogin
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    headers: Any
    from_problem: str | None
    now: dt.datetime
    outcome: Outcome | None = None


class _Group:
    """Messages arriving together on one store, committed together."""

    def __init__(self) -> None:
        self.pending: list[_Request] = []
        self.pending_lock = threading.Lock()
        self.leader = threading.Lock()


_groups: weakref.WeakKeyDictionary[Store, _Group] = weakref.WeakKeyDictionary()
_groups_lock = threading.Lock()


def accept_message(
    store: Store, login: RelayLogin, mail_from: str, rcpt_tos: list[str], raw: bytes
) -> Outcome:
    """Check and queue one message; the reply says why when it is refused.

    Group commit: messages arriving on several sessions at once are queued in one transaction
    (one disk flush) by whichever of their threads gets there first; each still gets its 250
    only after that commit.
    """
    # Parsing is CPU work: done before waiting for the database, not while holding it.
    headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)
    request = _Request(
        login, mail_from, rcpt_tos, raw, headers, _from_problem(headers, login), utcnow()
    )
    with _groups_lock:
        group = _groups.setdefault(store, _Group())
    with group.pending_lock:
        group.pending.append(request)
    with group.leader:
        if request.outcome is None:  # no earlier leader took it: lead this group
            with group.pending_lock:
                batch, group.pending = group.pending, []
            with queue.writing(store):
                _commit(store, batch)
    assert request.outcome is not None
    return request.outcome


def _commit(store: Store, batch: list[_Request]) -> None:
    """Queue and count a group of messages in one transaction; sets every outcome.

    Counting in the same transaction as queueing means a crash can never leave a queued message
    uncounted (or a counted one unqueued).
    """
    queued: list[tuple[_Request, int]] = []
    forget: list[str] = []
    try:
        with store.session() as s:
            limit = usage.daily_limit(s)
            totals: dict[dt.date, int] = {}
            for request in batch:
                day = usage.utc_day(request.now)
                if day not in totals:
                    totals[day] = usage.total_on(s, day)
                request.outcome = _check(s, request, totals[day], limit)
                if request.outcome is None:
                    queued.append((request, _enqueue(s, request)))
                    # The next message in the group sees this one counted, as if it came
                    # after this one's count.
                    totals[day] += len(request.rcpt_tos)
            fired = _count_group(s, [request for request, _ in queued], forget)
    except SQLAlchemyError:
        log.exception("could not store accepted messages")
        for request in batch:
            request.outcome = Outcome(
                "451 4.3.0 Postdesk could not store the message; please try again shortly"
            )
        return
    # Committed: from here on these messages will be delivered whatever happens to this process.
    usage.forget_secrets(store, forget)
    for request, queued_id in queued:
        request.outcome = Outcome(f"250 2.0.0 Queued as {queued_id}", queued_id, fired[id(request)])


def _count_group(s: Session, requests: list[_Request], forget: list[str]) -> dict[int, bool]:
    """Count queued messages, one update per login and day; whether each count fired the rule."""
    groups: dict[tuple[int, int, dt.date], list[_Request]] = {}
    for request in requests:
        key = (request.login.user_id, request.login.domain_id, usage.utc_day(request.now))
        groups.setdefault(key, []).append(request)
    fired: dict[int, bool] = {}
    for members in groups.values():
        login = members[0].login
        recorded = usage.count_sent(
            s,
            recipients=sum(len(r.rcpt_tos) for r in members),
            smtp_user_id=login.user_id,
            domain_id=login.domain_id,
            at=members[-1].now,
        )
        forget.extend(recorded.forget)
        if recorded.enforced is not None:
            log.warning(
                "daily limit exceeded (%d of %d): %d SMTP logins deleted",
                recorded.enforced.sent,
                recorded.enforced.limit,
                len(recorded.enforced.deleted),
            )
        fired.update({id(r): recorded.enforced is not None for r in members})
    return fired


def _check(s: Session, request: _Request, total: int, limit: int) -> Outcome | None:
    """Why the message is refused (None: it may be queued), in the order a user notices."""
    login = request.login
    user = s.get(SmtpUser, login.user_id)
    if user is None or user.deleted_at is not None:
        return Outcome(_deleted_reply(user))
    if request.from_problem:
        return Outcome(request.from_problem)
    if total > limit:
        # Counting an earlier message of this group fires the limit rule, which deletes
        # every login: refused as a deleted login would be.
        return Outcome(_deleted_reply(None, daily_limit=True))
    if total >= limit:
        return Outcome(limit_reply(limit))
    return None


def _enqueue(s: Session, request: _Request) -> int:
    login = request.login
    domain = s.get(DedicatedDomain, login.domain_id)
    data = complete_headers(
        request.raw, request.headers, login, domain.reply_to if domain else None
    )
    row = queue.enqueue(
        s,
        domain_id=login.domain_id,
        smtp_user_id=login.user_id,
        mail_from=request.mail_from,
        rcpt_tos=request.rcpt_tos,
        raw=data,
        subject=str(request.headers.get("Subject", "") or ""),
        message_id=_message_id(request.headers, data),
        track_open=tracking.in_effect(s, login.domain_id, "open", request.now),
        track_click=tracking.in_effect(s, login.domain_id, "click", request.now),
        now=request.now,
    )
    return row.id


def _message_id(headers, data: bytes) -> str:  # type: ignore[no-untyped-def]
    """The Message-ID the queued message carries (complete_headers may have added it)."""
    found = headers.get("Message-ID")
    if found is None:
        head, _ = _header_block(data)
        found = BytesHeaderParser(policy=policy.default).parsebytes(head).get("Message-ID", "")
    return str(found or "")


def _deleted_reply(user: SmtpUser | None, *, daily_limit: bool = False) -> str:
    if daily_limit or (user is not None and user.deleted_reason == "daily_limit"):
        return (
            "550 5.7.1 This SMTP login was deleted because the daily sending limit was "
            "exceeded; create a new login in SMTP Settings"
        )
    return "550 5.7.1 This SMTP login was deleted; sending with it has stopped"
