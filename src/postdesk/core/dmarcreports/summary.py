"""Keeping DMARC reports and summarising them: "who sends as this domain"."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from postdesk.core.dmarcreports.read import (
    MAX_INPUT,
    AggregateReport,
    parse_report,
    refused,
    reports_in_message,
)
from postdesk.core.errors import UserError
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, DmarcReport, DmarcRow


@dataclass(frozen=True)
class ImportResult:
    """What became of one file or message given to ``import``."""

    source: str
    status: str  # imported | duplicate | refused
    message: str
    report_id: str = ""
    org_name: str = ""
    policy_domain: str = ""
    messages: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "status": self.status,
            "message": self.message,
            "report_id": self.report_id,
            "org_name": self.org_name,
            "policy_domain": self.policy_domain,
            "messages": self.messages,
        }


@dataclass(frozen=True)
class SourceSummary:
    """One sending IP over a period: "who sends as this domain"."""

    source_ip: str
    ptr: str | None
    messages: int
    dmarc_pass: int
    spf_aligned: int
    dkim_aligned: int
    quarantined: int
    rejected: int
    reporters: tuple[str, ...]
    header_from: tuple[str, ...]
    first_day: dt.date
    last_day: dt.date

    @property
    def pass_rate(self) -> float:
        return self.dmarc_pass / self.messages if self.messages else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "source_ip": self.source_ip,
            "ptr": self.ptr,
            "messages": self.messages,
            "dmarc_pass": self.dmarc_pass,
            "spf_aligned": self.spf_aligned,
            "dkim_aligned": self.dkim_aligned,
            "quarantined": self.quarantined,
            "rejected": self.rejected,
            "reporters": list(self.reporters),
            "header_from": list(self.header_from),
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
        }


@dataclass(frozen=True)
class DailyRow:
    """Messages from one IP as one reporter saw them on one day."""

    day: dt.date
    reporter: str
    source_ip: str
    messages: int
    dmarc_pass: int
    disposition: str

    def as_dict(self) -> dict[str, object]:
        return {
            "day": self.day.isoformat(),
            "reporter": self.reporter,
            "source_ip": self.source_ip,
            "messages": self.messages,
            "dmarc_pass": self.dmarc_pass,
            "disposition": self.disposition,
        }


@dataclass(frozen=True)
class WhoSends:
    """The "Who sends as this domain" view over the last ``days`` days."""

    domain: str
    days: int
    reports: int
    sources: tuple[SourceSummary, ...]
    daily: tuple[DailyRow, ...] = field(default=())
    # The last day the newest report of any age covers: an empty period can then point at it.
    latest_day: dt.date | None = None

    @property
    def messages(self) -> int:
        return sum(source.messages for source in self.sources)

    def as_dict(self) -> dict[str, object]:
        return {
            "domain": self.domain,
            "days": self.days,
            "reports": self.reports,
            "messages": self.messages,
            "sources": [source.as_dict() for source in self.sources],
            "daily": [row.as_dict() for row in self.daily],
            "latest_day": None if self.latest_day is None else self.latest_day.isoformat(),
        }


# --- storing --------------------------------------------------------------------------------


def store_report(session: Session, report: AggregateReport) -> int | None:
    """Keep a report; None when the same report (reporter + id) was imported before."""
    exists = session.scalar(
        select(DmarcReport.id).where(
            DmarcReport.org_name == report.org_name, DmarcReport.report_id == report.report_id
        )
    )
    if exists is not None:
        return None
    domain_id = session.scalar(
        select(DedicatedDomain.id).where(DedicatedDomain.name == report.policy_domain)
    )
    row = DmarcReport(
        domain_id=domain_id,
        policy_domain=report.policy_domain,
        org_name=report.org_name,
        report_id=report.report_id,
        email=report.email,
        begin_at=report.begin,
        end_at=report.end,
        policy=dict(report.policy) | {"format": report.format},
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None  # imported at the same moment by another process
    session.add_all(
        DmarcRow(
            report_id=row.id,
            source_ip=item.source_ip,
            count=item.count,
            disposition=item.disposition,
            dkim=item.dkim,
            spf=item.spf,
            header_from=item.header_from,
            envelope_from=item.envelope_from,
            auth={
                "dkim": [list(result) for result in item.dkim_results],
                "spf": [list(result) for result in item.spf_results],
            },
        )
        for item in report.rows
    )
    return row.id


def import_report_message(session: Session, raw: bytes) -> int | None:
    """Store the report a received mail carries; None when it carries none (or a known one).

    Called for mail that reception received; a mail that is not a report is left alone.
    """
    try:
        reports = reports_in_message(raw)
    except UserError:
        return None
    stored = [store_report(session, report) for report in reports]
    return next((report_id for report_id in stored if report_id is not None), None)


def _looks_like_mail(data: bytes) -> bool:
    """A saved mail (.eml) rather than a report file: a header block, then a blank line."""
    if data.lstrip()[:1] == b"<" or data[:2] == b"\x1f\x8b" or data[:4] == b"PK\x03\x04":
        return False
    head = data[:65536]
    return b"\n\n" in head or b"\r\n\r\n" in head


def _reports_of(path: Path, data: bytes) -> list[AggregateReport]:
    if path.suffix.lower() == ".eml" or _looks_like_mail(data):
        return reports_in_message(data)
    return [parse_report(data)]


def import_files(store: Store, paths: Sequence[Path]) -> list[ImportResult]:
    """``postdesk dmarc import``: each file (XML, .gz, .zip or a saved .eml) read and stored."""
    results: list[ImportResult] = []
    for path in paths:
        try:
            if path.stat().st_size > MAX_INPUT:
                raise refused(f"The file is larger than {MAX_INPUT // (1024 * 1024)} MB.")
            data = path.read_bytes()
            reports = _reports_of(path, data)
        except UserError as exc:
            results.append(ImportResult(str(path), "refused", exc.message))
            continue
        except OSError as exc:
            results.append(ImportResult(str(path), "refused", f"cannot read it: {exc.strerror}"))
            continue
        with store.session() as session:
            for report in reports:
                stored = store_report(session, report)
                results.append(
                    ImportResult(
                        str(path),
                        "imported" if stored is not None else "duplicate",
                        "imported"
                        if stored is not None
                        else "already imported (same reporter and report id)",
                        report.report_id,
                        report.org_name,
                        report.policy_domain,
                        report.messages,
                    )
                )
    return results


# --- the "who sends as this domain" view ----------------------------------------------------


def who_sends(
    store: Store, domain: str, days: int = 30, *, now: dt.datetime | None = None
) -> WhoSends:
    """Every source IP the reports of the last ``days`` days name for ``domain``, busiest first."""
    now = now or dt.datetime.now(dt.UTC)
    since = now - dt.timedelta(days=days)
    with store.session() as session:
        rows = session.execute(
            select(
                DmarcRow.source_ip,
                DmarcRow.ptr,
                DmarcRow.count,
                DmarcRow.disposition,
                DmarcRow.dkim,
                DmarcRow.spf,
                DmarcRow.header_from,
                DmarcReport.org_name,
                DmarcReport.begin_at,
            )
            .join(DmarcReport, DmarcReport.id == DmarcRow.report_id)
            .where(DmarcReport.policy_domain == domain, DmarcReport.end_at >= since)
        ).all()
        reports = session.scalar(
            select(func.count(DmarcReport.id)).where(
                DmarcReport.policy_domain == domain, DmarcReport.end_at >= since
            )
        )
        latest = session.scalar(
            select(func.max(DmarcReport.end_at)).where(DmarcReport.policy_domain == domain)
        )
    return WhoSends(
        domain=domain,
        days=days,
        reports=reports or 0,
        sources=tuple(_summaries(rows)),
        daily=tuple(_daily(rows)),
        latest_day=None if latest is None else latest.date(),
    )


def _summaries(rows: Iterable) -> list[SourceSummary]:  # type: ignore[type-arg]
    by_ip: dict[str, list] = {}  # type: ignore[type-arg]
    for row in rows:
        by_ip.setdefault(row.source_ip, []).append(row)
    summaries = []
    for ip, items in by_ip.items():
        days = [item.begin_at.date() for item in items]
        summaries.append(
            SourceSummary(
                source_ip=ip,
                ptr=next((item.ptr for item in items if item.ptr), None),
                messages=sum(item.count for item in items),
                dmarc_pass=sum(item.count for item in items if "pass" in (item.dkim, item.spf)),
                spf_aligned=sum(item.count for item in items if item.spf == "pass"),
                dkim_aligned=sum(item.count for item in items if item.dkim == "pass"),
                quarantined=sum(item.count for item in items if item.disposition == "quarantine"),
                rejected=sum(item.count for item in items if item.disposition == "reject"),
                reporters=tuple(sorted({item.org_name for item in items})),
                header_from=tuple(sorted({item.header_from for item in items if item.header_from})),
                first_day=min(days),
                last_day=max(days),
            )
        )
    summaries.sort(key=lambda s: (-s.messages, s.source_ip))
    return summaries


def _daily(rows: Iterable) -> list[DailyRow]:  # type: ignore[type-arg]
    grouped: dict[tuple[dt.date, str, str], list] = {}  # type: ignore[type-arg]
    for row in rows:
        grouped.setdefault((row.begin_at.date(), row.org_name, row.source_ip), []).append(row)
    daily = []
    for (day, reporter, ip), items in grouped.items():
        dispositions = {item.disposition for item in items}
        daily.append(
            DailyRow(
                day=day,
                reporter=reporter,
                source_ip=ip,
                messages=sum(item.count for item in items),
                dmarc_pass=sum(item.count for item in items if "pass" in (item.dkim, item.spf)),
                disposition=", ".join(sorted(dispositions)),
            )
        )
    daily.sort(key=lambda r: (r.day, r.reporter, -r.messages), reverse=True)
    return daily


async def resolve_sources(store: Store, domain: str, client) -> int:  # type: ignore[no-untyped-def]
    """Look up the reverse DNS name of each reported IP that has none yet; how many were named.

    ``client`` is a ``dnscheck.resolver.DnsClient``; lookups run together, and a name that does
    not resolve stays empty (shown as the bare IP).
    """
    import dns.reversename

    with store.session() as session:
        ips = session.scalars(
            select(DmarcRow.source_ip)
            .join(DmarcReport, DmarcReport.id == DmarcRow.report_id)
            .where(DmarcReport.policy_domain == domain, DmarcRow.ptr.is_(None))
            .distinct()
        ).all()
    if not ips:
        return 0

    async def ptr(ip: str) -> tuple[str, str | None]:
        answer = await client.query(dns.reversename.from_address(ip).to_text(), "PTR")
        names = [value.rstrip(".") for value in answer.values]
        return ip, (names[0][:253] if names else None)

    named = dict(await asyncio.gather(*(ptr(ip) for ip in ips)))
    with store.session() as session:
        rows = session.scalars(
            select(DmarcRow)
            .join(DmarcReport, DmarcReport.id == DmarcRow.report_id)
            .where(DmarcReport.policy_domain == domain, DmarcRow.ptr.is_(None))
        ).all()
        for row in rows:
            if named.get(row.source_ip):
                row.ptr = named[row.source_ip]
    return sum(1 for name in named.values() if name)
