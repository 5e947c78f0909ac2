"""Daily sending against the account limit (1,500 emails a UTC day, each recipient counts).

Test sends and the relay both count mail through :func:`record_sent`. When the day's total goes
past the limit, every SMTP credential of every dedicated domain is deleted automatically (rows
and keyring entries) while the history and statistics stay — the rule users agreed to.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Executable, bindparam, func, or_, select, update
from sqlalchemy.orm import Session, contains_eager

from postdesk.core import audit, secrets, settings
from postdesk.core.store import Store
from postdesk.core.store.models import (
    DailyUsage,
    DedicatedDomain,
    Setting,
    SmtpUser,
    table_of,
    utcnow,
)
from postdesk.core.usageday import CRITICAL_SHARE as CRITICAL_SHARE
from postdesk.core.usageday import WARNING_SHARE as WARNING_SHARE
from postdesk.core.usageday import Level as Level
from postdesk.core.usageday import Today as Today
from postdesk.core.usageday import level_for as level_for
from postdesk.core.usageday import next_reset as next_reset
from postdesk.core.usageday import series_csv as series_csv
from postdesk.core.usageday import utc_day as utc_day

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LimitEnforced:
    """What the deletion rule did: the count that triggered it and the logins it removed."""

    sent: int
    limit: int
    deleted: list[str]


@dataclass(frozen=True)
class Recorded:
    """The result of counting sent mail: today's state and, if it fired, the deletion rule."""

    today: Today
    enforced: LimitEnforced | None = None
    forget: tuple[str, ...] = ()  # keyring entries to remove once the deletion is committed


_USAGE = table_of(DailyUsage)
_USERS = table_of(SmtpUser)
_SETTINGS = table_of(Setting)
# Plain Core statements: the relay counts every accepted group with them.
_LIMIT = select(_SETTINGS.c.value).where(_SETTINGS.c.key == "daily_limit")
_TOTAL = select(func.coalesce(func.sum(_USAGE.c.sent), 0)).where(_USAGE.c.day == bindparam("day"))
_TOUCH_USER = (
    update(_USERS)
    .where(
        _USERS.c.id == bindparam("user"),
        or_(_USERS.c.last_used_at.is_(None), _USERS.c.last_used_at < bindparam("at")),
    )
    .values(last_used_at=bindparam("at"))
)
_UPSERTS: dict[str, Executable] = {}


def daily_limit(session: Session) -> int:
    """The account's daily limit (the setting, or its default)."""
    session.flush()  # a limit changed in this session counts
    value = session.connection().execute(_LIMIT).scalar()
    return int(settings.DEFAULTS["daily_limit"] if value is None else value)


def record_sent(
    store: Store,
    *,
    recipients: int,
    smtp_user_id: int | None = None,
    service_id: int | None = None,
    domain_id: int | None = None,
    at: dt.datetime | None = None,
) -> Recorded:
    """Count mail sent (one per recipient) atomically, then apply the limit rule."""
    with store.session() as s:
        recorded = count_sent(
            s,
            recipients=recipients,
            smtp_user_id=smtp_user_id,
            service_id=service_id,
            domain_id=domain_id,
            at=at,
        )
    forget_secrets(store, recorded.forget)
    return recorded


def count_sent(
    session: Session,
    *,
    recipients: int,
    smtp_user_id: int | None = None,
    service_id: int | None = None,
    domain_id: int | None = None,
    at: dt.datetime | None = None,
    limit: int | None = None,
) -> Recorded:
    """Count mail in the caller's transaction (the relay counts with the queue commit);
    ``limit``: the daily limit when the caller read it in this transaction already.

    After the commit, pass ``Recorded.forget`` to :func:`forget_secrets`: keyring entries of
    credentials the limit rule deleted are removed only once the deletion is committed.
    """
    if recipients <= 0:
        raise ValueError("recipients must be positive")
    at = at or utcnow()
    day = utc_day(at)
    bucket = f"user:{smtp_user_id}" if smtp_user_id is not None else f"service:{service_id}"
    _upsert(session, day, bucket, recipients, domain_id, smtp_user_id, service_id)
    if smtp_user_id is not None:
        session.connection().execute(_TOUCH_USER, {"user": smtp_user_id, "at": at})
    limit = daily_limit(session) if limit is None else limit
    sent = total_on(session, day)
    enforced = None
    refs: list[str] = []
    if sent > limit:
        enforced, refs = _delete_all_credentials(session, sent, limit)
    return Recorded(Today(day, sent, limit), enforced, tuple(refs))


def _upsert(
    session: Session,
    day: dt.date,
    bucket: str,
    n: int,
    domain_id: int | None,
    smtp_user_id: int | None,
    service_id: int | None,
) -> None:
    """One statement that adds ``n`` to the day's row, so concurrent senders never lose counts."""
    conn = session.connection()
    dialect = conn.dialect.name
    statement = _UPSERTS.get(dialect)
    if statement is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        statement = _UPSERTS[dialect] = (
            insert(_USAGE)
            .values(
                day=bindparam("day"),
                bucket=bindparam("bucket"),
                sent=bindparam("n"),
                domain_id=bindparam("domain"),
                smtp_user_id=bindparam("user"),
                service_id=bindparam("service"),
            )
            .on_conflict_do_update(
                index_elements=["day", "bucket"], set_={"sent": _USAGE.c.sent + bindparam("more")}
            )
        )
    conn.execute(
        statement,
        {
            "day": day,
            "bucket": bucket,
            "n": n,
            "more": n,
            "domain": domain_id,
            "user": smtp_user_id,
            "service": service_id,
        },
    )


def total_on(session: Session, day: dt.date) -> int:
    """Emails sent by the whole account on one UTC day."""
    session.flush()
    return int(session.connection().execute(_TOTAL, {"day": day}).scalar() or 0)


def _delete_all_credentials(
    session: Session, sent: int, limit: int
) -> tuple[LimitEnforced | None, list[str]]:
    users = session.scalars(
        select(SmtpUser)
        .join(DedicatedDomain)
        .options(contains_eager(SmtpUser.domain))
        .where(SmtpUser.deleted_at.is_(None))
    ).all()
    if not users:
        return None, []
    now = utcnow()
    deleted, refs = [], []
    for user in users:
        deleted.append(f"{user.login}@{user.domain.name}")
        if user.secret_ref:
            refs.append(user.secret_ref)
        user.deleted_at, user.deleted_reason = now, "daily_limit"
        user.secret_ref, user.password_hash = None, "!"
    audit.record(
        session, "usage.limit_exceeded", "account", sent=sent, limit=limit, deleted=deleted
    )
    return LimitEnforced(sent, limit, deleted), refs


def forget_secrets(store: Store, refs: Sequence[str]) -> None:
    """Remove keyring entries of deleted credentials; any left over are retried later.

    The rows are deleted first, in their own transaction, so a locked keyring can never keep a
    credential working past the limit.
    """
    left = [ref for ref in refs if not _try_delete(ref)]
    if left:
        with store.session() as s:
            pending = list(settings.get(s, "orphan_secret_refs") or [])
            settings.put(s, "orphan_secret_refs", sorted(set(pending + left)))


def _try_delete(ref: str) -> bool:
    try:
        secrets.delete_secret(ref)
        return True
    except secrets.SecretsUnavailable:
        log.warning("a keyring entry of a deleted credential is kept until the keyring opens")
        return False


def sweep_orphan_secrets(store: Store) -> int:
    """Retry removing keyring entries whose credentials were deleted; returns how many remain."""
    with store.session() as s:
        pending = list(settings.get(s, "orphan_secret_refs") or [])
    left = [ref for ref in pending if not _try_delete(ref)]
    with store.session() as s:
        settings.put(s, "orphan_secret_refs", left)
    return len(left)


def today(store: Store, at: dt.datetime | None = None) -> Today:
    """Today's account-wide count, what is left, and the warning level."""
    day = utc_day(at)
    with store.session() as s:
        return Today(day, total_on(s, day), daily_limit(s))


def daily_series(
    store: Store,
    days: int,
    *,
    end: dt.date | None = None,
    domain_id: int | None = None,
    smtp_user_id: int | None = None,
) -> list[tuple[dt.date, int]]:
    """Emails per day for the last ``days`` days up to ``end`` (zeros filled in), oldest first."""
    end = end or utc_day()
    start = end - dt.timedelta(days=days - 1)
    query = (
        select(DailyUsage.day, func.sum(DailyUsage.sent))
        .where(DailyUsage.day >= start, DailyUsage.day <= end)
        .group_by(DailyUsage.day)
    )
    if domain_id is not None:
        query = query.where(DailyUsage.domain_id == domain_id)
    if smtp_user_id is not None:
        query = query.where(DailyUsage.smtp_user_id == smtp_user_id)
    with store.session() as s:
        counts = {day: int(n) for day, n in s.execute(query)}
    return [
        (start + dt.timedelta(days=i), counts.get(start + dt.timedelta(days=i), 0))
        for i in range(days)
    ]


@dataclass(frozen=True)
class SenderStats:
    """Sent today, in the last 7 and 30 days, and when last used."""

    today: int
    last_7_days: int
    last_30_days: int
    last_used_at: dt.datetime | None


def sender_stats(
    store: Store,
    *,
    domain_id: int | None = None,
    smtp_user_id: int | None = None,
    at: dt.datetime | None = None,
) -> SenderStats:
    """Usage numbers for one SMTP user or one domain (the SMTP Settings right-hand panel)."""
    series = daily_series(
        store, 30, end=utc_day(at), domain_id=domain_id, smtp_user_id=smtp_user_id
    )
    last_used = None
    if smtp_user_id is not None:
        with store.session() as s:
            user = s.get(SmtpUser, smtp_user_id)
            last_used = user.last_used_at if user else None
    return SenderStats(
        series[-1][1], sum(n for _, n in series[-7:]), sum(n for _, n in series), last_used
    )
