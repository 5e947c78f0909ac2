"""Reading DMARC aggregate reports: XML, gzip or zip files, or a mail carrying one.

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
from dataclasses import dataclass
from email.message import Message
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import fromstring as parse_xml

from postdesk.core.errors import UserError

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


# --- reading --------------------------------------------------------------------------------


def refused(message: str, hint: str = "") -> UserError:
    return UserError(
        "dmarc.report_refused",
        message,
        hint or "Give the report as the receiver sent it: an .xml, .xml.gz or .zip file.",
    )


def _capped(stream: io.BufferedIOBase | gzip.GzipFile, what: str) -> bytes:
    data = stream.read(MAX_XML + 1)
    if len(data) > MAX_XML:
        raise refused(
            f"The {what} inflates to more than {MAX_XML // (1024 * 1024)} MB; no real DMARC "
            "report is that large, so it was not read (it may be a compression bomb)."
        )
    return data


def _inflate(data: bytes) -> bytes:
    """The report XML inside ``data`` (plain, gzip or zip), inflated with a cap."""
    if len(data) > MAX_INPUT:
        raise refused(f"The file is larger than {MAX_INPUT // (1024 * 1024)} MB.")
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
                return _capped(stream, "gzip file")
        except (OSError, EOFError, zlib.error) as exc:
            raise refused(f"The gzip file is damaged ({exc}).") from None
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
                raise refused(
                    f"The zip file holds {len(chosen)} reports; a DMARC report zip holds one XML "
                    "file.",
                    "Unpack it and import each .xml file.",
                )
            with archive.open(chosen[0]) as stream:
                return _capped(stream, "zip file")  # type: ignore[arg-type]
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise refused(f"The zip file is damaged ({exc}).") from None


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
        raise refused(f"The report's {what} is not a time ({value[:40]!r}).") from None


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
        raise refused(f"A record's source IP is not an address ({source_ip[:60]!r}).") from None
    try:
        count = int(_text(row, "count", "0"))
    except ValueError:
        raise refused("A record's message count is not a number.") from None
    if count < 0:
        raise refused("A record's message count is negative.")
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
        raise refused(f"The report is not readable XML ({str(exc)[:120]}).") from None
    if _local(root.tag) != "feedback":
        raise refused(
            f"This XML is not a DMARC aggregate report (its root is <{_local(root.tag)}>)."
        )
    metadata = _child(root, "report_metadata")
    published = _child(root, "policy_published")
    dates = _child(metadata, "date_range")
    org_name = _text(metadata, "org_name")
    report_id = _text(metadata, "report_id")
    domain = _text(published, "domain").lower().rstrip(".")
    if not org_name or not report_id or not domain or dates is None:
        raise refused(
            "The report lacks its reporter, report id, domain or date range, so it cannot be read."
        )
    records = _children(root, "record")
    if len(records) > MAX_ROWS:
        raise refused(f"The report has {len(records):,} records; at most {MAX_ROWS:,} are read.")
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
        raise refused(
            "This mail carries no DMARC report (no .xml, .gz or .zip attachment).",
            "Save the report attachment itself and import that file.",
        )
    return [parse_report(data) for _name, data in files]
