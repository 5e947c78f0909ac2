"""The ``Received`` hops in the order the message travelled, with delays and clock skew.

Each server adds its ``Received`` on top, so the bottom one is the first hop. A delay is the
difference between two servers' clocks, so a negative one, or one the rest of the path does not
account for (a server whose time zone is wrong by a whole number of hours), is clock skew.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from email.utils import parsedate_to_datetime
from typing import Literal

from postdesk.core.analyze.parse import ParsedMessage

DelayKind = Literal["ok", "delay", "skew"]
SLOW_HOP = timedelta(minutes=5)  # longer than this at one hop is worth telling a user
SKEW_TOLERANCE = timedelta(minutes=2)  # clocks a little apart are normal, not worth a finding
ABSURD = timedelta(days=7)  # a wait longer than this means a wrong clock, not a queue
SENDER = "the sender's Date header"

_FROM = re.compile(r"\bfrom\s+([^\s;()]+)", re.IGNORECASE)
_BY = re.compile(r"\bby\s+([^\s;()]+)", re.IGNORECASE)
_WITH = re.compile(r"\bwith\s+([^\s;()]+)", re.IGNORECASE)
_IP = re.compile(
    r"\[(?:IPv6:)?([0-9a-fA-F:.]+)\]|\(([0-9a-fA-F:.]{7,})\)|\b(\d{1,3}(?:\.\d{1,3}){3})\b"
)
_TLS_WITH = {"smtps", "esmtps", "esmtpsa", "utf8smtps", "utf8smtpsa", "lmtps", "lmtpsa"}
_COMMENT = re.compile(r"\([^()]*\)")
_TLS_VERSION = re.compile(r"\b(TLS[_ v]?1[._]\d|TLSv1(?:\.\d)?|SSLv3)\b", re.IGNORECASE)
_FRACTION = re.compile(r"(\d{1,2}:\d{2}:\d{2})\.\d+")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}\s*(?:[+-]\d{2}:?\d{2}|Z)?")
# A Received without the ';' before its date (some providers write it so): find the date.
_LOOSE_DATE = re.compile(
    r"(?:[A-Z][a-z]{2},\s*)?\d{1,2}\s+[A-Z][a-z]{2}\s+\d{4}\s+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
    r"\s*(?:[+-]\d{4}|[A-Z]{2,4})?"
    r"|\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?\s*(?:[+-]\d{2}:?\d{2}|Z)?"
)
_CIPHER = re.compile(r"cipher[= ]([A-Z0-9_-]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Hop:
    """One server handing the message on: who, from where, how, and when by its clock."""

    number: int  # 1 is the first server the message reached
    from_host: str
    from_ips: tuple[str, ...]
    by_host: str
    protocol: str
    tls: bool | None  # None when the header does not say
    tls_detail: str
    when: datetime | None  # aware; None when the date could not be read
    date_text: str
    delay: timedelta | None  # since the previous hop (or the Date header for the first)
    delay_kind: DelayKind | None
    raw: str

    @property
    def name(self) -> str:
        """How the hop is named to a user: the receiving server."""
        return self.by_host or f"hop {self.number}"

    def local_time(self, zone: tzinfo | None = None) -> datetime | None:
        """The time stamp in ``zone`` (the user's local zone when ``None``)."""
        return self.when.astimezone(zone) if self.when else None

    def as_dict(self, zone: tzinfo | None = None) -> dict[str, object]:
        local = self.local_time(zone)
        return {
            "number": self.number,
            "from": self.from_host,
            "from_ips": list(self.from_ips),
            "by": self.by_host,
            "with": self.protocol,
            "tls": self.tls,
            "tls_detail": self.tls_detail,
            "time": local.isoformat() if local else None,
            "date_text": self.date_text,
            "delay_seconds": self.delay.total_seconds() if self.delay is not None else None,
            "delay_kind": self.delay_kind,
        }


def parse_date(text: str) -> datetime | None:
    """An RFC 5322 date as an aware datetime (no zone is read as UTC); ``None`` if unreadable.

    Fractions of a second and ISO 8601 stamps, which some servers write, are read too.
    """
    text = _FRACTION.sub(r"\1", text.strip())
    iso = _ISO.fullmatch(text.split(" UTC")[0].strip())
    if iso:
        return _iso(iso.group(0))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _iso(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.replace(" ", "T", 1).replace(" ", ""))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _ips(text: str) -> tuple[str, ...]:
    found: list[str] = []
    for match in _IP.finditer(text):
        candidate = next(g for g in match.groups() if g)
        try:
            address = str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
        if address not in found:
            found.append(address)
    return tuple(found)


def _tls(text: str, protocol: str) -> tuple[bool | None, str]:
    version = _TLS_VERSION.search(text)
    cipher = _CIPHER.search(text)
    detail = " ".join(
        part
        for part in (version.group(1) if version else "", cipher.group(1) if cipher else "")
        if part
    )
    if version or protocol.lower() in _TLS_WITH or "transport security" in text.lower():
        return True, detail
    if protocol.upper() in ("SMTP", "ESMTP", "ESMTPA", "LMTP", "UTF8SMTP"):
        return False, ""
    return None, detail


def _first(pattern: re.Pattern[str], text: str) -> str:
    match = pattern.search(text)
    return match.group(1).rstrip(".") if match else ""


def _hop(value: str) -> tuple[str, str, str, tuple[str, ...], str, bool | None, str]:
    route, semicolon, date_text = value.rpartition(";")
    if not semicolon:
        loose = _LOOSE_DATE.search(value)
        route, date_text = (value[: loose.start()], loose.group(0)) if loose else (value, "")
    # Only the "from" clause names the previous server's address; "by" names this one.
    from_clause = re.split(r"\bby\s", route, maxsplit=1, flags=re.IGNORECASE)[0]
    bare = route
    while _COMMENT.search(bare):  # "(using TLSv1.3 with cipher …)" is not the protocol
        bare = _COMMENT.sub(" ", bare)
    from_host, by_host = _first(_FROM, bare).lower(), _first(_BY, bare).lower()
    protocol = _first(_WITH, bare)
    tls, detail = _tls(route, protocol)
    return date_text.strip(), from_host, by_host, _ips(from_clause), protocol, tls, detail


def received_hops(message: ParsedMessage) -> list[Hop]:
    """The hops first to last, each with the delay since the one before and its kind."""
    values = list(reversed(message.all("Received")))
    sent = message.first("Date")
    previous = parse_date(sent) if sent else None
    stamps = [previous] + [None] * len(values)
    hops: list[Hop] = []
    for number, value in enumerate(values, start=1):
        date_text, from_host, by_host, ips, protocol, tls, detail = _hop(value)
        when = parse_date(date_text) if date_text else None
        stamps[number] = when
        delay = when - previous if when is not None and previous is not None else None
        hops.append(
            Hop(
                number,
                from_host,
                ips,
                by_host,
                protocol,
                tls,
                detail,
                when,
                date_text,
                delay,
                None,
                value,
            )
        )
        previous = when
    return _classify(hops, stamps)


def _classify(hops: list[Hop], stamps: list[datetime | None]) -> list[Hop]:
    known = [s for s in stamps[1:] if s is not None]
    # What the whole path took by the servers' clocks; one hop cannot have waited longer.
    total = known[-1] - known[0] if len(known) > 1 else None
    result = []
    for hop in hops:
        kind: DelayKind | None = None
        if hop.delay is not None:
            kind = _kind(hop.delay, total if hop.number > 1 else None)
        result.append(_with_kind(hop, kind))
    return result


def _kind(delay: timedelta, total: timedelta | None) -> DelayKind:
    if delay < -SKEW_TOLERANCE or delay > ABSURD:
        return "skew"
    if total is None and _whole_hours(delay):
        return "skew"  # the sender's computer has its time zone wrong
    if delay > SLOW_HOP and total is not None and delay > total + SKEW_TOLERANCE:
        return "skew"  # a later hop went back in time by as much: one server's clock is off
    if delay > SLOW_HOP:
        return "delay"
    return "ok"


def _whole_hours(delay: timedelta) -> bool:
    hours = round(delay.total_seconds() / 3600)
    return hours >= 1 and abs(delay - timedelta(hours=hours)) <= SKEW_TOLERANCE


def _with_kind(hop: Hop, kind: DelayKind | None) -> Hop:
    return Hop(
        hop.number,
        hop.from_host,
        hop.from_ips,
        hop.by_host,
        hop.protocol,
        hop.tls,
        hop.tls_detail,
        hop.when,
        hop.date_text,
        hop.delay,
        kind,
        hop.raw,
    )


def describe_delay(delay: timedelta) -> str:
    """A delay in words: '3 seconds', '12 minutes', '-23 hours'."""
    seconds = int(delay.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 90:
        return f"{sign}{seconds} second{'' if seconds == 1 else 's'}"
    if seconds < 90 * 60:
        return f"{sign}{round(seconds / 60)} minutes"
    if seconds < 48 * 3600:
        return f"{sign}{round(seconds / 3600, 1):g} hours"
    return f"{sign}{round(seconds / 86400, 1):g} days"
