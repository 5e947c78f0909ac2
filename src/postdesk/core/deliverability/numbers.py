"""Deliverability numbers per domain and per SMTP user over the last 1, 7 or 30 days.

The numbers count what became of each *recipient* of the messages accepted in the period (a
message sent to three addresses is three sends, as providers count): handed over, delivered,
bounced hard or soft, complained. Opens and clicks are counted per *message* (one tracking pixel
serves every recipient of a message). A message whose recipients were never recorded one by one
(accepted before activity was kept) counts by its queue status instead.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from postdesk.core.store import Store
from postdesk.core.store.models import (
    DedicatedDomain,
    MessageEvent,
    MessageRecipient,
    QueuedMessage,
    SmtpUser,
    TrackingEvent,
    utcnow,
)

PERIODS = (1, 7, 30)

# Recipient statuses that mean the provider took the message or refused it for good.
_HANDED = {"sent", "delivered", "bounced", "complained", "unsubscribed"}
_DELIVERED = {"delivered", "complained", "unsubscribed"}
# What a message's queue status says of each of its recipients, when they have no own rows.
_QUEUE_STATUS = {"sent": "sent", "bounced": "bounced"}


@dataclass(frozen=True)
class Numbers:
    """What became of the mail of one sender (a domain or an SMTP user) in one period."""

    sent: int = 0  # recipients handed to the provider (or refused by it for good)
    delivered: int = 0
    hard_bounced: int = 0
    soft_bounced: int = 0
    complaints: int = 0
    messages: int = 0  # messages handed over (the base of the open and click rates)
    opened: int = 0
    clicked: int = 0

    def __add__(self, other: Numbers) -> Numbers:
        return Numbers(*(a + b for a, b in zip(_values(self), _values(other), strict=True)))

    @property
    def bounced(self) -> int:
        return self.hard_bounced + self.soft_bounced

    @property
    def bounce_rate(self) -> float:
        """Bounces (hard and soft) per send, 0.0 to 1.0."""
        return _rate(self.bounced, self.sent)

    @property
    def complaint_rate(self) -> float:
        return _rate(self.complaints, self.sent)

    @property
    def open_rate(self) -> float:
        return _rate(self.opened, self.messages)

    @property
    def click_rate(self) -> float:
        return _rate(self.clicked, self.messages)

    def as_dict(self) -> dict[str, object]:
        """The counts and the rates (as fractions), for JSON."""
        counts: dict[str, object] = dict(zip(_FIELDS, _values(self), strict=True))
        counts.update(
            bounce_rate=round(self.bounce_rate, 6),
            complaint_rate=round(self.complaint_rate, 6),
            open_rate=round(self.open_rate, 6),
            click_rate=round(self.click_rate, 6),
        )
        return counts


_FIELDS = (
    "sent",
    "delivered",
    "hard_bounced",
    "soft_bounced",
    "complaints",
    "messages",
    "opened",
    "clicked",
)


def _values(numbers: Numbers) -> tuple[int, ...]:
    return tuple(getattr(numbers, name) for name in _FIELDS)


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def percent(rate: float) -> str:
    """A rate as people read it: "4.2 %", "0.08 %" (small rates keep two decimals), "0 %"."""
    value = rate * 100
    if value == 0:
        return "0 %"
    if value < 1:
        return f"{value:.2f} %"
    return f"{value:.1f} %"


@dataclass(frozen=True)
class UserNumbers:
    """One SMTP user's numbers (``login`` "" for mail sent by no SMTP user: test sends)."""

    login: str
    numbers: Numbers
    deleted: bool = False


@dataclass(frozen=True)
class DomainNumbers:
    """A domain's numbers, in total and per SMTP user that sent in the period."""

    domain: str
    total: Numbers
    users: tuple[UserNumbers, ...] = ()


@dataclass(frozen=True)
class Report:
    """Every domain's numbers over the last ``days`` days (since ``since``)."""

    days: int
    since: dt.datetime
    domains: tuple[DomainNumbers, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "days": self.days,
            "since": self.since.isoformat(),
            "domains": [
                {
                    "domain": d.domain,
                    **d.total.as_dict(),
                    "users": [
                        {"login": u.login, "deleted": u.deleted, **u.numbers.as_dict()}
                        for u in d.users
                    ],
                }
                for d in self.domains
            ],
        }


Key = tuple[int, int | None]  # (domain id, SMTP user id)


def report(
    store: Store, days: int = 7, *, domain: str | None = None, at: dt.datetime | None = None
) -> Report:
    """Every domain's numbers (or one domain's) for mail accepted in the last ``days`` days."""
    if days not in PERIODS:
        from postdesk.core.errors import UserError

        raise UserError(
            "stats.days", f"The period must be 1, 7 or 30 days, not {days}.", "Try --days 7."
        )
    since = (at or utcnow()) - dt.timedelta(days=days)
    with store.session() as s:
        domain_id = _domain_id(s, domain) if domain is not None else None
        counted = count(s, since, domain_id=domain_id)
        found = names(s, domain_id)
    return Report(days, since, _arrange(counted, found))


def _domain_id(session: Session, name: str) -> int:
    from postdesk.core.domains import get_domain

    return get_domain(session, name).id


def count(
    session: Session, since: dt.datetime, *, domain_id: int | None = None
) -> dict[Key, Numbers]:
    """The numbers per (domain id, SMTP user id) for mail accepted at or after ``since``."""
    scope = [QueuedMessage.accepted_at >= since]
    if domain_id is not None:
        scope.append(QueuedMessage.domain_id == domain_id)
    fields: dict[Key, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_FIELDS, 0))
    _count_recipients(session, scope, fields)
    _count_unlisted(session, scope, fields)
    _count_complaints(session, scope, fields)
    _count_handed_messages(session, scope, fields)
    _count_tracking(session, scope, fields, "opened", ("opened",), "open")
    _count_tracking(session, scope, fields, "clicked", ("clicked",), "click")
    return {key: Numbers(**values) for key, values in fields.items()}


def _tally(fields: dict[str, int], status: str, bounce_class: str | None, n: int) -> None:
    if status not in _HANDED:
        return
    fields["sent"] += n
    if status in _DELIVERED:
        fields["delivered"] += n
    elif status == "bounced":
        soft = (bounce_class or "").startswith("soft")
        fields["soft_bounced" if soft else "hard_bounced"] += n


def _count_recipients(session: Session, scope: list, fields: dict[Key, dict[str, int]]) -> None:  # type: ignore[type-arg]
    query = (
        select(
            QueuedMessage.domain_id,
            QueuedMessage.smtp_user_id,
            MessageRecipient.status,
            MessageRecipient.bounce_class,
            func.count(),
        )
        .join(MessageRecipient, MessageRecipient.message_id == QueuedMessage.id)
        .where(*scope)
        .group_by(
            QueuedMessage.domain_id,
            QueuedMessage.smtp_user_id,
            MessageRecipient.status,
            MessageRecipient.bounce_class,
        )
    )
    for domain_id, user_id, status, bounce_class, n in session.execute(query):
        _tally(fields[(domain_id, user_id)], status, bounce_class, n)


def _count_unlisted(session: Session, scope: list, fields: dict[Key, dict[str, int]]) -> None:  # type: ignore[type-arg]
    listed = exists().where(MessageRecipient.message_id == QueuedMessage.id)
    query = select(
        QueuedMessage.domain_id,
        QueuedMessage.smtp_user_id,
        QueuedMessage.status,
        QueuedMessage.bounce_class,
        QueuedMessage.rcpt_tos,
    ).where(*scope, QueuedMessage.status.in_(tuple(_QUEUE_STATUS)), ~listed)
    for domain_id, user_id, status, bounce_class, rcpts in session.execute(query):
        _tally(fields[(domain_id, user_id)], _QUEUE_STATUS[status], bounce_class, len(rcpts or ()))


def _count_complaints(session: Session, scope: list, fields: dict[Key, dict[str, int]]) -> None:  # type: ignore[type-arg]
    # A provider may report one complaint twice (webhook and feedback loop): each address once.
    complained = (
        select(MessageEvent.message_id, MessageEvent.recipient)
        .where(MessageEvent.kind == "complained")
        .distinct()
        .subquery()
    )
    query = (
        select(QueuedMessage.domain_id, QueuedMessage.smtp_user_id, func.count())
        .join(complained, complained.c.message_id == QueuedMessage.id)
        .where(*scope)
        .group_by(QueuedMessage.domain_id, QueuedMessage.smtp_user_id)
    )
    for domain_id, user_id, n in session.execute(query):
        fields[(domain_id, user_id)]["complaints"] += n


def _handed_message():  # type: ignore[no-untyped-def]
    handed_recipient = exists().where(
        MessageRecipient.message_id == QueuedMessage.id, MessageRecipient.status.in_(_HANDED)
    )
    listed = exists().where(MessageRecipient.message_id == QueuedMessage.id)
    return or_(handed_recipient, and_(~listed, QueuedMessage.status.in_(tuple(_QUEUE_STATUS))))


def _count_handed_messages(
    session: Session,
    scope: list,  # type: ignore[type-arg]
    fields: dict[Key, dict[str, int]],
) -> None:
    query = (
        select(QueuedMessage.domain_id, QueuedMessage.smtp_user_id, func.count())
        .where(*scope, _handed_message())
        .group_by(QueuedMessage.domain_id, QueuedMessage.smtp_user_id)
    )
    for domain_id, user_id, n in session.execute(query):
        fields[(domain_id, user_id)]["messages"] += n


def _count_tracking(
    session: Session,
    scope: list,  # type: ignore[type-arg]
    fields: dict[Key, dict[str, int]],
    name: str,
    event_kinds: tuple[str, ...],
    tracking_kind: str,
) -> None:
    # Opens come from Postdesk's own pixel and from providers' webhooks: a message counts once.
    by_event = exists().where(
        MessageEvent.message_id == QueuedMessage.id, MessageEvent.kind.in_(event_kinds)
    )
    by_pixel = exists().where(
        TrackingEvent.message_id == QueuedMessage.id, TrackingEvent.kind == tracking_kind
    )
    query = (
        select(QueuedMessage.domain_id, QueuedMessage.smtp_user_id, func.count())
        .where(*scope, _handed_message(), or_(by_event, by_pixel))
        .group_by(QueuedMessage.domain_id, QueuedMessage.smtp_user_id)
    )
    for domain_id, user_id, n in session.execute(query):
        fields[(domain_id, user_id)][name] += n


@dataclass(frozen=True)
class Names:
    domains: dict[int, str]
    users: dict[int, tuple[str, bool]]


def names(session: Session, domain_id: int | None) -> Names:
    """The domains' names (one domain's, with ``domain_id``) and their SMTP users' logins."""
    domains_query = select(DedicatedDomain.id, DedicatedDomain.name).order_by(DedicatedDomain.name)
    users_query = select(SmtpUser.id, SmtpUser.login, SmtpUser.deleted_at)
    if domain_id is not None:
        domains_query = domains_query.where(DedicatedDomain.id == domain_id)
        users_query = users_query.where(SmtpUser.domain_id == domain_id)
    return Names(
        domains={i: n for i, n in session.execute(domains_query)},
        users={
            i: (login, deleted is not None) for i, login, deleted in session.execute(users_query)
        },
    )


def _arrange(counted: dict[Key, Numbers], names: Names) -> tuple[DomainNumbers, ...]:
    from postdesk.core.validation import display_domain

    result = []
    for domain_id, name in names.domains.items():
        mine = {user: n for (d, user), n in counted.items() if d == domain_id}
        users = [_user(names, user, n) for user, n in mine.items()]
        users.sort(key=lambda u: (u.login == "", u.login))
        total = sum((u.numbers for u in users), Numbers())
        result.append(DomainNumbers(display_domain(name), total, tuple(users)))
    return tuple(result)


def _user(names: Names, user_id: int | None, numbers: Numbers) -> UserNumbers:
    if user_id is None:
        return UserNumbers("", numbers)
    login, deleted = names.users.get(user_id, (f"user {user_id}", True))
    return UserNumbers(login, numbers, deleted)
