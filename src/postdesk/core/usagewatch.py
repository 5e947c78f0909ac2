"""Watching the daily count: warnings at 80 % and 95 %, and the notice after the deletion rule.

Whoever counts mail (a test send, this window's relay, a headless relay sharing the database)
only writes the count and, past the limit, an audit event. The watcher reads both and decides what
to tell the user, each warning once per level per UTC day and each deletion once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import select

from postdesk.core import usage
from postdesk.core.store import Store
from postdesk.core.store.models import AuditEvent, utcnow
from postdesk.core.usageday import reset_phrase as reset_phrase  # callers read it here

LIMIT_EXCEEDED = "usage.limit_exceeded"
AlertKind = Literal["warning", "critical", "limit", "over", "deleted"]
Severity = Literal["warning", "error"]
_THRESHOLDS: tuple[AlertKind, ...] = ("warning", "critical", "limit")
# Mildest first: an alert makes those before it pointless for the rest of the day.
_ORDER: tuple[AlertKind, ...] = (*_THRESHOLDS, "over", "deleted")


@dataclass(frozen=True)
class LimitExceeded:
    """One run of the deletion rule, as the audit log recorded it."""

    id: int
    at: dt.datetime
    sent: int
    limit: int
    deleted: list[str]


@dataclass(frozen=True)
class UsageAlert:
    """Something to tell the user about today's sending; ``key`` makes it be given only once."""

    kind: AlertKind
    severity: Severity
    message: str
    hint: str
    key: str


def limit_events(store: Store, since: dt.datetime) -> list[LimitExceeded]:
    """The automatic deletions recorded at or after ``since``, oldest first."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.action == LIMIT_EXCEEDED, AuditEvent.at >= since)
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    with store.session() as s:
        return [_event(row) for row in s.scalars(query)]


def _event(row: AuditEvent) -> LimitExceeded:
    # The detail is JSON written by usage._delete_all_credentials: sent, limit, deleted logins.
    detail: dict[str, Any] = dict(row.detail or {})
    return LimitExceeded(
        id=row.id,
        at=row.at,
        sent=int(detail.get("sent", 0)),
        limit=int(detail.get("limit", 0)),
        deleted=[str(name) for name in detail.get("deleted") or []],
    )


def _threshold_alert(today: usage.Today, kind: AlertKind, reset: str) -> UsageAlert:
    sent, limit = f"{today.sent:,}", f"{today.limit:,}"
    rule = (
        f"Past {limit}, all SMTP credentials of your dedicated domains are deleted automatically."
    )
    texts = {
        "warning": (
            f"You have sent {sent} of today's {limit} emails.",
            f"{rule} Spread large sends over several days; the count starts again at {reset}.",
        ),
        "critical": (
            f"Only {today.remaining:,} emails left today: {sent} of {limit} sent.",
            f"Pause bulk sending until {reset}. {rule}",
        ),
        "limit": (
            f"Today's limit is reached: {sent} of {limit} emails sent.",
            f"Stop sending until {reset}. One more email today deletes all SMTP credentials "
            "of your dedicated domains.",
        ),
    }
    message, hint = texts[kind]  # type: ignore[index]
    return UsageAlert(kind, "warning", message, hint, f"{today.date}:{kind}")


def _deleted_alert(event: LimitExceeded, reset: str) -> UsageAlert:
    count = len(event.deleted)
    which = "the SMTP credential" if count == 1 else f"all {count} SMTP credentials"
    return UsageAlert(
        "deleted",
        "error",
        f"Daily limit exceeded: {event.sent:,} emails were sent today, so {which} of your "
        "dedicated domains were deleted automatically.",
        "Apps that used them can no longer send. Your email history and statistics are kept. "
        f"Create new SMTP users in SMTP Settings after {reset}.",
        f"event:{event.id}",
    )


def _over_alert(today: usage.Today, reset: str) -> UsageAlert:
    return UsageAlert(
        "over",
        "error",
        f"Daily limit exceeded: {today.sent:,} of {today.limit:,} emails sent today.",
        f"There were no SMTP credentials to delete. Send nothing more until {reset}.",
        f"{today.date}:over",
    )


def alerts_for(
    today: usage.Today, events: list[LimitExceeded], at: dt.datetime | None = None
) -> list[UsageAlert]:
    """Everything worth saying about today right now, most important last (no memory)."""
    reset = reset_phrase(at)
    todays = [e for e in events if usage.utc_day(e.at) == today.date]
    if todays:
        return [_deleted_alert(e, reset) for e in todays]
    if today.level == "exceeded":
        return [_over_alert(today, reset)]
    if today.level in _THRESHOLDS:
        return [_threshold_alert(today, today.level, reset)]
    return []


@dataclass
class UsageWatcher:
    """Reads the count and the deletion events, and hands out each alert only once."""

    store: Store
    given: set[str] = field(default_factory=set)

    def check(self, at: dt.datetime | None = None) -> tuple[usage.Today, list[UsageAlert]]:
        """Today's count and the alerts not given before (marking them given)."""
        at = at or utcnow()
        today = usage.today(self.store, at)
        start = dt.datetime.combine(today.date, dt.time(0), tzinfo=dt.UTC)
        alerts = [
            a
            for a in alerts_for(today, limit_events(self.store, start), at)
            if a.key not in self.given
        ]
        for alert in alerts:
            self.given.add(alert.key)
            # Reaching 95 % between two checks must not bring the 80 % warning on the next one.
            milder = _ORDER[: _ORDER.index(alert.kind)]
            self.given.update(f"{today.date}:{kind}" for kind in milder)
        return today, alerts
