"""Message activity: what became of every message Postdesk sent, after the relay's 250.

Each message has a timeline (``message_events``) and a status per recipient
(``message_recipients``). The writers here never commit: they add rows to the caller's session,
so the relay records activity in the transactions it already uses (its batch commits) and a
failure rolls the activity back with the rest.
"""

from __future__ import annotations

import datetime as dt
import secrets as _random
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from postdesk.core import suppression
from postdesk.core.activity.reading import (
    ActivityDetail,
    ActivityQuery,
    ActivityRow,
    TimelineEntry,
    message_detail,
    search,
)
from postdesk.core.activity.replies import provider_message_id
from postdesk.core.bounces import classify_reply, parse_dsn
from postdesk.core.store import Store
from postdesk.core.store.models import (
    MessageEvent,
    MessageRecipient,
    QueuedMessage,
    table_of,
    utcnow,
)

__all__ = [
    "ActivityDetail",
    "ActivityQuery",
    "ActivityRow",
    "EventKind",
    "RecipientStatus",
    "TimelineEntry",
    "add_recipients",
    "apply_dsn",
    "find_message",
    "message_detail",
    "provider_message_id",
    "record_bounce",
    "record_event",
    "record_test_send",
    "search",
    "set_recipient_status",
]


class EventKind(StrEnum):
    """The steps of a message's timeline."""

    ACCEPTED = "accepted"
    SIGNED = "signed"
    TRACKING = "tracking"
    HANDED_OVER = "handed_over"
    DEFERRED = "deferred"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    SUPPRESSED = "suppressed"
    OPENED = "opened"
    CLICKED = "clicked"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"


class RecipientStatus(StrEnum):
    """What became of one recipient of a message."""

    PENDING = "pending"
    SENT = "sent"
    DEFERRED = "deferred"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    SUPPRESSED = "suppressed"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"


#: Where activity is written: an ORM session, or the relay's bookkeeping connection.
Db = Session | Connection

_KINDS = frozenset(k.value for k in EventKind)
_DETAIL_LIMIT = 2000  # a timeline line, not a transcript: long replies are cut
# The tables themselves: inserting through them skips the ORM's bulk-insert machinery.
_EVENTS = table_of(MessageEvent)
_RECIPIENTS = table_of(MessageRecipient)


def event_row(
    message_id: int,
    kind: str,
    *,
    recipient: str | None = None,
    source: str = "relay",
    detail: str = "",
    bounce_class: str | None = None,
    at: dt.datetime | None = None,
) -> dict[str, object]:
    """One step of a message's timeline as a row for :func:`insert_events`."""
    if kind not in _KINDS:
        raise ValueError(f"unknown activity kind {kind!r}")
    return {
        "message_id": message_id,
        "recipient": recipient.lower() if recipient else None,
        "kind": kind,
        "at": at or utcnow(),
        "source": source,
        "detail": (detail or "")[:_DETAIL_LIMIT],
        "bounce_class": bounce_class,
    }


def recipient_rows(
    message_id: int,
    addresses: list[str],
    now: dt.datetime | None = None,
    *,
    status: str = "pending",
    reasons: dict[str, str] | None = None,
) -> list[dict[str, object]]:
    """A message's status rows, one per recipient (duplicates counted once), for
    :func:`insert_recipients`; ``reasons`` by lowercased address."""
    RecipientStatus(status)  # a typo is a bug, not a new status
    now = now or utcnow()
    reasons = reasons or {}
    unique = dict.fromkeys(a.lower() for a in addresses)
    return [
        {
            "message_id": message_id,
            "address": a,
            "status": status,
            "reason": reasons.get(a, "")[:_DETAIL_LIMIT],
            "updated_at": now,
        }
        for a in unique
    ]


def insert_events(session: Db, rows: list[dict[str, object]]) -> None:
    """Add timeline rows built by :func:`event_row` (one statement; plain Core, no ORM)."""
    if rows:
        session.execute(_EVENTS.insert(), rows)


def insert_recipients(session: Db, rows: list[dict[str, object]]) -> None:
    """Add status rows built by :func:`recipient_rows` (one statement; plain Core, no ORM)."""
    if rows:
        session.execute(_RECIPIENTS.insert(), rows)


def record_event(session: Db, message_id: int, kind: str, **fields: Any) -> None:
    """Add one step to a message's timeline (in the caller's transaction; nothing is committed);
    ``fields`` are :func:`event_row`'s."""
    insert_events(session, [event_row(message_id, kind, **fields)])


def add_recipients(session: Db, message_id: int, addresses: list[str]) -> None:
    """Give a message one pending status row per recipient (duplicates counted once)."""
    insert_recipients(session, recipient_rows(message_id, addresses))


def set_recipient_status(
    session: Db,
    message_id: int,
    address: str,
    status: str,
    *,
    bounce_class: str | None = None,
    reason: str = "",
) -> None:
    """Set what became of one recipient (a bounce class is kept unless a new one is given)."""
    RecipientStatus(status)  # a typo is a bug, not a new status
    values: dict[str, object] = {
        "status": status,
        "reason": reason[:_DETAIL_LIMIT],
        "updated_at": utcnow(),
    }
    if bounce_class is not None:
        values["bounce_class"] = bounce_class
    session.execute(
        update(MessageRecipient)
        .where(
            MessageRecipient.message_id == message_id, MessageRecipient.address == address.lower()
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def find_message(
    session: Db,
    *,
    message_id_header: str | None = None,
    provider_message_id: str | None = None,
) -> int | None:
    """The relay_queue id of a message named by its Message-ID or the provider's id (newest)."""
    if provider_message_id:
        found = session.scalar(
            select(QueuedMessage.id)
            .where(QueuedMessage.provider_message_id == provider_message_id.strip())
            .order_by(QueuedMessage.id.desc())
            .limit(1)
        )
        if found is not None:
            return found
    if message_id_header:
        wanted = message_id_header.strip()
        candidates = {wanted, f"<{wanted.strip('<>')}>", wanted.strip("<>")}
        return session.scalar(
            select(QueuedMessage.id)
            .where(QueuedMessage.message_id_header.in_(candidates))
            .order_by(QueuedMessage.id.desc())
            .limit(1)
        )
    return None


def apply_dsn(session: Session, raw: bytes) -> bool:
    """Fold a delivery status notification that arrived by mail into its message's activity.

    True when ``raw`` was a notification about a message Postdesk sent (its events recorded).
    """
    dsn = parse_dsn(raw)
    if dsn is None or not dsn.original_message_id:
        return False
    message_id = find_message(session, message_id_header=dsn.original_message_id)
    if message_id is None:
        return False
    for entry in dsn.recipients:
        klass = entry.classification
        words = klass.diagnostic or klass.reason
        if entry.action == "failed":
            record_bounce(
                session, message_id, entry.recipient, klass.bounce_class.value, words, source="dsn"
            )
        elif entry.action == "delayed":
            record_event(
                session,
                message_id,
                "deferred",
                recipient=entry.recipient,
                source="dsn",
                detail=words,
                bounce_class=klass.bounce_class.value,
            )
            set_recipient_status(
                session,
                message_id,
                entry.recipient,
                "deferred",
                bounce_class=klass.bounce_class.value,
                reason=klass.reason,
            )
        elif entry.action in ("delivered", "relayed", "expanded"):
            record_event(
                session,
                message_id,
                "delivered",
                recipient=entry.recipient,
                source="dsn",
                detail=entry.remote_mta,
            )
            set_recipient_status(session, message_id, entry.recipient, "delivered")
    return True


def record_bounce(
    session: Db,
    message_id: int,
    recipient: str,
    bounce_class: str,
    detail: str,
    *,
    source: str = "relay",
    reason: str = "",
) -> None:
    """A recipient bounced: the event, its status, the message's class, and the suppression list."""
    record_event(
        session,
        message_id,
        "bounced",
        recipient=recipient,
        source=source,
        detail=detail,
        bounce_class=bounce_class,
    )
    set_recipient_status(
        session,
        message_id,
        recipient,
        "bounced",
        bounce_class=bounce_class,
        reason=reason or detail,
    )
    session.execute(
        update(QueuedMessage)
        .where(QueuedMessage.id == message_id)
        .values(bounce_class=bounce_class)
        .execution_options(synchronize_session=False)
    )
    _after_bounce(session, recipient, bounce_class, detail, message_id)


def _after_bounce(db: Db, address: str, bounce_class: str, detail: str, message_id: int) -> None:
    # The suppression list decides whether this bounce puts the address on it.
    if isinstance(db, Session):
        suppression.after_bounce(db, address, bounce_class, detail=detail, message_id=message_id)
        return
    # The relay's bookkeeping connection is already in its transaction: the session joins it
    # and leaves the commit to the relay.
    with Session(bind=db) as session:
        suppression.after_bounce(
            session, address, bounce_class, detail=detail, message_id=message_id
        )
        session.flush()


def record_test_send(
    store: Store,
    *,
    domain_id: int,
    raw: bytes,
    mail_from: str,
    rcpt_to: str,
    subject: str,
    message_id_header: str,
    service: str,
    ok: bool,
    reply_code: int | None,
    reply: str,
) -> int:
    """Keep a test send in the activity (critical, never queued: its outcome is already known).

    Returns its number in the activity list.
    """
    now = utcnow()
    klass = None if ok else classify_reply(reply_code, reply).bounce_class.value
    with store.session() as s:
        row = QueuedMessage(
            domain_id=domain_id,
            smtp_user_id=None,
            mail_from=mail_from,
            rcpt_tos=[rcpt_to],
            subject=subject[:300],
            message_id_header=message_id_header[:300],
            raw=raw,
            size=len(raw),
            accepted_at=now,
            # Finished from the start, so the delivery worker never claims it.
            status="sent" if ok else "bounced",
            attempts=1,
            next_attempt_at=now,
            last_reply=reply,
            sent_at=now if ok else None,
            tracking_token=_random.token_urlsafe(18),
            tracking_key=_random.token_hex(32),
            source="test",
            critical=True,
            provider_message_id=provider_message_id(reply) if ok else None,
            bounce_class=klass,
        )
        s.add(row)
        s.flush()
        add_recipients(s, row.id, [rcpt_to])
        record_event(s, row.id, "accepted", detail=f"Test send through {service}", at=now)
        if ok:
            record_event(
                s, row.id, "handed_over", recipient=rcpt_to, source="upstream", detail=reply, at=now
            )
            set_recipient_status(s, row.id, rcpt_to, "sent")
        else:
            reason = classify_reply(reply_code, reply).reason
            record_event(
                s,
                row.id,
                "bounced",
                recipient=rcpt_to,
                source="upstream",
                detail=reply,
                bounce_class=klass,
                at=now,
            )
            set_recipient_status(s, row.id, rcpt_to, "bounced", bounce_class=klass, reason=reason)
        return row.id
