"""Read helpers for showing domains and IPs: what each record looks like now, and plain reports.

Everything here reads the store or formats a report; nothing changes data. The GUI and the CLI
share it so that a status, a short host name or a ticket report reads the same everywhere.
The ticket reports themselves come from ``reporttext`` (re-exported here), which needs no
database, so ``postdesk check`` prints them without loading the store.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from postdesk.core.domainname import display_domain
from postdesk.core.domains import get_domain
from postdesk.core.records import ExpectedRecord, Problem
from postdesk.core.reporttext import domain_report_text as domain_report_text
from postdesk.core.reporttext import ip_report_text as ip_report_text
from postdesk.core.reporttext import problems_from, records_of
from postdesk.core.reporttext import report_problems as report_problems
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, DkimKey, DnsCheck, SmtpUser, utcnow
from postdesk.core.views import CheckView

#: The status a record has before its domain was ever checked.
UNCHECKED = "unchecked"
APEX = "@"


@dataclass(frozen=True)
class RecordView:
    """One record to publish, with what the latest check found about it."""

    kind: str
    type: str
    host: str
    short_host: str
    value: str
    required: bool
    status: str  # a RecordStatus, or UNCHECKED
    found: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class DomainSummary:
    """A domain as the list shows it."""

    name: str  # stored (A-label) form
    shown: str  # Unicode form
    status: str  # pending | verified | failing
    last_checked_at: dt.datetime | None
    verified_at: dt.datetime | None
    service: str | None

    @property
    def broke(self) -> bool:
        """A domain that passed once and fails now (its records changed or vanished)."""
        return self.status == "failing" and self.verified_at is not None


@dataclass(frozen=True)
class RemovalImpact:
    """What removing a domain also removes, for the confirmation."""

    dkim_keys: int
    smtp_users: int


def summaries(store: Store) -> list[DomainSummary]:
    """Every dedicated domain, by name, as the domains list shows it."""
    with store.session() as s:
        query = (
            select(DedicatedDomain)
            .options(joinedload(DedicatedDomain.service))
            .order_by(DedicatedDomain.name)
        )
        rows = s.scalars(query)
        return [
            DomainSummary(
                d.name,
                display_domain(d.name),
                d.status,
                d.last_checked_at,
                d.verified_at,
                d.service.name if d.service else None,
            )
            for d in rows
        ]


def short_host(host: str, domain: str) -> str:
    """The host as DNS hosts that add the domain themselves want it: ``_dmarc``, or ``@``."""
    host, domain = host.lower().rstrip("."), domain.lower().rstrip(".")
    if host == domain:
        return APEX
    suffix = "." + domain
    return host[: -len(suffix)] if host.endswith(suffix) else host


def checked_ago(moment: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """'checked 4 minutes ago', 'checked yesterday'…; 'not checked yet' when never."""
    if moment is None:
        return "not checked yet"
    now = now or utcnow()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)  # stored times are UTC
    minutes = max(0, int((now - moment).total_seconds() // 60))
    if minutes < 1:
        return "checked just now"
    if minutes < 60:
        return f"checked {_plural(minutes, 'minute')} ago"
    hours = minutes // 60
    if hours < 24:
        return f"checked {_plural(hours, 'hour')} ago"
    days = hours // 24
    return "checked yesterday" if days == 1 else f"checked {days} days ago"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def latest_report(store: Store, name: str) -> dict[str, object] | None:
    """The stored report of the domain's latest check (as ``DomainReport.as_dict()``), if any."""
    with store.session() as s:
        domain = get_domain(s, name)
        query = (
            select(DnsCheck.report)
            .where(DnsCheck.domain_id == domain.id)
            .order_by(DnsCheck.checked_at.desc(), DnsCheck.id.desc())
            .limit(1)
        )
        return s.scalars(query).first()


def record_views(store: Store, name: str) -> list[RecordView]:
    """The records to publish, in order, each with its status and problems from the last check."""
    with store.session() as s:
        domain = get_domain(s, name, selectinload(DedicatedDomain.records))
        checked = domain.last_checked_at is not None
        rows = [(r.kind, r.type, r.host, r.value, r.required, r.status) for r in domain.records]
        stored = domain.name
    report = latest_report(store, stored) if checked else None
    results = {(r["kind"], r["host"]): r for r in records_of(report)}
    views = []
    for kind, rtype, host, value, required, status in rows:
        result = results.get((kind, host), {})
        views.append(
            RecordView(
                kind,
                rtype,
                host,
                short_host(host, stored),
                value,
                required,
                status if checked else UNCHECKED,
                [str(v) for v in result.get("found", [])],  # type: ignore[attr-defined]
                problems_from(result.get("problems", [])),  # type: ignore[arg-type]
            )
        )
    return views


def removal_impact(store: Store, name: str) -> RemovalImpact:
    """How many DKIM keys and SMTP users go with the domain when it is removed."""
    with store.session() as s:
        domain = get_domain(s, name)
        users = s.scalar(
            select(func.count())
            .select_from(SmtpUser)
            .where(SmtpUser.domain_id == domain.id, SmtpUser.deleted_at.is_(None))
        )
        keys = s.scalar(
            select(func.count()).select_from(DkimKey).where(DkimKey.domain_id == domain.id)
        )
        return RemovalImpact(int(keys or 0), int(users or 0))


@dataclass(frozen=True)
class DomainDetailData:
    """Everything the domain page shows besides the summary, read in one go off the GUI thread."""

    name: str
    expected: tuple[ExpectedRecord, ...]
    records: tuple[RecordView, ...]
    report: dict[str, object] | None
    history: tuple[CheckView, ...]


def domain_detail(store: Store, name: str, *, checked: bool, history: int = 20) -> DomainDetailData:
    """The records to publish with their last results, the latest report and the check history."""
    from postdesk.core.domains import check_history, expected_records

    stored, expected = expected_records(store, name)
    return DomainDetailData(
        name=stored,
        expected=tuple(expected),
        records=tuple(record_views(store, name)),
        report=latest_report(store, name) if checked else None,
        history=tuple(check_history(store, name, limit=history)),
    )
