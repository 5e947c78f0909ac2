"""Queueing accepted messages: the relay's group commit (blocking database work, in a thread).

Messages that arrive at the same moment on several sessions are checked one after another in a
single transaction, each seeing the ones before it as counted, then committed together (one
disk flush for the group) and counted, before any of them is answered 250. The group's rows go
in with a handful of prebuilt Core statements (one insert per table for the whole group): this
commit is what every sender waits for. What is decided about each message is ``accept.py``'s.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from postdesk.core import events, senders, tracking, usage
from postdesk.core.relay import headers, queue
from postdesk.core.relay.accept import (
    Outcome,
    RelayLogin,
    addresses_of,
    complete_headers,
    decoded,
    deleted_reply,
    header_problem,
    limit_reply,
    take_critical,
)
from postdesk.core.relay.groupcommit import GroupCommit
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, SmtpUser, table_of, utcnow

log = logging.getLogger(__name__)


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
        return Outcome(deleted_reply(login.deleted_reason if login else None))
    if request.header_problem:
        return Outcome(request.header_problem)
    refused = _sender_refusal(s, request, domain)
    if refused:
        return Outcome(refused)
    if total > limit:
        # Counting an earlier message of this group fires the limit rule, which deletes
        # every login: refused as a deleted login would be.
        return Outcome(deleted_reply("daily_limit"))
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
    froms = [a for value in request.block.all("From") for a in addresses_of(value) or []]
    return senders.refusal(s, row, [request.mail_from, *froms])


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
        subject=decoded(request.block.first("Subject")),
        message_id=decoded(message_id),
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
