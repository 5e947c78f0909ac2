"""One suppression list per workspace: addresses that get no more mail, whatever the service.

An entry has a scope: ``""`` suppresses the address for every domain (hard bounces, complaints,
entries added by hand), a domain's stored name only for that domain (a one-click unsubscribe
from one domain's mail). Addresses are kept lowercased, so one lookup by the unique
``(address, scope)`` index answers the relay's question at RCPT.

Hard bounces suppress after ``suppress_after_hard_bounces`` of them (default 1); a
``hard.policy`` refusal does not count: it is about the sender (its records, its IP's
reputation), not about the recipient's address. Soft bounces never suppress.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.orm import Session

from postdesk.core import audit, settings
from postdesk.core.domainname import canonical as lookup_name
from postdesk.core.errors import UserError
from postdesk.core.store import Store
from postdesk.core.store.models import MessageRecipient, Suppression, utcnow
from postdesk.core.validation import check_length, normalize_email, quote_input
from postdesk.core.views import SUPPRESSION_REASONS, SuppressionView

REASONS = tuple(SUPPRESSION_REASONS)
DETAIL_LIMIT = 500
EXPORT_COLUMNS = ("address", "reason", "scope", "created_at", "detail")
# Hard classes that say nothing about the address itself.
_NOT_ABOUT_ADDRESS = ("hard.policy",)


def normalize(address: str) -> str:
    """An address as the list keeps it (checked, lowercased), or a UserError."""
    return normalize_email(address).lower()


def _key(address: str) -> str:
    """The lookup form of an envelope address (never raises: a bad one matches nothing)."""
    return address.strip().strip("<>").lower()


_SUPPRESSIONS = Suppression.__table__
# Built once: the relay asks at every RCPT, and almost every answer is "no entry".
_FIRST_ENTRY = (
    select(_SUPPRESSIONS)
    .where(
        _SUPPRESSIONS.c.address == bindparam("address"),
        _SUPPRESSIONS.c.scope.in_([bindparam("everywhere"), bindparam("domain")]),
    )
    .order_by(_SUPPRESSIONS.c.scope)
    .limit(1)
)


def is_suppressed(
    session: Session | Connection, address: str, domain: str
) -> SuppressionView | None:
    """The entry that stops mail from ``domain`` to ``address`` (workspace-wide first), or None.

    One prebuilt indexed query: the relay asks at every RCPT, on a plain connection."""
    found = session.execute(
        _FIRST_ENTRY, {"address": _key(address), "everywhere": "", "domain": domain}
    ).first()
    return None if found is None else SuppressionView.from_row(found)  # type: ignore[arg-type]


def suppress(
    session: Session,
    address: str,
    reason: str,
    *,
    detail: str = "",
    scope: str = "",
    message_id: int | None = None,
) -> bool:
    """Put an address on the list (in the caller's transaction); True when it is newly added.

    An address already suppressed for the same scope keeps its first entry (the first reason is
    the one that explains the others).
    """
    if reason not in REASONS:
        raise UserError(
            "suppression.reason",
            f"{quote_input(reason)} is not a suppression reason.",
            f"Use one of: {', '.join(REASONS)}.",
        )
    key = normalize(address)
    detail = check_length("The note", detail.replace("\r", " ").replace("\n", " "), DETAIL_LIMIT)
    exists = session.scalars(
        select(Suppression.id).where(Suppression.address == key, Suppression.scope == scope)
    ).first()
    if exists is not None:
        return False
    session.add(
        Suppression(
            address=key,
            scope=scope,
            reason=reason,
            detail=detail.strip(),
            created_at=utcnow(),
            message_id=message_id,
        )
    )
    session.flush()
    return True


def hard_bounce_count(session: Session, address: str, message_id: int | None = None) -> int:
    """How many messages hard-bounced at this address (``message_id`` counted as one of them)."""
    rows = session.scalars(
        select(MessageRecipient.message_id)
        .distinct()
        .where(
            MessageRecipient.address == _key(address),
            MessageRecipient.status == "bounced",
            MessageRecipient.bounce_class.like("hard.%"),
            MessageRecipient.bounce_class.not_in(_NOT_ABOUT_ADDRESS),
        )
    ).all()
    seen = set(rows)
    if message_id is not None:
        seen.add(message_id)
    return max(len(seen), 1)  # the bounce being reported is one, recorded or not


def after_bounce(
    session: Session,
    address: str,
    bounce_class: str,
    *,
    detail: str = "",
    message_id: int | None = None,
) -> bool:
    """Let a bounce suppress its address when the workspace's rule says so; True when added."""
    if not bounce_class.startswith("hard.") or bounce_class in _NOT_ABOUT_ADDRESS:
        return False
    needed = int(settings.get(session, "suppress_after_hard_bounces") or 1)
    if hard_bounce_count(session, address, message_id) < needed:
        return False
    try:
        return suppress(session, address, "hard_bounce", detail=detail, message_id=message_id)
    except UserError:  # an address the upstream took but the list cannot hold: nothing to stop
        return False


def add(
    store: Store, address: str, *, reason: str = "manual", note: str = "", scope: str = "", by: str
) -> bool:
    """Suppress an address by hand (audited); True when newly added."""
    with store.session() as s:
        added = suppress(s, address, reason, detail=note, scope=scope)
        if added:
            audit.record(
                s, "suppression.added", normalize(address), reason=reason, scope=scope, by=by
            )
        return added


def remove(store: Store, address: str, scope: str = "", *, by: str) -> bool:
    """Take an address off the list (audited with the entry it removed); False if not listed."""
    key = _key(address)
    with store.session() as s:
        row = s.scalars(
            select(Suppression).where(Suppression.address == key, Suppression.scope == scope)
        ).first()
        if row is None:
            return False
        entry = SuppressionView.from_row(row)
        audit.record(
            s,
            "suppression.removed",
            key,
            by=by,
            scope=scope,
            reason=entry.reason,
            detail=entry.detail,
            since=entry.created_at.isoformat(),
            message_id=entry.message_id,
        )
        s.delete(row)
        return True


def list_entries(
    store: Store, *, search: str | None = None, reason: str | None = None
) -> list[SuppressionView]:
    """The list, newest first; ``search`` matches part of the address, ``reason`` one reason."""
    query = select(Suppression).order_by(Suppression.created_at.desc(), Suppression.id.desc())
    if search:
        query = query.where(Suppression.address.contains(search.strip().lower(), autoescape=True))
    if reason:
        query = query.where(Suppression.reason == reason)
    with store.session() as s:
        return [SuppressionView.from_row(row) for row in s.scalars(query)]


def count(store: Store) -> int:
    """How many entries the list has."""
    with store.session() as s:
        return int(s.scalar(select(func.count(Suppression.id))) or 0)


@dataclass
class ImportResult:
    """What a CSV import did: how many were added, already listed, and each bad line."""

    added: int = 0
    already: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)


def import_csv(store: Store, text: str, *, by: str) -> ImportResult:
    """Import ``address[,reason[,detail]]`` lines; good lines are imported, bad ones reported
    with their line numbers, all in one transaction.

    A header line is optional; with one, columns are found by name, so a file written by
    :func:`export_csv` (which adds scope and created_at) imports as it was; "note" is taken
    for "detail", the word `suppress add --note` and the GUI use.
    """
    result = ImportResult()
    rows = list(csv.reader(io.StringIO(text)))
    columns = {"address": 0, "reason": 1, "detail": 2}
    with store.session() as s:
        for number, row in enumerate(rows, start=1):
            cells = [cell.strip() for cell in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if number == 1 and cells[0].lower() == "address":
                columns = {name.lower(): index for index, name in enumerate(cells)}
                # `suppress add --note` and the GUI say "note": the same column as "detail"
                if "note" in columns:
                    columns.setdefault("detail", columns["note"])
                continue
            line = {name: cells[i] if i < len(cells) else "" for name, i in columns.items()}
            try:
                reason = (line.get("reason") or "manual").lower()
                scope = lookup_name(line["scope"]) if line.get("scope") else ""
                added = suppress(
                    s, line.get("address", ""), reason, detail=line.get("detail", ""), scope=scope
                )
                if added:
                    result.added += 1
                else:
                    result.already += 1
            except UserError as err:
                result.problems.append((number, err.message))
        if result.added:
            audit.record(s, "suppression.imported", "", added=result.added, by=by)
    return result


def export_csv(store: Store) -> str:
    """The whole list as CSV: address, reason, scope, created_at, detail (oldest first)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for entry in reversed(list_entries(store)):
        writer.writerow(
            [
                entry.address,
                entry.reason,
                entry.scope,
                entry.created_at.isoformat(timespec="seconds"),
                entry.detail,
            ]
        )
    return out.getvalue()


def scope_for(store: Store, domain: str | None) -> str:
    """The scope naming one of the workspace's dedicated domains ("" for none), or a UserError."""
    if not domain:
        return ""
    from postdesk.core.domains import get_domain

    with store.session() as s:
        return get_domain(s, domain).name
