"""The DNS records Postdesk asks a user to publish, and how results about them are reported."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

RecordKind = Literal[
    "ownership",
    "spf",
    "dkim",
    "dmarc",
    "return_path",
    "tracking",
    "mx",
    # The newer standards ``check`` also looks at (never expected records).
    "mta_sts",
    "tls_rpt",
    "bimi",
    "dnssec",
    "mx_tls",
]
#: How each kind of record is named to people (tables, reports).
KIND_LABELS: dict[str, str] = {
    "ownership": "Ownership",
    "spf": "SPF",
    "dkim": "DKIM",
    "dmarc": "DMARC",
    "return_path": "Return path",
    "tracking": "Tracking",
    "mx": "MX (incoming mail)",
    "mta_sts": "MTA-STS",
    "tls_rpt": "TLS reporting",
    "bimi": "BIMI (logo)",
    "dnssec": "DNSSEC",
    "mx_tls": "STARTTLS of MX",
}

RecordStatus = Literal["ok", "missing", "mismatch", "conflict", "error", "pending"]
Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class ExpectedRecord:
    """One record the user must (or may) publish.

    ``host`` is fully qualified, lowercase A-label form, without the trailing dot. ``value`` is the
    record data as the user pastes it: a TXT value as one unsplit string, a CNAME target without the
    trailing dot, an MX as ``"<preference> <exchange>"``.
    """

    kind: RecordKind
    type: Literal["TXT", "CNAME", "MX"]
    host: str
    value: str
    required: bool = True

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "type": self.type,
            "host": self.host,
            "value": self.value,
            "required": self.required,
        }


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a record: a stable code, a plain sentence and the fix."""

    code: str
    severity: Severity
    message: str
    fix: str

    def as_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass
class RecordResult:
    """What a live check found for one expected record."""

    kind: RecordKind
    type: str
    host: str
    expected: str
    status: RecordStatus
    required: bool = True
    found: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "type": self.type,
            "host": self.host,
            "expected": self.expected,
            "found": list(self.found),
            "status": self.status,
            "required": self.required,
            "problems": [p.as_dict() for p in self.problems],
        }
