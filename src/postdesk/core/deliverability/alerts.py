"""Deliverability alerts: a domain whose bounce or complaint rate over the last day passes the
workspace's thresholds, and a message marked critical that failed.

:class:`AlertWatcher` hands out each alert once, like the usage watch.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from postdesk.core import settings
from postdesk.core.deliverability.numbers import Key, Numbers, count, names, percent
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, MessageRecipient, QueuedMessage, utcnow

# Below this many sends in the alert window a rate says little (one bounce of two is 50 %).
ALERT_MIN_SENT = 20
ALERT_WINDOW = dt.timedelta(days=1)
# A critical message that failed within this long before the watch looks is announced.
CRITICAL_LOOKBACK = dt.timedelta(days=2)

AlertKind = Literal["bounce_rate", "complaint_rate", "critical_failed"]


@dataclass(frozen=True)
class Thresholds:
    """The rates past which a domain is announced (fractions: 0.05 is 5 %)."""

    bounce_rate: float
    complaint_rate: float


def thresholds(session: Session) -> Thresholds:
    """The workspace's alert thresholds (settings in percent)."""
    return Thresholds(
        bounce_rate=float(settings.get(session, "alert_bounce_rate_percent")) / 100,
        complaint_rate=float(settings.get(session, "alert_complaint_rate_percent")) / 100,
    )


@dataclass(frozen=True)
class DeliverabilityAlert:
    """Something to tell the user now; ``key`` makes it be given only once."""

    kind: AlertKind
    severity: Literal["warning", "error"]
    message: str
    hint: str
    key: str
    domain: str = ""
    message_id: int | None = None


@dataclass(frozen=True)
class FailedCritical:
    """A message marked critical whose delivery failed (or some recipient of it did)."""

    id: int
    domain: str
    subject: str
    recipients: tuple[str, ...]
    reason: str
    failed_at: dt.datetime | None


def rate_alerts(
    counted: dict[Key, Numbers], domains: dict[int, str], limits: Thresholds, day: dt.date
) -> list[DeliverabilityAlert]:
    """The domains past a threshold in ``counted`` (one day's numbers), one alert per rate."""
    from postdesk.core.validation import display_domain

    per_domain: dict[int, Numbers] = defaultdict(Numbers)
    for (domain_id, _user), numbers in counted.items():
        per_domain[domain_id] = per_domain[domain_id] + numbers
    alerts = []
    for domain_id, n in sorted(per_domain.items()):
        name = display_domain(domains.get(domain_id, f"domain {domain_id}"))
        if n.sent < ALERT_MIN_SENT:
            continue
        if n.bounce_rate > limits.bounce_rate:
            alerts.append(
                DeliverabilityAlert(
                    "bounce_rate",
                    "warning",
                    f"{name}: {percent(n.bounce_rate)} of the last day's mail bounced "
                    f"({n.bounced:,} of {n.sent:,}).",
                    f"Providers slow down or block senders above {percent(limits.bounce_rate)}. "
                    "Open Activity to see which addresses bounce and why; clean the list "
                    "before sending more.",
                    f"{day}:{name}:bounce_rate",
                    domain=name,
                )
            )
        if n.complaint_rate > limits.complaint_rate:
            alerts.append(
                DeliverabilityAlert(
                    "complaint_rate",
                    "error",
                    f"{name}: {percent(n.complaint_rate)} of the last day's recipients marked "
                    f"your mail as spam ({n.complaints:,} of {n.sent:,}).",
                    f"Gmail and Yahoo ask senders to stay below {percent(limits.complaint_rate)}. "
                    "Send only to people who asked for your mail and make unsubscribing easy.",
                    f"{day}:{name}:complaint_rate",
                    domain=name,
                )
            )
    return alerts


def failed_critical(session: Session, since: dt.datetime) -> list[FailedCritical]:
    """Critical messages accepted since ``since`` that bounced (whole or for some recipient)."""
    bounced_recipient = exists().where(
        MessageRecipient.message_id == QueuedMessage.id,
        MessageRecipient.status.in_(("bounced", "suppressed")),
    )
    query = (
        select(QueuedMessage, DedicatedDomain.name)
        .join(DedicatedDomain, DedicatedDomain.id == QueuedMessage.domain_id)
        .where(
            QueuedMessage.critical.is_(True),
            QueuedMessage.accepted_at >= since,
            or_(QueuedMessage.status == "bounced", bounced_recipient),
        )
        .order_by(QueuedMessage.id)
    )
    found = []
    for row, name in session.execute(query):
        failed = session.execute(
            select(MessageRecipient.address, MessageRecipient.reason, MessageRecipient.updated_at)
            .where(
                MessageRecipient.message_id == row.id,
                MessageRecipient.status.in_(("bounced", "suppressed")),
            )
            .order_by(MessageRecipient.address)
        ).all()
        recipients = tuple(a for a, _r, _u in failed) or tuple(row.rcpt_tos or ())
        reason = next((r for _a, r, _u in failed if r), "") or (row.last_reply or "")
        when = max((u for _a, _r, u in failed), default=row.sent_at)
        found.append(FailedCritical(row.id, name, row.subject, recipients, reason.strip(), when))
    return found


def critical_alert(failure: FailedCritical) -> DeliverabilityAlert:
    """The alert for one failed critical message."""
    from postdesk.core.validation import display_domain

    who = ", ".join(failure.recipients[:3]) + ("…" if len(failure.recipients) > 3 else "")
    subject = failure.subject or "(no subject)"
    reason = failure.reason.splitlines()[0] if failure.reason else "no reason was given"
    return DeliverabilityAlert(
        "critical_failed",
        "error",
        f"A critical message was not delivered: “{subject}” to {who}.",
        f"The answer: {reason[:200]}. Open Activity to see its timeline.",
        f"critical:{failure.id}",
        domain=display_domain(failure.domain),
        message_id=failure.id,
    )


def alerts_now(store: Store, at: dt.datetime | None = None) -> list[DeliverabilityAlert]:
    """Everything worth saying right now (no memory: :class:`AlertWatcher` keeps that)."""
    at = at or utcnow()
    with store.session() as s:
        limits = thresholds(s)
        counted = count(s, at - ALERT_WINDOW)
        domains = names(s, None).domains
        failures = failed_critical(s, at - CRITICAL_LOOKBACK)
    alerts = rate_alerts(counted, domains, limits, at.date())
    return alerts + [critical_alert(f) for f in failures]


@dataclass
class AlertWatcher:
    """Reads the numbers and hands out each alert only once."""

    store: Store
    given: set[str] = field(default_factory=set)

    def check(self, at: dt.datetime | None = None) -> list[DeliverabilityAlert]:
        """The alerts not given before (marking them given)."""
        fresh = [a for a in alerts_now(self.store, at) if a.key not in self.given]
        self.given.update(a.key for a in fresh)
        return fresh
