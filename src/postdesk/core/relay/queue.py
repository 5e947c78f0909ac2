"""The relay's durable queue: accepted messages wait here until delivered or bounced.

Email promises no order, so a worker claims any ready messages, oldest first: a message waiting
for its retry never holds back the others, of its domain or any other. Claims are leases: a
message claimed by a process that died is claimed again when the lease has run out. Outcomes
are written in groups (:func:`record_outcomes`): one transaction for every message that
finished while the previous one was being committed.

On SQLite, only one transaction writes at a time; a writer that finds the database busy sleeps
and polls (up to 100 ms a time), which adds far more delay than the write itself. The relay's
own writes therefore queue up on an in-process lock (:func:`writing`) and reach SQLite one
after another; other processes still meet SQLite's busy timeout as before.
"""

from __future__ import annotations

import datetime as dt
import secrets as _random
import threading
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session

from postdesk.core.activity import delivery as activity_delivery
from postdesk.core.store import Store
from postdesk.core.store.models import (
    DedicatedDomain,
    QueuedMessage,
    TrackingEvent,
    table_of,
    utcnow,
)

STATUSES = ("pending", "sending", "sent", "bounced")
UNFINISHED = ("pending", "sending")
_QUEUE = table_of(QueuedMessage)
_Q = _QUEUE.c
# Still claimed by the worker named in the statement's ``worker`` value (its lease not lost).
_HELD_BY_WORKER = and_(_Q.status == "sending", _Q.claimed_by == bindparam("worker"))
_LISTED = _Q.id.in_(bindparam("ids", expanding=True))


_write_locks: weakref.WeakKeyDictionary[Store, threading.Lock] = weakref.WeakKeyDictionary()
_locks_lock = threading.Lock()


@contextmanager
def writing(store: Store) -> Iterator[None]:
    """Hold this process's SQLite write turn (blocking: only in worker threads); no-op elsewhere."""
    if store.dialect != "sqlite":
        yield
        return
    with _locks_lock:
        lock = _write_locks.setdefault(store, threading.Lock())
    with lock:
        yield


@contextmanager
def bookkeeping(store: Store) -> Iterator[Connection]:
    """A write transaction for delivery's own records (claims, leases, outcomes).

    On SQLite it commits without waiting for the disk flush (``synchronous=NORMAL`` for this
    transaction only): a process killed at any moment loses none of it, and what a power cut
    could lose is harmless — a claim (the message is claimed again) or a "sent" mark (the
    message is sent again: at least once, never lost). Accepting keeps the full flush before
    its 250. The flushes saved are what the accepting side waits for.
    """
    if store.dialect != "sqlite":
        with store.session() as s:
            yield s.connection()
        return
    with writing(store), store.engine.connect() as conn:
        # Straight on the driver's connection, outside any transaction: no SQLAlchemy round trip.
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.execute("PRAGMA synchronous=NORMAL")
        try:
            with conn.begin():
                yield conn
        finally:
            raw.execute("PRAGMA synchronous=FULL")


@dataclass(frozen=True)
class Claim:
    """Claimed messages of one domain (oldest first) that a worker may now deliver."""

    domain_id: int
    ids: list[int]
    sizes: tuple[int, ...] = ()  # the messages' sizes in bytes, in the order of ids


@dataclass(frozen=True)
class MessageInfo:
    """One line of the queue view."""

    id: int
    domain: str
    mail_from: str
    rcpt_tos: list[str]
    subject: str
    size: int
    status: str
    attempts: int
    accepted_at: dt.datetime
    next_attempt_at: dt.datetime | None
    sent_at: dt.datetime | None
    last_reply: str | None
    opens: int
    clicks: int

    def as_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def new_row(
    *,
    domain_id: int,
    smtp_user_id: int | None,
    mail_from: str,
    rcpt_tos: list[str],
    raw: bytes,
    subject: str = "",
    message_id: str = "",
    track_open: bool = False,
    track_click: bool = False,
    critical: bool = False,
    source: str = "relay",
    now: dt.datetime | None = None,
) -> dict[str, object]:
    """The queue row of an accepted message, ready to send, for :func:`enqueue_many`."""
    now = now or utcnow()
    return {
        "domain_id": domain_id,
        "smtp_user_id": smtp_user_id,
        "mail_from": mail_from,
        "rcpt_tos": list(rcpt_tos),
        "subject": subject[:300],
        "message_id_header": message_id[:300],
        "raw": raw,
        "size": len(raw),
        "accepted_at": now,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "track_open": track_open,
        "track_click": track_click,
        "critical": critical,
        "source": source,
        "tracking_token": _random.token_urlsafe(18),
        "tracking_key": _random.token_hex(32),
    }


def enqueue(session: Session, **fields: Any) -> QueuedMessage:
    """Add an accepted message in the caller's transaction (durable once that commits);
    ``fields`` are :func:`new_row`'s."""
    row = QueuedMessage(**new_row(**fields))
    session.add(row)
    session.flush()
    return row


_INSERT_MANY = _QUEUE.insert().returning(_QUEUE.c.id, sort_by_parameter_order=True)


def enqueue_many(conn: Connection, rows: list[dict[str, object]]) -> list[int]:
    """Add accepted messages (rows from :func:`new_row`) in one statement, on the caller's
    transaction; their ids, in the order of ``rows``."""
    if not rows:
        return []
    return list(conn.execute(_INSERT_MANY, rows).scalars())


# Built once: a busy relay claims many times a second. ``now`` is a bound value.
_READY = or_(
    and_(_Q.status == "pending", _Q.next_attempt_at <= bindparam("now")),
    and_(_Q.status == "sending", _Q.claimed_until < bindparam("now")),
)
_CANDIDATES = select(_Q.id, _Q.size).where(_READY).order_by(_Q.id)
_CANDIDATES_LOCKED = _CANDIDATES.with_for_update(skip_locked=True)
_TAKE = (
    update(_QUEUE)
    .where(_LISTED, _READY)
    .values(status="sending", claimed_by=bindparam("worker"), claimed_until=bindparam("until"))
    .returning(_Q.id, _Q.domain_id, _Q.size)
)


def claim(
    store: Store,
    worker: str,
    *,
    lease: float,
    batch_size: int,
    max_bytes: int | None = None,
    now: dt.datetime | None = None,
) -> list[Claim]:
    """Claim up to ``batch_size`` ready messages (and ``max_bytes``), grouped by domain.

    Two workers never hold the same message: on PostgreSQL the candidates are row-locked and
    others skip them; everywhere the update re-checks readiness and reports what it took.
    """
    now = now or utcnow()
    candidates = _CANDIDATES_LOCKED if store.dialect == "postgresql" else _CANDIDATES
    with bookkeeping(store) as s:
        wanted: list[int] = []
        total = 0
        for message_id, size in s.execute(candidates.limit(batch_size), {"now": now}).all():
            total += size
            if wanted and max_bytes is not None and total > max_bytes:
                break
            wanted.append(message_id)
        if not wanted:
            return []
        until = now + dt.timedelta(seconds=lease)
        params = {"ids": wanted, "now": now, "worker": worker, "until": until}
        taken = s.execute(_TAKE, params).all()
    by_domain: dict[int, list[tuple[int, int]]] = {}
    for message_id, domain_id, size in sorted(taken):
        by_domain.setdefault(domain_id, []).append((message_id, size))
    return [
        Claim(domain_id, [i for i, _ in run], tuple(n for _, n in run))
        for domain_id, run in by_domain.items()
    ]


def load(store: Store, message_id: int, worker: str | None = None) -> QueuedMessage | None:
    """A queued message (detached); with ``worker``, only while that worker still holds it."""
    with store.session() as s:
        row = s.get(QueuedMessage, message_id)
        if row is None:
            return None
        if worker is not None and (row.status != "sending" or row.claimed_by != worker):
            return None
        return row


@dataclass(frozen=True, slots=True)
class Claimed:
    """What delivery needs of a claimed message."""

    id: int
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes = field(repr=False)
    track_open: bool
    track_click: bool
    tracking_token: str
    tracking_key: str = field(repr=False)


_HELD_BY = select(*(_Q[name] for name in Claimed.__dataclass_fields__)).where(
    _LISTED, _HELD_BY_WORKER
)


def load_many(store: Store, ids: list[int], worker: str) -> dict[int, Claimed]:
    """Several claimed messages in one query, keyed by id; those the worker no longer holds
    are missing."""
    if not ids:
        return {}
    with store.engine.connect() as conn:
        rows = conn.execute(_HELD_BY, {"ids": ids, "worker": worker}).all()
    return {row.id: Claimed(*row) for row in rows}


def _finish(store: Store, message_id: int, worker: str, **values: object) -> bool:
    with writing(store), store.session() as s:
        result = s.execute(
            update(QueuedMessage)
            .where(
                QueuedMessage.id == message_id,
                QueuedMessage.status == "sending",
                QueuedMessage.claimed_by == worker,
            )
            .values(claimed_by=None, claimed_until=None, **values)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def mark_sent(store: Store, message_id: int, worker: str, reply: str) -> bool:
    """The upstream service took the message."""
    now = utcnow()
    return _finish(
        store,
        message_id,
        worker,
        status="sent",
        sent_at=now,
        last_reply=reply,
        attempts=QueuedMessage.attempts + 1,
    )


def mark_bounced(store: Store, message_id: int, worker: str, reply: str) -> bool:
    """The upstream refused the message for good (or it was too old): it will not be retried."""
    return _finish(
        store,
        message_id,
        worker,
        status="bounced",
        last_reply=reply,
        attempts=QueuedMessage.attempts + 1,
    )


def mark_retry(
    store: Store,
    message_id: int,
    worker: str,
    reply: str,
    *,
    base: float,
    cap: float,
    max_age: float,
    now: dt.datetime | None = None,
) -> str:
    """A temporary failure: schedule the next attempt (doubling delay), or bounce when too old.

    Returns the new status (``pending`` or ``bounced``).
    """
    now = now or utcnow()
    with writing(store), store.session() as s:
        row = s.get(QueuedMessage, message_id)
        if row is None or row.status != "sending" or row.claimed_by != worker:
            return row.status if row is not None else "deleted"
        attempts = row.attempts + 1
        policy = RetryPolicy(base, cap, max_age)
        status, last_reply, next_at = _retry_values(attempts, row.accepted_at, reply, policy, now)
        row.attempts, row.claimed_by, row.claimed_until = attempts, None, None
        row.status, row.last_reply = status, last_reply
        if status == "pending":
            row.next_attempt_at = next_at
        return status


@dataclass(frozen=True)
class RetryPolicy:
    """First retry after ``base`` seconds, doubling up to ``cap``; bounce after ``max_age``."""

    base: float
    cap: float
    max_age: float


@dataclass(frozen=True)
class Outcome:
    """How one delivery attempt ended: sent, bounced for good, or to be retried."""

    message_id: int
    result: Literal["sent", "bounced", "retry"]
    reply: str
    # For the message's activity: the upstream's reply code, whether Postdesk itself held the
    # message, the recipients the upstream refused (address, code, text), the DKIM selector
    # it was signed with and the tracking applied.
    code: int | None = None
    local: bool = False
    refused: tuple[tuple[str, int, str], ...] = ()
    signed: str | None = None
    tracking: str = ""


def _retry_values(
    attempts: int, accepted_at: dt.datetime, reply: str, policy: RetryPolicy, now: dt.datetime
) -> tuple[str, str, dt.datetime]:
    deadline = accepted_at + dt.timedelta(seconds=policy.max_age)
    if now >= deadline:
        hours = policy.max_age / 3600
        return (
            "bounced",
            f"Postdesk gave up after {hours:g} hours of trying. Last answer: {reply}",
            now,
        )
    delay = dt.timedelta(seconds=min(policy.base * 2 ** (attempts - 1), policy.cap))
    return "pending", reply, min(now + delay, deadline)


# Built once: every group of outcomes reads the messages it finishes and writes their new state.
_HELD = select(_Q.id, _Q.attempts, _Q.accepted_at, _Q.rcpt_tos).where(_LISTED, _HELD_BY_WORKER)
_RECORD = (
    update(_QUEUE)
    .where(_Q.id == bindparam("b_id"), _HELD_BY_WORKER)
    .values(
        status=bindparam("b_status"),
        last_reply=bindparam("b_reply"),
        attempts=bindparam("b_attempts"),
        next_attempt_at=bindparam("b_next"),
        sent_at=bindparam("b_sent"),
        rcpt_tos=bindparam("b_rcpts", type_=_Q.rcpt_tos.type),
        claimed_by=None,
        claimed_until=None,
    )
)


def record_outcomes(
    store: Store,
    worker: str,
    outcomes: Iterable[Outcome],
    *,
    policy: RetryPolicy,
    now: dt.datetime | None = None,
) -> dict[int, str]:
    """Write many outcomes in one transaction (one commit, one disk flush for all of them).

    Returns each message's new status; messages this worker no longer holds are left alone
    and are missing from the result.
    """
    outcomes = list(outcomes)
    if not outcomes:
        return {}
    now = now or utcnow()
    with bookkeeping(store) as s:
        rows = {
            row.id: row
            for row in s.execute(
                _HELD, {"ids": [o.message_id for o in outcomes], "worker": worker}
            ).all()
        }
        params: list[dict[str, object]] = []
        attempts_seen: list[activity_delivery.Attempt] = []
        for outcome in outcomes:
            row = rows.get(outcome.message_id)
            if row is None:
                continue
            attempts = row.attempts + 1
            status: str = outcome.result
            reply, next_at = outcome.reply, now
            rcpt_tos = list(row.rcpt_tos or ())
            later = later_recipients(outcome)
            if outcome.result == "retry" or later:
                # Handed over to some while others were told "try again later" (4xx): the
                # message stays queued for those alone, retried like any other.
                status, reply, next_at = _retry_values(
                    attempts, row.accepted_at, outcome.reply, policy, now
                )
            params.append(
                {
                    "b_id": outcome.message_id,
                    "b_status": status,
                    "b_reply": reply,
                    "b_attempts": attempts,
                    "b_next": next_at,
                    "b_sent": now if status == "sent" else None,
                    "b_rcpts": later if later and status == "pending" else rcpt_tos,
                }
            )
            attempts_seen.append(_attempt(outcome, status, rcpt_tos, first=row.attempts == 0))
        if params:
            for p in params:
                p["worker"] = worker
            s.execute(_RECORD, params)
            activity_delivery.record_attempts(s, attempts_seen, now)
    return {p["b_id"]: str(p["b_status"]) for p in params}  # type: ignore[misc]


def later_recipients(outcome: Outcome) -> list[str]:
    """The recipients of a message handed over to the others that the upstream told to try
    again later (a 4xx at RCPT): they are sent the message again."""
    if outcome.result != "sent":
        return []
    return [address for address, code, _text in outcome.refused if 400 <= code < 500]


def _attempt(
    outcome: Outcome, status: str, rcpt_tos: list[str], *, first: bool
) -> activity_delivery.Attempt:
    return activity_delivery.Attempt(
        message_id=outcome.message_id,
        result=outcome.result,
        status=status,
        reply=outcome.reply,
        rcpt_tos=tuple(rcpt_tos or ()),
        first=first,
        code=outcome.code,
        local=outcome.local,
        refused=outcome.refused,
        signed=outcome.signed,
        tracking=outcome.tracking,
    )


def release(store: Store, ids: list[int], worker: str) -> None:
    """Give claimed messages back untouched (they keep their place and attempt count)."""
    if not ids:
        return
    with bookkeeping(store) as s:
        s.execute(
            update(QueuedMessage)
            .where(
                QueuedMessage.id.in_(ids),
                QueuedMessage.status == "sending",
                QueuedMessage.claimed_by == worker,
            )
            .values(status="pending", claimed_by=None, claimed_until=None)
        )


def extend_lease(store: Store, ids: list[int], worker: str, lease: float) -> None:
    """Keep holding messages still being worked on (a slow upstream must not lose the claim)."""
    if not ids:
        return
    with bookkeeping(store) as s:
        s.execute(
            update(QueuedMessage)
            .where(QueuedMessage.id.in_(ids), QueuedMessage.claimed_by == worker)
            .values(claimed_until=utcnow() + dt.timedelta(seconds=lease))
        )


def retry_now(store: Store, message_id: int) -> bool:
    """Send a waiting or bounced message at the next chance; False when there is no such one."""
    with store.session() as s:
        row = s.get(QueuedMessage, message_id)
        # A test send is only a record of what happened: the worker never sends it again.
        if row is None or row.status not in ("pending", "bounced") or row.source == "test":
            return False
        row.status, row.next_attempt_at = "pending", utcnow()
        return True


def delete_message(store: Store, message_id: int) -> bool:
    """Remove a message from the queue (it will not be sent, or its record goes)."""
    with store.session() as s:
        result = s.execute(delete(QueuedMessage).where(QueuedMessage.id == message_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]


def counts(store: Store) -> dict[str, int]:
    """How many messages are in each status."""
    with store.session() as s:
        found = dict(
            s.execute(
                select(QueuedMessage.status, func.count()).group_by(QueuedMessage.status)
            ).all()
        )
    return {status: int(found.get(status, 0)) for status in STATUSES}


def list_messages(
    store: Store,
    *,
    status: str | None = None,
    domain: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[MessageInfo]:
    """Queued and finished messages, newest first, with open and click counts."""
    opens = _event_count("open")
    clicks = _event_count("click")
    query = (
        select(QueuedMessage, DedicatedDomain.name, opens, clicks)
        .join(DedicatedDomain, DedicatedDomain.id == QueuedMessage.domain_id)
        .order_by(QueuedMessage.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if status is not None:
        query = query.where(QueuedMessage.status == status)
    if domain is not None:
        from postdesk.core.domains import lookup_name

        query = query.where(DedicatedDomain.name == lookup_name(domain))
    with store.session() as s:
        return [_info(row, name, o, c) for row, name, o, c in s.execute(query).all()]


def _event_count(kind: str):  # type: ignore[no-untyped-def]
    return (
        select(func.count(TrackingEvent.id))
        .where(TrackingEvent.message_id == QueuedMessage.id, TrackingEvent.kind == kind)
        .correlate(QueuedMessage)
        .scalar_subquery()
    )


def _info(row: QueuedMessage, domain: str, opens: int, clicks: int) -> MessageInfo:
    return MessageInfo(
        id=row.id,
        domain=domain,
        mail_from=row.mail_from,
        rcpt_tos=list(row.rcpt_tos),
        subject=row.subject,
        size=row.size,
        status=row.status,
        attempts=row.attempts,
        accepted_at=row.accepted_at,
        next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
        sent_at=row.sent_at,
        last_reply=row.last_reply,
        opens=int(opens or 0),
        clicks=int(clicks or 0),
    )


def message_stats(store: Store, message_id: int) -> dict[str, int]:
    """Opens and clicks recorded for one message."""
    with store.session() as s:
        found = dict(
            s.execute(
                select(TrackingEvent.kind, func.count())
                .where(TrackingEvent.message_id == message_id)
                .group_by(TrackingEvent.kind)
            ).all()
        )
    return {"opens": int(found.get("open", 0)), "clicks": int(found.get("click", 0))}
