"""What each delivery attempt did to a message's activity, written with the attempt's outcome.

The relay commits outcomes in groups (``queue.record_outcomes``); this adds their events,
recipients' statuses, the provider's id and the bounce class to that same transaction with a
few multi-row statements, so recording activity costs no commit of its own.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace

from sqlalchemy import Connection, String, bindparam, func, select, update
from sqlalchemy.orm import Session

from postdesk.core import suppression
from postdesk.core.activity.replies import provider_message_id
from postdesk.core.bounces import Classification, classify_reply
from postdesk.core.store.models import MessageEvent, MessageRecipient, QueuedMessage, table_of

_CODE = re.compile(r"\s*([2-5]\d\d)\b")
_DETAIL_LIMIT = 2000
GAVE_UP = "Postdesk stopped trying: the message had waited too long"


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt as the relay saw it, and the message's status after it."""

    message_id: int
    result: str  # sent | bounced | retry
    status: str  # the message's status now: sent | pending | bounced
    reply: str
    rcpt_tos: tuple[str, ...]
    first: bool  # no attempt of this message was recorded before
    code: int | None = None  # the upstream's reply code (None: read from the reply, if any)
    local: bool = False  # Postdesk itself held the message (a missing key or password)
    refused: tuple[tuple[str, int, str], ...] = ()  # recipients the upstream refused
    signed: str | None = None  # the DKIM selector it was signed with
    tracking: str = ""  # "open", "click" or "open, click": what was applied


def _classify(code: int | None, text: str, *, permanent: bool) -> Classification:
    if code is None:
        found = _CODE.match(text)
        code = int(found.group(1)) if found else None
    if code is None and permanent:
        code = 550  # Postdesk's own final failure (gave up, domain removed): not a connection
    return classify_reply(code, text)


def _cut(text: str) -> str:
    return (text or "")[:_DETAIL_LIMIT]


class _Batch:
    """Rows collected for one group of outcomes, written with one statement per table."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.events: list[dict[str, object]] = []
        self.recipients: list[dict[str, object]] = []
        self.messages: list[dict[str, object]] = []
        self.bounces: list[tuple[str, str, str, int]] = []

    def event(
        self,
        message_id: int,
        kind: str,
        recipient: str | None,
        detail: str,
        bounce_class: str | None = None,
        at: dt.datetime | None = None,
    ) -> None:
        self.events.append(
            {
                "message_id": message_id,
                "recipient": recipient.lower() if recipient else None,
                "kind": kind,
                "at": at or self.now,
                "source": "relay" if kind in ("signed", "tracking") else "upstream",
                "detail": _cut(detail),
                "bounce_class": bounce_class,
            }
        )

    def status(
        self, message_id: int, address: str, status: str, klass: str | None, reason: str
    ) -> None:
        self.recipients.append(
            {
                "r_message": message_id,
                "r_address": address.lower(),
                "r_status": status,
                "r_class": klass,
                "r_reason": _cut(reason),
                "r_at": self.now,
            }
        )

    def bounce(self, message_id: int, address: str, c: Classification, detail: str) -> None:
        klass = c.bounce_class.value
        self.event(message_id, "bounced", address, detail, klass)
        self.status(message_id, address, "bounced", klass, c.reason)
        self.bounces.append((address, klass, detail, message_id))


def _add_attempt(batch: _Batch, a: Attempt) -> None:
    mid = a.message_id
    refused = {address.lower(): (code, text) for address, code, text in a.refused}
    provider = None
    first_class: str | None = None
    if a.signed and a.first:
        # Shown just before the hand-over it prepared (same instant, ordered by kind).
        batch.event(mid, "signed", None, f"DKIM-signed with selector {a.signed}")
        if a.tracking:
            batch.event(mid, "tracking", None, f"Tracking applied: {a.tracking}")
    for address in dict.fromkeys(r.lower() for r in a.rcpt_tos):
        if address in refused:
            code, text = refused[address]
            said = f"{code} {text}"
            # A 4xx for one recipient of a message the others got is retried for it alone.
            later = a.result == "retry" or (a.result == "sent" and code < 500)
            c = _classify(code, said, permanent=not later)
            if later and a.status == "pending":
                batch.event(mid, "deferred", address, said, c.bounce_class.value)
                batch.status(mid, address, "deferred", c.bounce_class.value, c.reason)
            else:
                detail = said if code >= 500 or a.result != "sent" else f"{said} ({GAVE_UP})"
                batch.bounce(mid, address, c, detail)
            first_class = first_class or c.bounce_class.value
        elif a.result == "sent":
            said = a.reply.split(" (refused: ", 1)[0]  # the others' refusals are theirs
            batch.event(mid, "handed_over", address, said)
            batch.status(mid, address, "sent", None, "")
            provider = provider or provider_message_id(said)
        elif a.status == "pending":
            if a.local:
                batch.event(mid, "deferred", address, a.reply, None)
                batch.status(mid, address, "deferred", None, a.reply)
            else:
                c = _classify(a.code, a.reply, permanent=False)
                batch.event(mid, "deferred", address, a.reply, c.bounce_class.value)
                batch.status(mid, address, "deferred", c.bounce_class.value, c.reason)
        else:  # bounced: refused for good, or retried until too old
            c = _classify(a.code, a.reply, permanent=True)
            batch.bounce(mid, address, c, a.reply)
            first_class = first_class or c.bounce_class.value
    if provider or first_class:
        batch.messages.append({"m_id": mid, "m_provider": provider, "m_class": first_class})


_EVENTS = table_of(MessageEvent)
_RECIPIENTS = table_of(MessageRecipient)
_MESSAGES = table_of(QueuedMessage)
# Built once: every group of delivery outcomes writes its activity with these.
_SIGNED = select(_EVENTS.c.message_id).where(
    _EVENTS.c.message_id.in_(bindparam("ids", expanding=True)), _EVENTS.c.kind == "signed"
)
_RECIPIENT_STATUS = (
    update(_RECIPIENTS)
    .where(
        _RECIPIENTS.c.message_id == bindparam("r_message"),
        _RECIPIENTS.c.address == bindparam("r_address"),
    )
    .values(
        status=bindparam("r_status"),
        bounce_class=func.coalesce(bindparam("r_class", type_=String), _RECIPIENTS.c.bounce_class),
        reason=bindparam("r_reason"),
        updated_at=bindparam("r_at"),
    )
)
_MESSAGE_IDS = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("m_id"))
    .values(
        provider_message_id=func.coalesce(
            bindparam("m_provider", type_=String), _MESSAGES.c.provider_message_id
        ),
        bounce_class=func.coalesce(bindparam("m_class", type_=String), _MESSAGES.c.bounce_class),
    )
)


def record_attempts(conn: Connection, attempts: list[Attempt], now: dt.datetime) -> None:
    """Add the activity of these attempts to the relay's open transaction on ``conn``."""
    if not attempts:
        return
    batch = _Batch(now)
    again = [a.message_id for a in attempts if a.signed and not a.first]
    if again:
        # A message held before it was ever signed shows its signature on its first real try.
        signed = set(conn.scalars(_SIGNED, {"ids": again}))
        attempts = [
            a if not a.signed or a.first or a.message_id in signed else _first(a) for a in attempts
        ]
    for attempt in attempts:
        _add_attempt(batch, attempt)
    if batch.events:
        conn.execute(_EVENTS.insert(), batch.events)
    if batch.recipients:
        conn.execute(_RECIPIENT_STATUS, batch.recipients)
    if batch.messages:
        conn.execute(_MESSAGE_IDS, batch.messages)
    if batch.bounces:
        # The suppression list decides what a hard bounce means for the address; the session
        # joins the relay's transaction and leaves the commit to it.
        with Session(bind=conn) as session:
            for address, klass, detail, message_id in batch.bounces:
                suppression.after_bounce(
                    session, address, klass, detail=detail, message_id=message_id
                )
            session.flush()


def _first(a: Attempt) -> Attempt:
    return replace(a, first=True)
