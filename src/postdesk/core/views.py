"""Frozen read models: what core hands the CLI and the GUI instead of database rows.

A row is only valid inside the session that loaded it; read after that session closed, any
relation it did not load fails (the ORM's relationships are ``lazy="raise"``). So core builds
these snapshots inside the session with ``from_row`` — following every relation it needs there —
and the callers get plain values that cannot change or load anything behind their back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

# In a module of its own so that a test send or ``service list`` builds only that view (a frozen
# dataclass costs ~1-2 ms to create); re-exported so every caller keeps finding it here.
from postdesk.core.serviceview import ServiceView as ServiceView

if TYPE_CHECKING:  # only for ``from_row``'s hints: the views themselves must not load the ORM
    from postdesk.core.store.models import (
        DedicatedDomain,
        DedicatedIp,
        DkimKey,
        DnsCheck,
        SmtpUser,
        Suppression,
    )


@dataclass(frozen=True)
class DomainView:
    """A dedicated domain with the name of the service it sends through."""

    id: int
    name: str  # stored (A-label) form
    shown: str  # Unicode form, for display
    status: str  # pending | verified | failing
    service_id: int | None
    service: str | None  # the service's name
    reply_to: str | None
    dkim_selector: str | None
    created_at: dt.datetime
    verified_at: dt.datetime | None
    last_checked_at: dt.datetime | None
    next_check_at: dt.datetime | None
    reception: bool = False  # mail sent to it is received into Conversations

    @classmethod
    def from_row(cls, row: DedicatedDomain, service: str | None) -> DomainView:
        """Snapshot a domain row; ``service`` is its service's name, looked up by the caller."""
        # Here, not at the top: the window's first tab reads views without the IDNA tables.
        from postdesk.core.validation import display_domain

        return cls(
            id=row.id,
            name=row.name,
            shown=display_domain(row.name),
            status=row.status,
            service_id=row.service_id,
            service=service,
            reply_to=row.reply_to,
            dkim_selector=row.dkim_selector,
            created_at=row.created_at,
            verified_at=row.verified_at,
            last_checked_at=row.last_checked_at,
            next_check_at=row.next_check_at,
            reception=bool(row.reception),
        )


@dataclass(frozen=True)
class SmtpUserView:
    """A live login of a domain (its password is never part of it)."""

    id: int
    domain_id: int
    domain: str  # stored (A-label) form of its domain
    login: str
    username: str  # login@domain, what an app types
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    service: str | None = None  # the service it sends through instead of its domain's

    @classmethod
    def from_row(cls, row: SmtpUser, domain: str, service: str | None = None) -> SmtpUserView:
        """Snapshot a user row; ``domain`` is its domain's stored name, ``service`` the name of
        the service it sends through when that is not its domain's."""
        return cls(
            id=row.id,
            domain_id=row.domain_id,
            domain=domain,
            login=row.login,
            username=f"{row.login}@{domain}",
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            service=service,
        )


@dataclass(frozen=True)
class IpView:
    """A dedicated sending IP and what its last check found."""

    id: int
    address: str
    label: str
    created_at: dt.datetime
    last_checked_at: dt.datetime | None
    last_status: str | None
    last_report: dict[str, object] | None

    @classmethod
    def from_row(cls, row: DedicatedIp) -> IpView:
        """Snapshot an IP row (inside its session)."""
        return cls(
            id=row.id,
            address=row.address,
            label=row.label,
            created_at=row.created_at,
            last_checked_at=row.last_checked_at,
            last_status=row.last_status,
            last_report=dict(row.last_report) if row.last_report is not None else None,
        )


@dataclass(frozen=True)
class DkimKeyView:
    """A DKIM key of a domain: selector, size, public half and state (never the private half)."""

    id: int
    selector: str
    bits: int
    public_key: str
    state: str  # pending | active | retired
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: DkimKey) -> DkimKeyView:
        """Snapshot a key row (inside its session)."""
        return cls(
            id=row.id,
            selector=row.selector,
            bits=row.bits,
            public_key=row.public_key,
            state=row.state,
            created_at=row.created_at,
        )


@dataclass(frozen=True)
class CheckView:
    """One stored verification of a domain: when, the overall status, and the full report."""

    id: int
    checked_at: dt.datetime
    status: str
    report: dict[str, object]

    @classmethod
    def from_row(cls, row: DnsCheck) -> CheckView:
        """Snapshot a check row (inside its session)."""
        return cls(id=row.id, checked_at=row.checked_at, status=row.status, report=dict(row.report))


#: How each suppression reason reads in replies, lists and the GUI.
SUPPRESSION_REASONS: dict[str, str] = {
    "hard_bounce": "hard bounce",
    "complaint": "spam complaint",
    "unsubscribe": "unsubscribed",
    "manual": "added by hand",
}


@dataclass(frozen=True)
class SuppressionView:
    """An address on the workspace's suppression list: why, when, and for which domain."""

    address: str
    scope: str  # "" = every domain, else the domain's stored name
    reason: str  # hard_bounce | complaint | unsubscribe | manual
    detail: str
    created_at: dt.datetime
    message_id: int | None

    @classmethod
    def from_row(cls, row: Suppression) -> SuppressionView:
        """Snapshot a suppression row (inside its session)."""
        return cls(
            address=row.address,
            scope=row.scope or "",
            reason=row.reason,
            detail=row.detail or "",
            created_at=row.created_at,
            message_id=row.message_id,
        )

    def describe(self) -> str:
        """Why and since when, in a few words, e.g. ``hard bounce on 2026-11-29: …``."""
        text = f"{SUPPRESSION_REASONS.get(self.reason, self.reason)} on {self.created_at:%Y-%m-%d}"
        return f"{text}: {self.detail}" if self.detail else text
