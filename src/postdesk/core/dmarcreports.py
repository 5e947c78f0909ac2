"""DMARC aggregate reports: read (XML, gzip or zip; RFC 7489 and RFC 9990), store, summarise.

Receivers send a daily report to the address in the domain's ``rua`` tag: which IPs sent mail
claiming the domain, how many messages, and whether SPF and DKIM passed and aligned. Read
together they answer "who sends as this domain?" — the shop's own provider, a forgotten CRM, or
someone forging it.

Reports come from strangers, so reading is defensive: the XML parser refuses entities and DTDs
(defusedxml), compressed data is inflated with a hard cap (a zip or gzip bomb stops at the cap),
and anything that is not a report is refused with one line saying what was wrong.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import gzip
import io
import ipaddress
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import fromstring as parse_xml
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from postdesk.core.errors import UserError
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, DmarcReport, DmarcRow

#: The largest report file (as sent, compressed or not) that is read at all.
MAX_INPUT = 10 * 1024 * 1024
#: The largest XML a compressed report may inflate to; real daily reports are kilobytes.
MAX_XML = 20 * 1024 * 1024
#: The most rows one report may carry (a busy domain's daily report has hundreds).
MAX_ROWS = 100_000

_RESULTS = {"pass", "fail", "none", "softfail", "neutral", "temperror", "permerror", "policy"}


@dataclass(frozen=True)
class ReportRow:
    """One ``<record>``: a source IP, how many messages, and what the receiver concluded."""

    source_ip: str
    count: int
    disposition: str  # none | quarantine | reject (RFC 9990 adds pass)
    dkim: str  # policy-evaluated: pass means a DKIM signature passed *and* aligned
    spf: str
    header_from: str
    envelope_from: str
    dkim_results: tuple[tuple[str, str, str], ...] = ()  # (domain, selector, result)
    spf_results: tuple[tuple[str, str, str], ...] = ()  # (domain, scope, result)

    @property
    def dmarc_pass(self) -> bool:
        return self.dkim == "pass" or self.spf == "pass"


@dataclass(frozen=True)
class AggregateReport:
    """A whole report, as read from its XML."""

    org_name: str
    email: str
    report_id: str
    begin: dt.datetime
    end: dt.datetime
    policy_domain: str
    policy: dict[str, str]
    rows: tuple[ReportRow, ...]
    format: str  # "rfc7489" or "rfc9990"

    @property
    def messages(self) -> int:
        return sum(row.count for row in self.rows)


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
        }


# --- reading --------------------------------------------------------------------------------


def _refused(message: str, hint: str = "") -> UserError:
    return UserError(
        "dmarc.report_refused",
        message,
        hint or "Give the report as the receiver sent it: an .xml, .xml.gz or .zip file.",
    )


def _capped(stream: io.BufferedIOBase | gzip.GzipFile, what: str) -> bytes:
    data = stream.read(MAX_XML + 1)
    if len(data) > MAX_XML:
        raise _refused(
            f"The {what} inflates to more than {MAX_XML // (1024 * 1024)} MB; no real DMARC "
            "report is that large, so it was not read (it may be a compression bomb)."
        )
    return data


def _inflate(data: bytes) -> bytes:
    """The report XML inside ``data`` (plain, gzip or zip), inflated with a cap."""
    if len(data) > MAX_INPUT:
        raise _refused(f"The file is larger than {MAX_INPUT // (1024 * 1024)} MB.")
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
                return _capped(stream, "gzip file")
        except (OSError, EOFError, zlib.error) as exc:
            raise _refused(f"The gzip file is damaged ({exc}).") from None
    if data[:4] == b"PK\x03\x04":
        return _unzip(data)
    return data


def _unzip(data: bytes) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            xml = [info for info in members if info.filename.lower().endswith(".xml")]
            chosen = xml or members
            if len(chosen) != 1:
                raise _refused(
                    f"The zip file holds {len(chosen)} reports; a DMARC report zip holds one XML "
                    "file.",
                    "Unpack it and import each .xml file.",
                )
            with archive.open(chosen[0]) as stream:
                return _capped(stream, "zip file")  # type: ignore[arg-type]
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise _refused(f"The zip file is damaged ({exc}).") from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: Element | None, name: str) -> Element | None:
    if element is None:
        return None
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _children(element: Element | None, name: str) -> list[Element]:
    if element is None:
        return []
    return [child for child in element if _local(child.tag) == name]


def _text(element: Element | None, name: str, default: str = "") -> str:
    child = _child(element, name)
    if child is None or child.text is None:
        return default
    return child.text.strip()


def _timestamp(value: str, what: str) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(int(value.strip()), dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise _refused(f"The report's {what} is not a time ({value[:40]!r}).") from None


def _result(value: str) -> str:
    value = value.strip().lower()
    return value if value in _RESULTS else (value[:12] or "none")


def _row(record: Element) -> ReportRow:
    row = _child(record, "row")
    evaluated = _child(row, "policy_evaluated")
    identifiers = _child(record, "identifiers")
    auth = _child(record, "auth_results")
    source_ip = _text(row, "source_ip")
    try:
        source_ip = str(ipaddress.ip_address(source_ip))
    except ValueError:
        raise _refused(f"A record's source IP is not an address ({source_ip[:60]!r}).") from None
    try:
        count = int(_text(row, "count", "0"))
    except ValueError:
        raise _refused("A record's message count is not a number.") from None
    if count < 0:
        raise _refused("A record's message count is negative.")
    return ReportRow(
        source_ip=source_ip,
        count=count,
        disposition=_result(_text(evaluated, "disposition", "none")),
        dkim=_result(_text(evaluated, "dkim", "none")),
        spf=_result(_text(evaluated, "spf", "none")),
        header_from=_text(identifiers, "header_from").lower()[:253],
        envelope_from=_text(identifiers, "envelope_from").lower()[:253],
        dkim_results=tuple(
            (_text(d, "domain").lower(), _text(d, "selector"), _result(_text(d, "result")))
            for d in _children(auth, "dkim")
        ),
        spf_results=tuple(
            (_text(s, "domain").lower(), _text(s, "scope", "mfrom"), _result(_text(s, "result")))
            for s in _children(auth, "spf")
        ),
    )


def parse_report(data: bytes) -> AggregateReport:
    """Read one aggregate report from its file contents (XML, gzip or zip).

    Raises ``UserError`` (``dmarc.report_refused``) with what was wrong for anything else.
    """
    xml = _inflate(data)
    try:
        root = parse_xml(xml, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise _refused(f"The report is not readable XML ({str(exc)[:120]}).") from None
    if _local(root.tag) != "feedback":
        raise _refused(
            f"This XML is not a DMARC aggregate report (its root is <{_local(root.tag)}>)."
        )
    metadata = _child(root, "report_metadata")
    published = _child(root, "policy_published")
    dates = _child(metadata, "date_range")
    org_name = _text(metadata, "org_name")
    report_id = _text(metadata, "report_id")
    domain = _text(published, "domain").lower().rstrip(".")
    if not org_name or not report_id or not domain or dates is None:
        raise _refused(
            "The report lacks its reporter, report id, domain or date range, so it cannot be read."
        )
    records = _children(root, "record")
    if len(records) > MAX_ROWS:
        raise _refused(f"The report has {len(records):,} records; at most {MAX_ROWS:,} are read.")
    policy = {
        _local(child.tag): (child.text or "").strip()
        for child in (published if published is not None else [])
        if _local(child.tag) != "domain"
    }
    namespace = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    return AggregateReport(
        org_name=org_name[:200],
        email=_text(metadata, "email")[:320],
        report_id=report_id[:200],
        begin=_timestamp(_text(dates, "begin"), "start date"),
        end=_timestamp(_text(dates, "end"), "end date"),
        policy_domain=domain[:253],
        policy=policy,
        rows=tuple(_row(record) for record in records),
        format="rfc9990"
        if namespace.endswith("dmarc-2.0") or "discovery_method" in policy
        else "rfc7489",
    )


_REPORT_TYPES = {
    "application/zip",
    "application/x-zip-compressed",
    "application/gzip",
    "application/x-gzip",
    "application/xml",
    "text/xml",
    "application/octet-stream",
}
_REPORT_SUFFIXES = (".xml", ".xml.gz", ".gz", ".zip")


def report_files(message: Message) -> list[tuple[str, bytes]]:
    """The attachments of a mail that can be a report: (file name, contents)."""
    found: list[tuple[str, bytes]] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        name = part.get_filename() or ""
        kind = part.get_content_type()
        if kind not in _REPORT_TYPES and not name.lower().endswith(_REPORT_SUFFIXES):
            continue
        if kind == "application/octet-stream" and not name.lower().endswith(_REPORT_SUFFIXES):
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and payload:
            found.append((name or kind, payload))
    return found


def reports_in_message(raw: bytes) -> list[AggregateReport]:
    """Every aggregate report a mail carries (usually one); refuses a mail that carries none."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    files = report_files(message)
    if not files:
        raise _refused(
            "This mail carries no DMARC report (no .xml, .gz or .zip attachment).",
            "Save the report attachment itself and import that file.",
        )
    return [parse_report(data) for _name, data in files]


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
                raise _refused(f"The file is larger than {MAX_INPUT // (1024 * 1024)} MB.")
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
    return WhoSends(
        domain=domain,
        days=days,
        reports=reports or 0,
        sources=tuple(_summaries(rows)),
        daily=tuple(_daily(rows)),
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
    import asyncio

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
