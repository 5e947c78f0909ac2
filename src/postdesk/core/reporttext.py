"""Check reports as plain text: what ``domain verify``, ``check`` and the Copy report buttons show.

One printer for the command line and the GUI. Text that came from outside (DNS answers, what a
user typed) is escaped, so a line break or a hidden character in it can't forge a line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

from postdesk.core.domainname import display_domain
from postdesk.core.records import Problem
from postdesk.core.validation import escape_input

_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def records_of(report: Mapping[str, object] | None) -> list[dict[str, object]]:
    """The record results of a stored or live report (``as_dict()``); none without a report."""
    return list(report.get("records", [])) if report else []  # type: ignore[call-overload]


def problems_from(items: Iterable[Mapping[str, str] | Problem]) -> list[Problem]:
    """Problems from a stored report (dicts) or a live one, most serious first."""
    problems = [p if isinstance(p, Problem) else Problem(**p) for p in items]  # type: ignore[arg-type]
    return sorted(problems, key=lambda p: _SEVERITY_ORDER.get(p.severity, len(_SEVERITY_ORDER)))


def report_problems(report: Mapping[str, object] | None) -> list[tuple[str, Problem]]:
    """Every problem of a stored or live report with the host it is about, most serious first."""
    pairs = [
        (str(r["host"]), p)
        for r in records_of(report)
        for p in problems_from(r.get("problems", []))  # type: ignore[arg-type]
    ]
    return sorted(pairs, key=lambda pair: _SEVERITY_ORDER.get(pair[1].severity, 3))


# --- plain-text reports for tickets -----------------------------------------------------------


def domain_report_text(report: Mapping[str, object], *, title: str = "DNS check") -> str:
    """A domain check (verify or diagnose, as ``as_dict()``) as plain text to paste in a ticket."""
    lines = [
        f"{title}: {display_domain(str(report.get('domain', '')))}",
        f"Result: {report.get('status', '')}",
        f"Checked at: {_readable_time(report.get('checked_at'))}",
        "",
    ]
    for record in records_of(report):
        lines.append(f"{record['type']} {record['host']}: {record['status']}")
        for value in record.get("found", []) or []:  # type: ignore[attr-defined]
            lines.append(f"  found: {value}")
    return _with_problems(lines, report_problems(report))


def ip_report_text(report: Mapping[str, object]) -> str:
    """An IP check (``IpReport.as_dict()``) as plain text to paste in a ticket."""
    ptr: Sequence[str] = report.get("ptr") or []  # type: ignore[assignment]
    lines = [
        f"IP check: {report.get('ip', '')}",
        f"Result: {report.get('status', '')}",
        f"Reverse DNS: {', '.join(ptr) or 'none'}"
        f" (points back: {'yes' if report.get('fcrdns') else 'no'})",
    ]
    spf: Mapping[str, str] = report.get("spf") or {}  # type: ignore[assignment]
    lines += [f"SPF of {display_domain(d)}: {verdict}" for d, verdict in spf.items()]
    for item in report.get("blocklists") or []:  # type: ignore[attr-defined]
        reason = f" ({item['reason']})" if item.get("reason") else ""
        lines.append(f"Blocklist {item['zone']}: {item['status']}{reason}")
    lines.append("")
    problems = [("", p) for p in problems_from(report.get("problems") or [])]  # type: ignore[arg-type]
    return _with_problems(lines, problems)


def _with_problems(lines: list[str], problems: Sequence[tuple[str, Problem]]) -> str:
    if not problems:
        lines.append("No problems found.")
    for host, item in problems:
        where = f" ({host})" if host else ""
        lines += [f"[{item.severity}] {item.code}{where}", f"  {item.message}"]
        if item.fix:
            lines.append(f"  Fix: {item.fix}")
    return "\n".join(escape_input(line) for line in lines) + "\n"


def _readable_time(value: object) -> str:
    """An ISO time from a report as people read it: '2026-11-29 10:52:30 UTC'."""
    text = str(value or "")
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return escape_input(text) if text else "unknown"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
