"""Folding verified provider events into Postdesk's records, in the caller's transaction.

Each event id is taken in once (``webhook_events``: unique per provider); a request whose
events were all taken in before is a replay and is refused, leaving nothing changed. An event is
matched to the message the relay sent (by Message-ID or the provider's id) and becomes a step of
its timeline and a recipient status; complaints, unsubscribes and hard bounces reach the
suppression list. Events about messages Postdesk did not send are only counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from postdesk.core import activity, settings, suppression
from postdesk.core.bounces import REASONS, BounceClass
from postdesk.core.store.models import QueuedMessage, Setting, WebhookEvent
from postdesk.core.webhooks import events as ev
from postdesk.core.webhooks.events import ProviderEvent, Refused
from postdesk.core.webhooks.urls import COUNTS_KEY

# Kinds whose recipient status follows the event (opens and clicks leave it as it is).
_STATUS = {
    ev.DELIVERED: "delivered",
    ev.DEFERRED: "deferred",
    ev.DROPPED: "suppressed",
    ev.COMPLAINED: "complained",
    ev.UNSUBSCRIBED: "unsubscribed",
}
_SUPPRESS = {ev.COMPLAINED: "complaint", ev.UNSUBSCRIBED: "unsubscribe"}


@dataclass(frozen=True)
class FoldResult:
    """What one request did: new events, replays skipped, matched and unmatched messages."""

    taken: int
    replayed: int
    matched: int
    unmatched: int


def claim(session: Session, provider: str, event_ids: list[str]) -> set[str]:
    """Record event ids as taken in; returns those already taken in before (not recorded)."""
    seen = set(
        session.scalars(
            select(WebhookEvent.event_id).where(
                WebhookEvent.provider == provider, WebhookEvent.event_id.in_(event_ids)
            )
        )
    )
    for event_id in dict.fromkeys(event_ids):
        if event_id not in seen:
            session.add(WebhookEvent(provider=provider, event_id=event_id))
    # Two deliveries of one event racing each other: the unique key fails the later commit.
    session.flush()
    return seen


def fold(
    session: Session, provider: str, events: list[ProviderEvent], *, once: str | None = None
) -> FoldResult:
    """Take in a verified request's events; ``once`` is a value valid for one request only
    (Mailgun's token). Raises Refused(409) for a replay: the caller's transaction rolls back."""
    if once is not None and claim(session, provider, [f"token:{once}"]):
        raise Refused(409, "this request was received before")
    seen = claim(session, provider, [e.event_id for e in events])
    fresh = [e for e in events if e.event_id not in seen]
    if events and not fresh:
        raise Refused(409, "these events were received before")
    matched = unmatched = 0
    for event in fresh:
        if event.kind == ev.IGNORED:
            continue
        message_id = activity.find_message(
            session,
            message_id_header=event.message_id_header,
            provider_message_id=event.provider_message_id,
        )
        if message_id is None:
            unmatched += 1
            continue
        matched += 1
        _apply(session, message_id, event)
    _count(session, provider, len(fresh), unmatched)
    return FoldResult(len(fresh), len(events) - len(fresh), matched, unmatched)


def _apply(session: Session, message_id: int, event: ProviderEvent) -> None:
    if event.provider_message_id:
        # Later events (and support staff) can then name the message by the provider's id.
        session.execute(
            update(QueuedMessage)
            .where(QueuedMessage.id == message_id, QueuedMessage.provider_message_id.is_(None))
            .values(provider_message_id=event.provider_message_id)
            .execution_options(synchronize_session=False)
        )
    recipient = event.recipient.lower() if event.recipient else None
    detail = event.reason
    if event.kind == ev.BOUNCED and recipient is not None:
        klass = event.bounce_class or BounceClass.HARD_OTHER.value
        activity.record_bounce(
            session,
            message_id,
            recipient,
            klass,
            detail or REASONS[BounceClass(klass)],
            source=event.provider,
            reason=REASONS[BounceClass(klass)],
        )
        return
    activity.record_event(
        session,
        message_id,
        event.kind,
        recipient=recipient,
        source=event.provider,
        detail=detail,
        bounce_class=event.bounce_class,
        at=event.at,
    )
    if recipient is None:
        return
    status = _STATUS.get(event.kind)
    if status is not None:
        reason = REASONS[BounceClass(event.bounce_class)] if event.bounce_class else detail
        activity.set_recipient_status(
            session, message_id, recipient, status, bounce_class=event.bounce_class, reason=reason
        )
    why = _SUPPRESS.get(event.kind)
    if why is not None:
        suppression.suppress(
            session,
            recipient,
            why,
            detail=f"{event.provider}: {detail}".rstrip(": "),
            message_id=message_id,
        )


def _count(session: Session, provider: str, received: int, unmatched: int) -> None:
    # The row is locked so two relays sharing PostgreSQL do not lose each other's counts.
    row = session.get(Setting, COUNTS_KEY, with_for_update=True)
    stored = row.value if row is not None and isinstance(row.value, dict) else {}
    counts = {k: dict(v) for k, v in stored.items()}
    mine = counts.setdefault(provider, {"received": 0, "unmatched": 0})
    mine["received"] = int(mine.get("received", 0)) + received
    mine["unmatched"] = int(mine.get("unmatched", 0)) + unmatched
    settings.put(session, COUNTS_KEY, counts)
