"""The relay's durable queue: accepted messages wait here until delivered or bounced.

Delivery order is kept per domain: a worker only claims a domain's messages starting from its
oldest unfinished one (the head), and only a run of consecutive ready messages. While the head
waits for a retry, none of that domain's later messages goes out. Claims are leases: a message
claimed by a process that died is claimed again when the lease has run out.

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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, QueuedMessage, TrackingEvent, utcnow

STATUSES = ("pending", "sending", "sent", "bounced")
UNFINISHED = ("pending", "sending")


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


@dataclass(frozen=True)
class Claim:
    """A run of one domain's messages, in order, that a worker may now deliver."""

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


def enqueue(
    session: Session,
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
    now: dt.datetime | None = None,
) -> QueuedMessage:
    """Add an accepted message in the caller's transaction (durable once that commits)."""
    now = now or utcnow()
    row = QueuedMessage(
        domain_id=domain_id,
        smtp_user_id=smtp_user_id,
        mail_from=mail_from,
        rcpt_tos=list(rcpt_tos),
        subject=subject[:300],
        message_id_header=message_id[:300],
        raw=raw,
        size=len(raw),
        accepted_at=now,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        track_open=track_open,
        track_click=track_click,
        tracking_token=_random.token_urlsafe(18),
        tracking_key=_random.token_hex(32),
    )
    session.add(row)
    session.flush()
    return row


def _ready(now: dt.datetime):  # type: ignore[no-untyped-def]
    """SQL condition: the message may be claimed now (due, or its claimer's lease ran out)."""
    return or_(
        and_(QueuedMessage.status == "pending", QueuedMessage.next_attempt_at <= now),
        and_(QueuedMessage.status == "sending", QueuedMessage.claimed_until < now),
    )


def _is_ready(row: QueuedMessage, now: dt.datetime) -> bool:
    if row.status == "pending":
        return row.next_attempt_at <= now
    return row.status == "sending" and row.claimed_until is not None and row.claimed_until < now


class _Lost(Exception):
    """Another worker claimed part of the run first; this claim is rolled back."""


def claim(
    store: Store,
    worker: str,
    *,
    lease: float,
    batch_size: int,
    skip_domains: set[int] | frozenset[int] = frozenset(),
    max_domains: int = 8,
    now: dt.datetime | None = None,
) -> list[Claim]:
    """Claim, for each domain whose head message is ready, a run of its ready messages."""
    now = now or utcnow()
    with store.session() as s:
        heads = s.execute(
            select(QueuedMessage.domain_id, func.min(QueuedMessage.id))
            .where(QueuedMessage.status.in_(UNFINISHED))
            .group_by(QueuedMessage.domain_id)
        ).all()
    claims: list[Claim] = []
    for domain_id, head_id in heads:
        if domain_id in skip_domains or len(claims) >= max_domains:
            continue
        try:
            with writing(store):
                run = _claim_domain(store, worker, domain_id, head_id, lease, batch_size, now)
        except _Lost:
            continue
        if run:
            claims.append(Claim(domain_id, [i for i, _ in run], tuple(n for _, n in run)))
    return claims


def _claim_domain(
    store: Store,
    worker: str,
    domain_id: int,
    head_id: int,
    lease: float,
    batch_size: int,
    now: dt.datetime,
) -> list[tuple[int, int]]:
    with store.session() as s:
        head_query = select(QueuedMessage).where(QueuedMessage.id == head_id)
        if s.bind is not None and s.bind.dialect.name == "postgresql":
            # Whoever holds the head's row lock is the only one claiming this domain right now;
            # the others skip it instead of waiting, and claim other domains.
            head_query = head_query.with_for_update(skip_locked=True)
        head = s.scalars(head_query).first()
        if head is None or not _is_ready(head, now):
            return []
        rows = s.execute(
            select(
                QueuedMessage.id,
                QueuedMessage.status,
                QueuedMessage.next_attempt_at,
                QueuedMessage.claimed_until,
                QueuedMessage.size,
            )
            .where(QueuedMessage.domain_id == domain_id, QueuedMessage.status.in_(UNFINISHED))
            .order_by(QueuedMessage.id)
            .limit(batch_size)
        ).all()
        run: list[tuple[int, int]] = []
        for row in rows:
            if not _is_ready(row, now):  # type: ignore[arg-type]
                break  # keep order: never skip over a message that is not ready
            run.append((row.id, row.size))
        ids = [i for i, _ in run]
        if not ids or ids[0] != head_id:
            return []
        result = s.execute(
            update(QueuedMessage)
            .where(QueuedMessage.id.in_(ids), _ready(now))
            .values(
                status="sending",
                claimed_by=worker,
                claimed_until=now + dt.timedelta(seconds=lease),
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != len(ids):  # type: ignore[attr-defined]
            raise _Lost  # rolls the whole claim back
    return run


def load(store: Store, message_id: int, worker: str | None = None) -> QueuedMessage | None:
    """A queued message (detached); with ``worker``, only while that worker still holds it."""
    with store.session() as s:
        row = s.get(QueuedMessage, message_id)
        if row is None:
            return None
        if worker is not None and (row.status != "sending" or row.claimed_by != worker):
            return None
        return row


def load_many(store: Store, ids: list[int], worker: str) -> dict[int, QueuedMessage]:
    """Several claimed messages in one query (detached), keyed by id; those the worker no
    longer holds are missing."""
    if not ids:
        return {}
    with store.session() as s:
        rows = s.scalars(
            select(QueuedMessage).where(
                QueuedMessage.id.in_(ids),
                QueuedMessage.status == "sending",
                QueuedMessage.claimed_by == worker,
            )
        ).all()
        return {row.id: row for row in rows}


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
        deadline = row.accepted_at + dt.timedelta(seconds=max_age)
        row.attempts, row.claimed_by, row.claimed_until = attempts, None, None
        if now >= deadline:
            row.status = "bounced"
            hours = max_age / 3600
            row.last_reply = (
                f"Postdesk gave up after {hours:g} hours of trying. Last answer: {reply}"
            )
            return "bounced"
        delay = dt.timedelta(seconds=min(base * 2 ** (attempts - 1), cap))
        row.status, row.last_reply = "pending", reply
        row.next_attempt_at = min(now + delay, deadline)
        return "pending"


def release(store: Store, ids: list[int], worker: str) -> None:
    """Give claimed messages back untouched (they keep their place and attempt count)."""
    if not ids:
        return
    with writing(store), store.session() as s:
        s.execute(
            update(QueuedMessage)
            .where(
                QueuedMessage.id.in_(ids),
                QueuedMessage.status == "sending",
                QueuedMessage.claimed_by == worker,
            )
            .values(status="pending", claimed_by=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )


def extend_lease(store: Store, ids: list[int], worker: str, lease: float) -> None:
    """Keep holding messages still being worked on (a slow upstream must not lose the claim)."""
    if not ids:
        return
    with writing(store), store.session() as s:
        s.execute(
            update(QueuedMessage)
            .where(QueuedMessage.id.in_(ids), QueuedMessage.claimed_by == worker)
            .values(claimed_until=utcnow() + dt.timedelta(seconds=lease))
            .execution_options(synchronize_session=False)
        )


def retry_now(store: Store, message_id: int) -> bool:
    """Send a waiting or bounced message at the next chance; False when there is no such one."""
    with store.session() as s:
        row = s.get(QueuedMessage, message_id)
        if row is None or row.status not in ("pending", "bounced"):
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
