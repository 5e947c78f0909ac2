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

import dataclasses
import datetime as dt
import email.utils
import logging
import secrets as _random
from collections.abc import Sequence
from dataclasses import dataclass
from email import errors, policy

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from postdesk.core import credentials, events, senders, suppression, tracking, usage
from postdesk.core.domains import lookup_name
from postdesk.core.errors import UserError
from postdesk.core.relay import headers, queue
from postdesk.core.relay.addresses import envelope_problem, shown, smtp_safe
from postdesk.core.relay.groupcommit import GroupCommit
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, SmtpUser, table_of, utcnow

log = logging.getLogger(__name__)
_HEADER_FACTORY = policy.default.header_factory
SUPPRESSED_WHY_LIMIT = 200  # characters of the entry's reason quoted in a RCPT refusal


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
        domain = s.get(DedicatedDomain, user.domain_id)
        if domain is None:  # removed between the two reads
            return None
        return RelayLogin(user.id, user.domain_id, domain.name, username.strip().lower())


def on_domain(address: str, domain: str) -> bool:
    """Whether an address belongs to the domain or one of its subdomains."""
    _, _, host = address.strip().strip("<>").rpartition("@")
    host = lookup_name(host)
    return bool(host) and (host == domain or host.endswith("." + domain))


def sender_problem(address: str, login: RelayLogin) -> str | None:
    """The refusal of an envelope sender the login may not use (None when it may)."""
    if not address or "@" not in address:
        return (
            f"553 5.7.1 A sender address is required; send from an address @{login.domain} "
            f"(or a subdomain of it)."
        )
    problem = envelope_problem(address, "Sender")
    if problem:
        return f"553 5.1.7 {problem}"
    if not on_domain(address, login.domain):
        return (
            f"553 5.7.1 The sender <{shown(address)}> is not on {login.domain}, the domain this "
            f"login sends for; send from an address @{login.domain} (or a subdomain of it)."
        )
    return None


def recipient_problem(address: str) -> str | None:
    """The refusal of an envelope recipient no receiver could accept (None when it is fine).

    Refused here, at RCPT, so that it never sits in the queue failing over and over.
    """
    problem = envelope_problem(address, "Recipient")
    return f"553 5.1.3 {problem}" if problem else None


def suppressed_reply(store: Store, address: str, login: RelayLogin) -> str | None:
    """The refusal of a recipient on the suppression list (None when it may get mail).

    One indexed lookup per RCPT; the reply names the reason, so the sender knows what to do.
    """
    try:
        with store.engine.connect() as conn:
            entry = suppression.is_suppressed(conn, address, login.domain)
    except (SQLAlchemyError, UserError):
        log.exception("could not read the suppression list")
        return "451 4.3.0 Postdesk could not check this recipient right now; try again shortly"
    if entry is None:
        return None
    why = entry.describe()
    if len(why) > SUPPRESSED_WHY_LIMIT:
        why = why[: SUPPRESSED_WHY_LIMIT - 3].rstrip() + "..."
    scope = f" for {entry.scope}" if entry.scope else ""
    return (
        f"550 5.7.1 <{shown(address)}> is on this workspace's suppression list{scope} ({why}); "
        "remove it in Postdesk to send again"
    )


def limit_reply(limit: int) -> str:
    return f"550 5.7.0 Daily sending limit of {limit:,} emails reached; resets at 00:00 UTC"


def _addresses(value: str) -> list[str] | None:
    """The addr-specs of an address-list header value; None when receivers could misread it."""
    if any(0xDC80 <= ord(c) <= 0xDCFF for c in value):
        return None  # bytes that are not UTF-8: every receiver decodes them its own way
    parsed = _HEADER_FACTORY("from", value)
    if any(isinstance(d, errors.InvalidHeaderDefect) for d in parsed.defects):
        return None  # e.g. two addresses without a comma: parsers disagree on which counts
    return [a.addr_spec for a in parsed.addresses]


def header_problem(block: headers.HeaderBlock, login: RelayLogin) -> str | None:
    """The refusal for a header block receivers could read differently, or whose From (or
    Sender) is not on the login's domain; None when the headers are fine."""
    if block.problem:
        return f"550 5.6.0 {smtp_safe(block.problem)}; write one field per line as Name: value"
    froms = block.all("From")
    if not froms:
        return f"550 5.6.0 The message has no From header; add one with an address @{login.domain}"
    for name, values in (("From", froms), ("Sender", block.all("Sender"))):
        if len(values) > 1:
            return (
                f"550 5.7.1 The message has {len(values)} {name} headers; receivers would show "
                f"only one of them, so send it with exactly one"
            )
        for value in values:
            addresses = _addresses(value)
            if addresses is None:
                return (
                    f"550 5.6.0 The {name} header is not a list of addresses receivers read "
                    f"alike; write it as {name}: Name <name@{login.domain}>"
                )
            if not addresses:
                return f"550 5.6.0 The {name} header has no address; add one @{login.domain}"
            if name == "Sender" and len(addresses) > 1:
                return "550 5.6.0 The Sender header may name only one address"
            for address in addresses:
                if not on_domain(address, login.domain):
                    return (
                        f"553 5.7.1 The {name} address <{shown(address)}> is not on "
                        f"{login.domain}, the domain this login sends for; use an address "
                        f"@{login.domain}"
                    )
    return None


def complete_headers(
    block: headers.HeaderBlock, login: RelayLogin, reply_to: str | None
) -> tuple[bytes, str]:
    """The message with the Date and Message-ID it must have (and the domain's Reply-To) added
    at the end of its real header block, all in CRLF; and its Message-ID."""
    added: list[str] = []
    if block.first("Date") is None:
        added.append(f"Date: {email.utils.formatdate(usegmt=True)}")
    message_id = block.first("Message-ID")
    if message_id is None:
        message_id = f"<{_random.token_hex(16)}@{login.domain}>"
        added.append(f"Message-ID: {message_id}")
    if reply_to and block.first("Reply-To") is None:
        added.append(f"Reply-To: {reply_to}")
    # Work in CRLF throughout so the DKIM signature covers exactly what goes on the wire.
    extra = "".join(line + "\r\n" for line in added).encode("utf-8")
    body = block.body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return block.head_crlf() + extra + b"\r\n" + body, message_id


@dataclass
class _Request:
    """One message waiting for its group's commit."""

    login: RelayLogin
    mail_from: str
    rcpt_tos: list[str]
    block: headers.HeaderBlock
    header_problem: str | None
    now: dt.datetime
    outcome: Outcome | None = None
    # Recipients refused at RCPT for being on the suppression list, with the reply they got.
    suppressed: tuple[tuple[str, str], ...] = ()


def accept_message(
    store: Store,
    login: RelayLogin,
    mail_from: str,
    rcpt_tos: list[str],
    raw: bytes,
    *,
    suppressed: Sequence[tuple[str, str]] = (),
) -> Outcome:
    """Check and queue one message; the reply says why when it is refused.

    Group commit: messages arriving on several sessions at once are queued in one transaction
    (one disk flush) by whichever of their threads gets there first; each still gets its 250
    only after that commit.
    """
    # Parsing is CPU work: done before waiting for the database, not while holding it.
    block = headers.read(raw)
    request = _Request(login, mail_from, rcpt_tos, block, header_problem(block, login), utcnow())
    request.suppressed = tuple(suppressed)
    _grouped.submit(store, request)
    assert request.outcome is not None
    return request.outcome


def _commit(store: Store, batch: list[_Request]) -> None:
    """Queue and count a group of messages in one transaction; sets every outcome.

    Counting in the same transaction as queueing means a crash can never leave a queued message
    uncounted (or a counted one unqueued). Plain Core statements, a handful per group rather
    than per message: this is what every sender waits for before its 250.
    """
    queued: list[_Request] = []
    forget: list[str] = []
    try:
        with store.session() as s:
            conn = s.connection()
            limit = usage.daily_limit(s)
            tracked = tracking.InEffect(s)
            logins = _logins(conn, {r.login.user_id for r in batch})
            domains = _domains(conn, {r.login.domain_id for r in batch})
            totals: dict[dt.date, int] = {}
            rows: list[dict[str, object]] = []
            for request in batch:
                day = usage.utc_day(request.now)
                if day not in totals:
                    totals[day] = usage.total_on(s, day)
                domain = domains.get(request.login.domain_id)
                request.outcome = _check(
                    s, request, logins.get(request.login.user_id), domain, totals[day], limit
                )
                if request.outcome is None:
                    queued.append(request)
                    rows.append(_queue_row(request, domain, tracked))
                    # The next message in the group sees this one counted, as if it came
                    # after this one's count.
                    totals[day] += len(request.rcpt_tos)
            ids = queue.enqueue_many(conn, rows)
            _record_accepted(conn, queued, rows, ids)
            fired = _count_group(s, queued, forget, limit)
    except SQLAlchemyError:
        log.exception("could not store accepted messages")
        for request in batch:
            request.outcome = Outcome(
                "451 4.3.0 Postdesk could not store the message; please try again shortly"
            )
        return
    # Committed: from here on these messages will be delivered whatever happens to this process.
    usage.forget_secrets(store, forget)
    if queued:
        events.publish(events.Change.USAGE)  # today's count and the logins' "last used"
    if any(fired.values()):
        events.publish(events.Change.USERS)  # the daily-limit rule deleted every login
    for request, queued_id in zip(queued, ids, strict=True):
        request.outcome = Outcome(f"250 2.0.0 Queued as {queued_id}", queued_id, fired[id(request)])


@dataclass(frozen=True)
class _Login:
    """What acceptance needs of an SMTP user's row."""

    deleted: bool
    deleted_reason: str | None


@dataclass(frozen=True)
class _Domain:
    """What acceptance needs of a dedicated domain's row."""

    sender_policy: str
    reply_to: str | None


_USERS = table_of(SmtpUser)
_DOMAINS = table_of(DedicatedDomain)
_READ_LOGINS = select(_USERS.c.id, _USERS.c.deleted_at, _USERS.c.deleted_reason).where(
    _USERS.c.id.in_(bindparam("ids", expanding=True))
)
_READ_DOMAINS = select(_DOMAINS.c.id, _DOMAINS.c.sender_policy, _DOMAINS.c.reply_to).where(
    _DOMAINS.c.id.in_(bindparam("ids", expanding=True))
)


def _logins(conn: Connection, ids: set[int]) -> dict[int, _Login]:
    return {
        row.id: _Login(row.deleted_at is not None, row.deleted_reason)
        for row in conn.execute(_READ_LOGINS, {"ids": sorted(ids)})
    }


def _domains(conn: Connection, ids: set[int]) -> dict[int, _Domain]:
    return {
        row.id: _Domain(row.sender_policy, row.reply_to)
        for row in conn.execute(_READ_DOMAINS, {"ids": sorted(ids)})
    }


_grouped = GroupCommit(_commit, lambda request: request.outcome is not None)


def _count_group(
    s: Session, requests: list[_Request], forget: list[str], limit: int
) -> dict[int, bool]:
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
            limit=limit,
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


def _check(
    s: Session,
    request: _Request,
    login: _Login | None,
    domain: _Domain | None,
    total: int,
    limit: int,
) -> Outcome | None:
    """Why the message is refused (None: it may be queued), in the order a user notices."""
    if login is None or login.deleted:
        return Outcome(_deleted_reply(login.deleted_reason if login else None))
    if request.header_problem:
        return Outcome(request.header_problem)
    refused = _sender_refusal(s, request, domain)
    if refused:
        return Outcome(refused)
    if total > limit:
        # Counting an earlier message of this group fires the limit rule, which deletes
        # every login: refused as a deleted login would be.
        return Outcome(_deleted_reply("daily_limit"))
    if total >= limit:
        return Outcome(limit_reply(limit))
    return None


def _sender_refusal(s: Session, request: _Request, domain: _Domain | None) -> str | None:
    """With the domain's sender policy "listed", only confirmed sender addresses may send:
    the envelope sender and every From address."""
    if domain is None or domain.sender_policy != "listed":
        return None
    row = s.get(DedicatedDomain, request.login.domain_id)
    if row is None:
        return None
    froms = [a for value in request.block.all("From") for a in _addresses(value) or []]
    return senders.refusal(s, row, [request.mail_from, *froms])


CRITICAL_HEADER = "x-postdesk-critical"


def take_critical(block: headers.HeaderBlock) -> tuple[headers.HeaderBlock, bool]:
    """The header block without ``X-Postdesk-Critical`` (an instruction to Postdesk, never sent
    on), and whether it marked the message critical (``1``)."""
    values = block.all(CRITICAL_HEADER)
    if not values:
        return block, False
    kept: list[bytes] = []
    dropping = False
    for line in block.lines:
        if line[:1] not in (b" ", b"\t"):  # a new field; folded lines follow their field
            dropping = line.partition(b":")[0].strip().lower() == CRITICAL_HEADER.encode()
        if not dropping:
            kept.append(line)
    fields = tuple(f for f in block.fields if f.name != CRITICAL_HEADER)
    critical = any(v.strip().lower() in ("1", "yes", "true") for v in values)
    return dataclasses.replace(block, lines=tuple(kept), fields=fields), critical


def _queue_row(
    request: _Request, domain: _Domain | None, tracked: tracking.InEffect
) -> dict[str, object]:
    login = request.login
    block, critical = take_critical(request.block)
    data, message_id = complete_headers(block, login, domain.reply_to if domain else None)
    return queue.new_row(
        domain_id=login.domain_id,
        smtp_user_id=login.user_id,
        mail_from=request.mail_from,
        rcpt_tos=request.rcpt_tos,
        raw=data,
        subject=_decoded(request.block.first("Subject")),
        message_id=_decoded(message_id),
        track_open=tracked(login.domain_id, "open", request.now),
        track_click=tracked(login.domain_id, "click", request.now),
        critical=critical,
        now=request.now,
    )


def _record_accepted(
    conn: Connection, requests: list[_Request], rows: list[dict[str, object]], ids: list[int]
) -> None:
    """The first steps of the messages' activity: who sent each, from where, to whom; and the
    recipients refused at RCPT for being on the suppression list."""
    from postdesk.core import activity

    events: list[dict[str, object]] = []
    recipients: list[dict[str, object]] = []
    for request, row, message_id in zip(requests, rows, ids, strict=True):
        count = len(request.rcpt_tos)
        detail = (
            f"Accepted from SMTP user {request.login.login}: MAIL FROM <{request.mail_from}>, "
            f"{count} recipient{'s' if count != 1 else ''}"
        )
        if row["critical"]:
            detail += "; marked critical"
        recipients += activity.recipient_rows(message_id, request.rcpt_tos, request.now)
        events.append(activity.event_row(message_id, "accepted", detail=detail, at=request.now))
        if request.suppressed:
            recipients += activity.recipient_rows(
                message_id,
                [address for address, _ in request.suppressed],
                request.now,
                status="suppressed",
                reasons={address.lower(): reply for address, reply in request.suppressed},
            )
            events += [
                activity.event_row(
                    message_id, "suppressed", recipient=address, detail=reply, at=request.now
                )
                for address, reply in request.suppressed
            ]
    activity.insert_recipients(conn, recipients)
    activity.insert_events(conn, events)


def _decoded(value: str | None) -> str:
    """A header value as a user reads it (encoded words decoded), for the queue's listing."""
    if not value:
        return ""
    if value.isascii() and "=?" not in value:  # nothing to decode: the parser gives it back
        return value
    text = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return str(_HEADER_FACTORY("subject", text))


def _deleted_reply(deleted_reason: str | None) -> str:
    if deleted_reason == "daily_limit":
        return (
            "550 5.7.1 This SMTP login was deleted because the daily sending limit was "
            "exceeded; create a new login in SMTP Settings"
        )
    return "550 5.7.1 This SMTP login was deleted; sending with it has stopped"
