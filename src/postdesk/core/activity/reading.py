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

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from postdesk.core.activity.views import (
    MAX_LIMIT,
    STATUSES,
    TRACKED_KINDS,
    ActivityDetail,
    ActivityQuery,
    ActivityRow,
    RecipientView,
    TimelineEntry,
)
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


def _filters(query: ActivityQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    q = QueuedMessage
    if query.domain:
        where.append(DedicatedDomain.name == canonical(query.domain))
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
        if status in TRACKED_KINDS:
            where.append(
                exists().where(
                    TrackingEvent.message_id == q.id, TrackingEvent.kind == TRACKED_KINDS[status]
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


_MESSAGE_COLUMNS = (
    "id",
    "accepted_at",
    "domain",
    "mail_from",
    "subject",
    "message_id_header",
    "bounce_class",
    "source",
    "critical",
)


def _columns():  # type: ignore[no-untyped-def]
    q = QueuedMessage
    return (
        q.id,
        q.accepted_at,
        DedicatedDomain.name.label("domain"),
        q.mail_from,
        q.subject,
        q.message_id_header,
        q.bounce_class,
        q.source,
        q.critical,
    )


def _with_recipients(page):  # type: ignore[no-untyped-def]
    """The page of messages with each one's recipients, in one statement (one round trip)."""
    r = MessageRecipient
    return (
        select(page, r.address, r.status, r.bounce_class.label("r_class"), r.reason)
        .outerjoin(r, r.message_id == page.c.id)
        .order_by(page.c.accepted_at.desc(), page.c.id.desc(), r.id)
    )


def _assemble(session: Session, found) -> list[ActivityRow]:  # type: ignore[no-untyped-def]
    """Rows of (message columns…, address, status, class, reason) → one ActivityRow each."""
    order: list[int] = []
    messages: dict[int, tuple] = {}  # type: ignore[type-arg]
    recipients: dict[int, list[RecipientView]] = {}
    shown: dict[str, str] = {}
    for record in found:
        values = tuple(record)
        mid = values[0]
        if mid not in messages:
            order.append(mid)
            messages[mid] = values[: len(_MESSAGE_COLUMNS)]
            recipients[mid] = []
        address, status, klass, reason = values[len(_MESSAGE_COLUMNS) :]
        if address is not None:
            recipients[mid].append(RecipientView(address, status, klass, reason or ""))
    missing = [mid for mid in order if not recipients[mid]]
    if missing:
        # Messages from before the activity existed have no recipient rows: their envelope.
        envelopes = select(QueuedMessage.id, QueuedMessage.rcpt_tos).where(
            QueuedMessage.id.in_(missing)
        )
        for mid, rcpts in session.execute(envelopes):
            recipients[mid] = [RecipientView(a.lower(), "pending", None, "") for a in rcpts or ()]
    rows = []
    for mid in order:
        _, accepted, domain, mail_from, subject, header, klass, source, crit = messages[mid]
        listed = recipients[mid]
        if domain not in shown:
            shown[domain] = display_domain(domain)
        rows.append(
            ActivityRow(
                id=mid,
                accepted_at=accepted,
                status=_summary(listed),
                domain=shown[domain],
                mail_from=mail_from,
                recipients=tuple(listed),
                subject=subject or "",
                message_id_header=header or "",
                bounce_class=klass,
                source=source,
                critical=bool(crit),
            )
        )
    return rows


def search(store: Store, query: ActivityQuery | None = None) -> list[ActivityRow]:
    """Messages matching ``query``, newest first (at most ``query.limit``)."""
    query = query or ActivityQuery()
    limit = max(1, min(query.limit, MAX_LIMIT))
    where = _filters(query)
    page = (
        select(*_columns())
        .join(DedicatedDomain, DedicatedDomain.id == QueuedMessage.domain_id)
        .where(*where)
        # Newest first by time alone: SQLite can use the index on it for one key only (ties
        # are rare; the outer query still orders them by number).
        .order_by(QueuedMessage.accepted_at.desc())
        .limit(limit)
        .offset(max(0, query.offset))
        .subquery("page")
    )
    with store.session() as session:
        rows = _assemble(session, session.execute(_with_recipients(page)))
        if not rows and query.domain:
            _check_domain(session, query.domain)
        return rows


def _check_domain(session: Session, text: str) -> None:
    name = canonical(text)
    if session.scalar(select(DedicatedDomain.id).where(DedicatedDomain.name == name)) is None:
        raise UserError(
            "activity.unknown_domain",
            f"{text.strip()[:60]!r} is not one of your dedicated domains.",
            "'postdesk domain list' shows them.",
        )


def _key_filter(key: int | str) -> ColumnElement[bool]:
    """Which message ``key`` names: its number in the list, its Message-ID or provider id."""
    text = str(key).strip()
    by_header = or_(
        QueuedMessage.message_id_header.in_(_message_id_candidates(text)),
        QueuedMessage.provider_message_id == text,
    )
    if isinstance(key, int):
        return QueuedMessage.id == key
    if text.isdigit():
        return or_(QueuedMessage.id == int(text), by_header)
    return by_header


def _first_by_number(key: int | str) -> list[ColumnElement[bool]]:
    text = str(key).strip()
    return [(QueuedMessage.id == int(text)).desc()] if text.isdigit() else []


def _headers(raw: bytes) -> tuple[tuple[str, str], ...]:
    parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    return tuple((name, " ".join(str(value).split())) for name, value in parsed.items())


def _timeline(session: Session, message_id: int) -> tuple[TimelineEntry, ...]:
    e, t = MessageEvent, TrackingEvent
    both: CompoundSelect = union_all(
        select(e.at, e.kind, e.recipient, e.source, e.detail, e.bounce_class, literal(0)).where(
            e.message_id == message_id
        ),
        select(t.at, t.kind, null(), literal("tracking"), t.url, null(), literal(1)).where(
            t.message_id == message_id
        ),
    )
    events: list[TimelineEntry] = []
    tracked: list[TimelineEntry] = []
    for at, kind, recipient, source, detail, klass, from_tracking in session.execute(both):
        if isinstance(at, str):  # a union's column loses its type on SQLite
            at = dt.datetime.fromisoformat(at)
        if at.tzinfo is None:
            at = at.replace(tzinfo=dt.UTC)
        if from_tracking:
            kind = "opened" if kind == "open" else "clicked"
            tracked.append(TimelineEntry(at, kind, None, "tracking", detail or "", None))
        else:
            events.append(TimelineEntry(at, kind, recipient, source, detail or "", klass))
    # Opens and clicks recorded before the activity existed live only in tracking_events; the
    # endpoint now writes both, at the same instant, so a pair is shown once.
    recorded = {(x.kind, x.at) for x in events}
    events += [x for x in tracked if (x.kind, x.at) not in recorded]
    order = {kind: i for i, kind in enumerate(_ORDER)}
    events.sort(key=lambda x: (x.at, order.get(x.kind, len(order))))
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
    q = QueuedMessage
    page = (
        select(
            *_columns(),
            SmtpUser.login.label("login"),
            q.provider_message_id.label("provider_id"),
            q.status.label("queue_status"),
            q.attempts,
            q.last_reply,
            q.raw,
        )
        .join(DedicatedDomain, DedicatedDomain.id == q.domain_id)
        .outerjoin(SmtpUser, SmtpUser.id == q.smtp_user_id)
        .where(_key_filter(key))
        # A number is first the message's own; otherwise the newest with that Message-ID.
        .order_by(*_first_by_number(key), q.id.desc())
        .limit(1)
        .subquery("page")
    )
    with store.session() as session:
        found = session.execute(_with_recipients(page)).all()
        if not found:
            raise UserError(
                "activity.not_found",
                f"No message {str(key).strip()[:60]!r} in the activity.",
                "Use the number shown by 'postdesk activity' or the message's Message-ID.",
            )
        extra = found[0]
        head = len(_MESSAGE_COLUMNS)
        row = _assemble(session, [tuple(r[:head]) + tuple(r[-4:]) for r in found])[0]
        return ActivityDetail(
            row=row,
            smtp_user=f"{extra.login}@{row.domain}" if extra.login else None,
            provider_message_id=extra.provider_id,
            queue_status=extra.queue_status,
            attempts=extra.attempts,
            last_reply=extra.last_reply,
            headers=_headers(extra.raw),
            timeline=_timeline(session, row.id),
        )
