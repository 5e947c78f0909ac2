"""Routing per SMTP user: a login may send through a service other than its domain's.

Partners route lists apart (a Danish list through one provider, bulk mail apart from
transactional mail). The suppression list stays one for all. Whatever a domain's users send
through, the domain's SPF record must authorise: the expected SPF record gains each such
service's include, and Verify names the include that is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from postdesk.core import audit, recordgen
from postdesk.core.domains import get_domain
from postdesk.core.errors import UserError
from postdesk.core.services import service_named
from postdesk.core.store import Store
from postdesk.core.store.models import (
    DedicatedDomain,
    DomainRecord,
    QueuedMessage,
    SmtpService,
    SmtpUser,
)
from postdesk.core.validation import quote_input


@dataclass(frozen=True)
class RouteChange:
    """What changing a login's service did: where it sends now and the SPF it needs."""

    username: str
    service: str | None  # None: the domain's own service
    spf_include: str | None  # the include the domain's SPF record must now have, if any


def cover_in_spf(session: Session, domain: DedicatedDomain, service: SmtpService) -> None:
    """Add the service's SPF terms to the domain's expected SPF record (in the caller's
    transaction); a service that names none changes nothing."""
    terms = ([f"include:{service.spf_include}"] if service.spf_include else []) + list(
        service.spf_extra or ()
    )
    if not terms:
        return
    row = session.scalars(
        select(DomainRecord).where(DomainRecord.domain_id == domain.id, DomainRecord.kind == "spf")
    ).first()
    if row is not None:
        row.value = recordgen.merge_spf(row.value, terms)
        return
    position = session.scalars(
        select(DomainRecord.position).where(
            DomainRecord.domain_id == domain.id, DomainRecord.kind == "ownership"
        )
    ).first()
    session.add(
        DomainRecord(
            domain_id=domain.id,
            position=(position or 0) + 1,
            kind="spf",
            type="TXT",
            host=domain.name,
            value=recordgen.merge_spf("v=spf1", terms),
        )
    )


def resolve_service(session: Session, name: str | None) -> SmtpService | None:
    """The service a login is told to send through (None: its domain's), or a UserError."""
    return None if name is None else service_named(session, name)


def set_user_service(
    store: Store, domain_name: str, login: str, service_name: str | None
) -> RouteChange:
    """Make a login send through ``service_name`` (None: back to the domain's service)."""
    with store.session() as s:
        domain = get_domain(s, domain_name)
        user = s.scalars(
            select(SmtpUser).where(
                SmtpUser.domain_id == domain.id,
                SmtpUser.login == login.strip().lower(),
                SmtpUser.deleted_at.is_(None),
            )
        ).first()
        if user is None:
            raise UserError(
                "smtp_user.not_found",
                f"{domain.name} has no SMTP user {quote_input(login)}.",
                "Check the login name with 'postdesk smtp-user list'.",
            )
        service = resolve_service(s, service_name)
        if service is not None and service.id == domain.service_id:
            service = None  # the domain's own service: no override to keep
        user.service_id = service.id if service is not None else None
        if service is not None:
            cover_in_spf(s, domain, service)
        full = f"{user.login}@{domain.name}"
        audit.record(
            s, "smtp_user.service_changed", full, service=service.name if service else None
        )
        return RouteChange(
            full,
            service.name if service else None,
            service.spf_include if service else None,
        )


def message_services(store: Store, message_ids: list[int]) -> dict[int, int | None]:
    """Which service each queued message goes through when its SMTP user has its own
    (None: the domain's)."""
    with store.session() as s:
        rows = s.execute(
            select(QueuedMessage.id, SmtpUser.service_id)
            .outerjoin(SmtpUser, SmtpUser.id == QueuedMessage.smtp_user_id)
            .where(QueuedMessage.id.in_(message_ids))
        ).all()
    return {message_id: service_id for message_id, service_id in rows}
