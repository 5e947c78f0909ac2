"""The daily count's plain parts: today's figure against the limit, its level, the UTC day.

Kept apart from ``usage`` (which counts and enforces through the store) so that reading usage on
the lightweight path needs no ORM; ``usage`` re-exports every name here.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Literal

WARNING_SHARE = 0.80
CRITICAL_SHARE = 0.95
Level = Literal["normal", "warning", "critical", "limit", "exceeded"]


@dataclass(frozen=True)
class Today:
    """Today's count against the limit."""

    date: dt.date
    sent: int
    limit: int

    @property
    def remaining(self) -> int:
        return max(self.limit - self.sent, 0)

    @property
    def level(self) -> Level:
        return level_for(self.sent, self.limit)

    def as_dict(self) -> dict[str, object]:
        return {
            "date": self.date.isoformat(),
            "sent": self.sent,
            "remaining": self.remaining,
            "level": self.level,
        }


def level_for(sent: int, limit: int) -> Level:
    """normal under 80 %, warning from 80 %, critical from 95 %, limit at 100 %, then exceeded."""
    if sent > limit:
        return "exceeded"
    if sent == limit:
        return "limit"
    if sent >= limit * CRITICAL_SHARE:
        return "critical"
    if sent >= limit * WARNING_SHARE:
        return "warning"
    return "normal"


def utc_day(at: dt.datetime | None = None) -> dt.date:
    """The UTC day a moment falls on (the limit resets at 00:00 UTC)."""
    return (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date()


def next_reset(at: dt.datetime | None = None) -> dt.datetime:
    """When the daily count next starts from zero (00:00 UTC)."""
    day = utc_day(at) + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)


def reset_phrase(at: dt.datetime | None = None) -> str:
    """When the count starts again, in UTC and local time: "00:00 UTC (01:00 your time)"."""
    local = next_reset(at).astimezone()
    if local.utcoffset() == dt.timedelta(0):
        return "00:00 UTC"
    return f"00:00 UTC ({local.strftime('%H:%M')} your time)"


def series_csv(series: list[tuple[dt.date, int]]) -> str:
    """The series as CSV: a header line, then one line per day."""
    import csv  # only when exporting: the window's first tab imports this module at start

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["date", "sent"])
    writer.writerows((day.isoformat(), n) for day, n in series)
    return out.getvalue()
