"""One report to hand over: what was checked, every finding with its fix, and the raw evidence."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from datetime import datetime

from postdesk import __version__
from postdesk.core.records import Problem


@dataclass(frozen=True)
class Table:
    """A small table shown in the report body (records, hops, blocklists…)."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "title": self.title,
            "headers": list(self.headers),
            "rows": [list(r) for r in self.rows],
            "note": self.note,
        }


@dataclass(frozen=True)
class Evidence:
    """Raw material a specialist may want (records, a transcript, headers), folded at the end."""

    title: str
    text: str

    def as_dict(self) -> dict[str, str]:
        return {"title": self.title, "text": self.text}


@dataclass(frozen=True)
class Report:
    """A self-contained account of one check, ready to render as HTML, text or JSON."""

    kind: str  # "Domain check", "IP check", "Test send", "Message analysis"
    subject: str  # the domain, the address, the test, the message's subject
    status: str  # "ok", "failing", "verified", ...
    checked: tuple[str, ...]  # what was checked, one line each
    findings: tuple[Problem, ...]
    tables: tuple[Table, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    made_at: datetime = field(default_factory=lambda: datetime.now().astimezone())
    host: str = field(default_factory=platform.node)
    version: str = __version__

    @property
    def title(self) -> str:
        return f"{self.kind}: {self.subject}"

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "status": self.status,
            "made_at": self.made_at.isoformat(),
            "made_on": self.host,
            "postdesk_version": self.version,
            "checked": list(self.checked),
            "findings": [p.as_dict() for p in self.findings],
            "tables": [t.as_dict() for t in self.tables],
            "evidence": [e.as_dict() for e in self.evidence],
        }
