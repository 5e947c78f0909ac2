"""Rendering a report: self-contained HTML (inline CSS, nothing fetched), plain text, JSON.

The HTML must open offline years later and print cleanly, so it has no scripts, no links to
fonts or images and no URLs in attributes; every value is escaped, because headers and DNS
answers are written by strangers.
"""

from __future__ import annotations

import json
import os
import tempfile
from html import escape
from pathlib import Path

from postdesk.core.errors import UserError
from postdesk.core.records import Problem
from postdesk.core.report.model import Report, Table

FORMATS = ("html", "json", "text")
_SEVERITY_WORDS = {"error": "Problem", "warning": "Warning", "info": "Note"}

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;
max-width:60rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.15rem;margin:1.75rem 0 .5rem;
border-bottom:1px solid #d5d9e0;padding-bottom:.25rem}
.meta{color:#5b6472;margin:0 0 1rem}.status{display:inline-block;padding:.1rem .6rem;
border-radius:1rem;font-weight:600;background:#e6f4ea;color:#1e6b34}
.status.failing{background:#fdecea;color:#a3261b}
ol.findings{padding-left:1.25rem}ol.findings li{margin:0 0 .75rem}
.sev{font-weight:600;margin-right:.35rem}.sev.error{color:#a3261b}.sev.warning{color:#8a5a00}
.sev.info{color:#2d5b9a}.code{font-family:ui-monospace,Menlo,Consolas,monospace;color:#5b6472;
font-size:.85em}.fix{margin:.15rem 0 0}
table{border-collapse:collapse;width:100%;margin:.25rem 0 1rem;font-size:.92em}
th,td{border:1px solid #d5d9e0;padding:.3rem .45rem;text-align:left;vertical-align:top;
word-break:break-word}th{background:#f3f5f8}
details{margin:.5rem 0;border:1px solid #d5d9e0;border-radius:.3rem;padding:.4rem .6rem}
summary{cursor:pointer;font-weight:600}
pre{white-space:pre-wrap;word-break:break-all;font:12px/1.4 ui-monospace,Menlo,Consolas,monospace}
@media print{body{margin:0;max-width:none}details{border:none;padding:0}
details>summary{list-style:none}h2{break-after:avoid}tr,li{break-inside:avoid}}
"""


def _finding_html(problem: Problem) -> str:
    severity = escape(problem.severity)
    fix = f'<p class="fix">What to do: {escape(problem.fix)}</p>' if problem.fix else ""
    return (
        f'<li><span class="sev {severity}">{escape(_SEVERITY_WORDS.get(problem.severity, ""))}'
        f'</span>{escape(problem.message)} <span class="code">{escape(problem.code)}</span>'
        f"{fix}</li>"
    )


def _table_html(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in table.rows
    )
    note = f"<p>{escape(table.note)}</p>" if table.note else ""
    header = f"<thead><tr>{head}</tr></thead>" if any(table.headers) else ""
    rows = f"<table>{header}<tbody>{body}</tbody></table>" if table.rows else ""
    return f"<h2>{escape(table.title)}</h2>{note}{rows}"


def render_html(report: Report) -> str:
    """The report as one HTML document that needs nothing else to show or print."""
    made = report.made_at.strftime("%Y-%m-%d %H:%M:%S %Z (UTC%z)")
    status = escape(report.status)
    findings = "".join(_finding_html(p) for p in report.findings) or "<li>Nothing wrong found.</li>"
    checked = "".join(f"<li>{escape(c)}</li>" for c in report.checked)
    evidence = "".join(
        f"<details><summary>{escape(e.title)}</summary><pre>{escape(e.text)}</pre></details>"
        for e in report.evidence
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(report.title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(report.title)}</h1>"
        f'<p class="meta">Made {escape(made)} on {escape(report.host or "this computer")} '
        f"with Postdesk {escape(report.version)}. "
        f'Result: <span class="status {status}">{status}</span></p>'
        f"<h2>What was checked</h2><ul>{checked}</ul>"
        f'<h2>Findings</h2><ol class="findings">{findings}</ol>'
        + "".join(_table_html(t) for t in report.tables)
        + (f"<h2>Raw evidence</h2>{evidence}" if evidence else "")
        + "</body></html>\n"
    )


def render_text(report: Report) -> str:
    """The report as plain text, for pasting into a ticket."""
    lines = [
        report.title,
        f"Made {report.made_at.isoformat(timespec='seconds')} on {report.host} with "
        f"Postdesk {report.version}. Result: {report.status.upper()}",
        "",
        "Checked: " + "; ".join(report.checked),
        "",
        "Findings:" if report.findings else "Findings: nothing wrong found.",
    ]
    for problem in report.findings:
        lines.append(f"  [{problem.severity}] {problem.code}: {problem.message}")
        if problem.fix:
            lines.append(f"      What to do: {problem.fix}")
    for table in report.tables:
        lines += ["", table.title]
        if table.note:
            lines.append(f"  {table.note}")
        # the column names first: without them "yes | no" says nothing to the reader
        lines += ["  " + " | ".join(table.headers)] if any(table.headers) else []
        lines += ["  " + " | ".join(row) for row in table.rows]
    for item in report.evidence:
        lines += ["", f"--- {item.title} ---", item.text]
    return "\n".join(lines) + "\n"


def render(report: Report, fmt: str) -> str:
    """The report in ``fmt`` (``html``, ``json`` or ``text``)."""
    if fmt == "html":
        return render_html(report)
    if fmt == "json":
        return json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "text":
        return render_text(report)
    raise UserError("report.format", f"“{fmt}” is not a report format.", "Use html, json or text.")


def format_for(path: Path) -> str:
    """The format a file name asks for (``.json``, ``.txt``; anything else is HTML)."""
    return {".json": "json", ".txt": "text"}.get(path.suffix.lower(), "html")


def save_report(report: Report, path: Path, fmt: str | None = None) -> Path:
    """Write the report to ``path`` whole or not at all (a temporary file is renamed into place)."""
    text = render(report, fmt or format_for(path))
    path = Path(path)
    try:
        fd, temp = tempfile.mkstemp(prefix=".report-", dir=path.parent or Path("."))
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        from postdesk.core.config import folder_problem

        raise folder_problem(exc, "save the report", path) from exc
    return path
