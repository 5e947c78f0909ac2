"""The audit log: credential and settings events, for the GUI's history and for support."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from postdesk.core.store.models import AuditEvent


def record(session: Session, action: str, subject: str = "", **detail: object) -> AuditEvent:
    """Add an event to the log in the caller's transaction (never pass a secret in detail)."""
    event = AuditEvent(action=action, subject=subject, detail=detail)
    session.add(event)
    return event


def recent(
    session: Session, limit: int = 200, subject_prefix: str | None = None
) -> list[AuditEvent]:
    """The newest events first, optionally only those about one subject (e.g. a domain)."""
    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    if subject_prefix:
        query = query.where(AuditEvent.subject.contains(subject_prefix))
    return list(session.scalars(query))
