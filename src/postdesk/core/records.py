"""The DNS records Postdesk asks a user to publish, and how results about them are reported."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

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


class ComparedByValue:
    """Equality and repr from the attributes named in ``_FIELDS``, as a dataclass writes them.

    For check results built by every command that checks DNS: a dataclass costs about a
    millisecond to create at import. Not hashable: checks change their results as they go.
    """

    _FIELDS: ClassVar[tuple[str, ...]] = ()
    __hash__ = None  # type: ignore[assignment]

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._FIELDS)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._FIELDS)
        return f"{type(self).__name__}({shown})"


class RecordResult(ComparedByValue):
    """What a live check found for one expected record."""

    _FIELDS = ("kind", "type", "host", "expected", "status", "required", "found", "problems")

    def __init__(
        self,
        kind: RecordKind,
        type: str,
        host: str,
        expected: str,
        status: RecordStatus,
        required: bool = True,
        found: list[str] | None = None,
        problems: list[Problem] | None = None,
    ) -> None:
        self.kind = kind
        self.type = type
        self.host = host
        self.expected = expected
        self.status = status
        self.required = required
        self.found = found if found is not None else []
        self.problems = problems if problems is not None else []

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
