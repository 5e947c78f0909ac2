"""Reading message activity: the search behind ``postdesk activity`` and a message's detail.

Rows never leave core: both return frozen read models. The list is one query for the page of
messages (newest first, filtered through the indexes on ``accepted_at``, the Message-ID, the
provider's id and the recipients' addresses) and one for those messages' recipients, so a
search stays fast with a year of mail in the workspace.
"""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.orm import Session

from postdesk.core.domainname import canonical, display_domain
from postdesk.core.errors import UserError
from postdesk.core.store.database import Store
from postdesk.core.store.models import (
    DedicatedDomain,
    MessageEvent,
    MessageRecipient,
    QueuedMessage,
    SmtpUser,
    TrackingEvent,
)

#: Statuses a search can ask for: what became of a recipient, or what a reader did.
STATUSES = (
    "pending",
    "sent",
    "deferred",
    "delivered",
    "bounced",
    "suppressed",
    "complained",
    "unsubscribed",
    "opened",
    "clicked",
)
_TRACKED = {"opened": "open", "clicked": "click"}
MAX_LIMIT = 1000


@dataclass(frozen=True)
class ActivityQuery:
    """What to look for; every field left empty matches everything."""

    domain: str | None = None
    recipient: str | None = None  # a whole address: exact; a part ("@gmail.com"): substring
    sender: str | None = None  # same rule as recipient
    subject: str | None = None  # substring, any case
    message_id: str | None = None  # Message-ID header (with or without <>) or provider id
    status: str | None = None  # one of STATUSES
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class RecipientView:
    """One recipient of a message and what became of it."""

    address: str
    status: str
    bounce_class: str | None
    reason: str


@dataclass(frozen=True)
class ActivityRow:
    """A message in the activity list."""

    id: int
    accepted_at: dt.datetime
    status: str  # the recipients' statuses, e.g. "delivered" or "sent/bounced"
    domain: str  # shown (Unicode) form
    mail_from: str
    recipients: tuple[RecipientView, ...]
    subject: str
    message_id_header: str
    bounce_class: str | None
    source: str
    critical: bool

    def as_dict(self) -> dict[str, object]:
        """Plain data for ``--json``."""
        return {
            "id": self.id,
            "accepted_at": self.accepted_at.isoformat(),
            "status": self.status,
            "domain": self.domain,
            "from": self.mail_from,
            "to": [r.address for r in self.recipients],
            "recipients": [r.__dict__ for r in self.recipients],
            "subject": self.subject,
            "message_id": self.message_id_header,
            "bounce_class": self.bounce_class,
            "source": self.source,
            "critical": self.critical,
        }


@dataclass(frozen=True)
class TimelineEntry:
    """One step of a message's life."""

    at: dt.datetime
    kind: str
    recipient: str | None
    source: str
    detail: str
    bounce_class: str | None

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "at": self.at.isoformat()}


@dataclass(frozen=True)
class ActivityDetail:
    """A message's headers and its whole timeline."""

    row: ActivityRow
    smtp_user: str | None  # login@domain, when an SMTP user sent it
    provider_message_id: str | None
    queue_status: str  # pending | sending | sent | bounced
    attempts: int
    last_reply: str | None
    headers: tuple[tuple[str, str], ...]
    timeline: tuple[TimelineEntry, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, object]:
        """Plain data for ``--json``."""
        return {
            **self.row.as_dict(),
            "smtp_user": self.smtp_user,
            "provider_message_id": self.provider_message_id,
            "queue_status": self.queue_status,
            "attempts": self.attempts,
            "last_reply": self.last_reply,
            "headers": [list(h) for h in self.headers],
            "timeline": [e.as_dict() for e in self.timeline],
        }


def _is_whole_address(text: str) -> bool:
    local, at, domain = text.partition("@")
    return bool(at and local and "." in domain)


def _address_filter(column, text: str):  # type: ignore[no-untyped-def]
    wanted = text.strip().lower()
    if _is_whole_address(wanted):
        return column == wanted
    return column.contains(wanted, autoescape=True)


def _message_id_candidates(text: str) -> list[str]:
    bare = text.strip().strip("<>")
    return [bare, f"<{bare}>"]


def check_status(text: str) -> str:
    """A status typed by a user, or a UserError listing the ones there are."""
    wanted = text.strip().lower()
    if wanted not in STATUSES:
        raise UserError(
            "activity.bad_status",
            f"There is no activity status {text.strip()[:30]!r}.",
            f"Use one of: {', '.join(STATUSES)}.",
        )
    return wanted


def _filters(session: Session, query: ActivityQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    q = QueuedMessage
    if query.domain:
        name = canonical(query.domain)
        domain_id = session.scalar(select(DedicatedDomain.id).where(DedicatedDomain.name == name))
        if domain_id is None:
            raise UserError(
                "activity.unknown_domain",
                f"{query.domain.strip()[:60]!r} is not one of your dedicated domains.",
                "'postdesk domain list' shows them.",
            )
        where.append(q.domain_id == domain_id)
    if query.recipient:
        where.append(
            q.id.in_(
                select(MessageRecipient.message_id).where(
                    _address_filter(MessageRecipient.address, query.recipient)
                )
            )
        )
    if query.sender:
        where.append(_address_filter(func.lower(q.mail_from), query.sender))
    if query.subject:
        where.append(func.lower(q.subject).contains(query.subject.lower(), autoescape=True))
    if query.message_id:
        where.append(
            or_(
                q.message_id_header.in_(_message_id_candidates(query.message_id)),
                q.provider_message_id == query.message_id.strip(),
            )
        )
    if query.status:
        status = check_status(query.status)
        if status in _TRACKED:
            where.append(
                exists().where(
                    TrackingEvent.message_id == q.id, TrackingEvent.kind == _TRACKED[status]
                )
            )
        else:
            where.append(
                exists().where(
                    MessageRecipient.message_id == q.id, MessageRecipient.status == status
                )
            )
    if query.since:
        where.append(q.accepted_at >= query.since)
    if query.until:
        where.append(q.accepted_at < query.until)
    return where


def _summary(recipients: list[RecipientView]) -> str:
    seen: list[str] = []
    for r in recipients:
        if r.status not in seen:
            seen.append(r.status)
    return "/".join(seen) or "pending"


def _rows(session: Session, messages: list[tuple]) -> list[ActivityRow]:  # type: ignore[type-arg]
    ids = [m[0] for m in messages]
    by_message: dict[int, list[RecipientView]] = {i: [] for i in ids}
    if ids:
        found = session.execute(
            select(
                MessageRecipient.message_id,
                MessageRecipient.address,
                MessageRecipient.status,
                MessageRecipient.bounce_class,
                MessageRecipient.reason,
            )
            .where(MessageRecipient.message_id.in_(ids))
            .order_by(MessageRecipient.id)
        )
        for message_id, address, status, klass, reason in found:
            by_message[message_id].append(RecipientView(address, status, klass, reason or ""))
    rows = []
    for mid, accepted, domain, mail_from, rcpts, subject, header, klass, source, crit in messages:
        recipients = by_message[mid] or [
            RecipientView(a.lower(), "pending", None, "") for a in rcpts
        ]
        rows.append(
            ActivityRow(
                id=mid,
                accepted_at=accepted,
                status=_summary(recipients),
                domain=display_domain(domain),
                mail_from=mail_from,
                recipients=tuple(recipients),
                subject=subject or "",
                message_id_header=header or "",
                bounce_class=klass,
                source=source,
                critical=bool(crit),
            )
        )
    return rows


def _columns():  # type: ignore[no-untyped-def]
    q = QueuedMessage
    return (
        q.id,
        q.accepted_at,
        DedicatedDomain.name,
        q.mail_from,
        q.rcpt_tos,
        q.subject,
        q.message_id_header,
        q.bounce_class,
        q.source,
        q.critical,
    )


def search(store: Store, query: ActivityQuery | None = None) -> list[ActivityRow]:
    """Messages matching ``query``, newest first (at most ``query.limit``)."""
    query = query or ActivityQuery()
    limit = max(1, min(query.limit, MAX_LIMIT))
    with store.session() as session:
        statement = (
            select(*_columns())
            .join(DedicatedDomain, DedicatedDomain.id == QueuedMessage.domain_id)
            .where(*_filters(session, query))
            .order_by(QueuedMessage.accepted_at.desc(), QueuedMessage.id.desc())
            .limit(limit)
            .offset(max(0, query.offset))
        )
        return _rows(session, [tuple(m) for m in session.execute(statement)])


def _find_one(session: Session, key: int | str) -> int | None:
    if isinstance(key, int) or (isinstance(key, str) and key.strip().isdigit()):
        number = int(key)
        if session.get(QueuedMessage, number) is not None:
            return number
        if isinstance(key, int):
            return None
    text = str(key).strip()
    return session.scalar(
        select(QueuedMessage.id)
        .where(
            or_(
                QueuedMessage.message_id_header.in_(_message_id_candidates(text)),
                QueuedMessage.provider_message_id == text,
            )
        )
        .order_by(QueuedMessage.id.desc())
        .limit(1)
    )


def _headers(raw: bytes) -> tuple[tuple[str, str], ...]:
    parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    return tuple((name, " ".join(str(value).split())) for name, value in parsed.items())


def _timeline(session: Session, message_id: int) -> tuple[TimelineEntry, ...]:
    events = [
        TimelineEntry(e.at, e.kind, e.recipient, e.source, e.detail or "", e.bounce_class)
        for e in session.scalars(select(MessageEvent).where(MessageEvent.message_id == message_id))
    ]
    # Opens and clicks recorded before the activity existed live only in tracking_events; the
    # endpoint now writes both, at the same instant, so a pair is shown once.
    recorded = {(e.kind, e.at) for e in events}
    for t in session.scalars(select(TrackingEvent).where(TrackingEvent.message_id == message_id)):
        kind = "opened" if t.kind == "open" else "clicked"
        if (kind, t.at) not in recorded:
            events.append(TimelineEntry(t.at, kind, None, "tracking", t.url or "", None))
    order = {kind: i for i, kind in enumerate(_ORDER)}
    events.sort(key=lambda e: (e.at, order.get(e.kind, len(order))))
    return tuple(events)


# Steps recorded in the same instant are shown in the order they happen.
_ORDER = (
    "accepted",
    "signed",
    "tracking",
    "suppressed",
    "deferred",
    "handed_over",
    "delivered",
    "bounced",
    "opened",
    "clicked",
    "complained",
    "unsubscribed",
)


def message_detail(store: Store, key: int | str) -> ActivityDetail:
    """A message (by its number in the list, its Message-ID or the provider's id) in full."""
    with store.session() as session:
        found = _find_one(session, key)
        if found is None:
            raise UserError(
                "activity.not_found",
                f"No message {str(key).strip()[:60]!r} in the activity.",
                "Use the number shown by 'postdesk activity' or the message's Message-ID.",
            )
        message = session.get(QueuedMessage, found)
        assert message is not None
        statement = (
            select(*_columns())
            .join(DedicatedDomain, DedicatedDomain.id == QueuedMessage.domain_id)
            .where(QueuedMessage.id == found)
        )
        row = _rows(session, [tuple(m) for m in session.execute(statement)])[0]
        user = None
        if message.smtp_user_id is not None:
            login = session.scalar(
                select(SmtpUser.login).where(SmtpUser.id == message.smtp_user_id)
            )
            user = f"{login}@{row.domain}" if login else None
        return ActivityDetail(
            row=row,
            smtp_user=user,
            provider_message_id=message.provider_message_id,
            queue_status=message.status,
            attempts=message.attempts,
            last_reply=message.last_reply,
            headers=_headers(message.raw),
            timeline=_timeline(session, found),
        )
