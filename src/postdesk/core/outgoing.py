"""Mail Postdesk writes itself — replies, forwarded copies, sender confirmation codes — queued
for the relay's worker exactly like mail an SMTP user submits.

The worker then delivers it through the domain's service and DKIM-signs it; here it is only
queued and counted, in the caller's transaction, with the same queue and usage functions the
relay's accepting side uses (one place that counts, one limit rule). The bucket is the domain's
service, as for a test send: no SMTP login sent it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from postdesk.core import activity, events, suppression, usage
from postdesk.core.errors import UserError
from postdesk.core.relay import queue
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, utcnow

SOURCES = ("reply", "forward", "confirm")
# The first line of each message's activity, by where it came from.
_ACCEPTED = {
    "reply": "Written in Conversations as a reply",
    "forward": "Forwarded copy of a message received for the domain",
    "confirm": "Sender address confirmation code",
}


@dataclass(frozen=True)
class Queued:
    """A message queued by Postdesk itself; ``forget`` goes to ``usage.forget_secrets`` after
    the commit (logins the daily-limit rule deleted)."""

    message_id: int
    limit_fired: bool
    forget: tuple[str, ...] = ()


def limit_problem(session: Session, now: dt.datetime | None = None) -> str | None:
    """Why no more mail may be queued today (the daily limit is reached), or None."""
    now = now or utcnow()
    limit = usage.daily_limit(session)
    if usage.total_on(session, usage.utc_day(now)) >= limit:
        return f"the daily sending limit of {limit:,} emails is reached (resets at 00:00 UTC)"
    return None


def queue_message(
    session: Session,
    domain: DedicatedDomain,
    *,
    mail_from: str,
    rcpt_tos: list[str],
    raw: bytes,
    source: str,
    subject: str = "",
    message_id: str = "",
    now: dt.datetime | None = None,
) -> Queued:
    """Queue and count one message of the domain in the caller's transaction.

    Refused (``UserError``) when the domain has no service to send through, a recipient is on
    the suppression list or the day's limit is reached; tracking is never applied to this mail.
    The message's activity starts here, as it does for relayed mail.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    if domain.service_id is None:
        raise UserError(
            "outgoing.no_service",
            f"{domain.name} has no SMTP service to send through.",
            "Choose one in Domain Settings.",
        )
    now = now or utcnow()
    for rcpt in rcpt_tos:
        entry = suppression.is_suppressed(session, rcpt, domain.name)
        if entry is not None:
            raise UserError(
                "outgoing.suppressed",
                f"Not sent: {rcpt} is on the suppression list ({entry.describe()}).",
                "Remove it from the suppression list to send to it again.",
            )
    problem = limit_problem(session, now)
    if problem:
        raise UserError("outgoing.daily_limit", f"Not sent: {problem}.", "Try again tomorrow.")
    row = queue.enqueue(
        session,
        domain_id=domain.id,
        smtp_user_id=None,
        mail_from=mail_from,
        rcpt_tos=rcpt_tos,
        raw=raw,
        subject=subject,
        message_id=message_id,
        now=now,
    )
    row.source = source
    activity.add_recipients(session, row.id, list(rcpt_tos))
    sender = f"MAIL FROM <{mail_from}>"
    activity.record_event(
        session, row.id, "accepted", detail=f"{_ACCEPTED[source]}: {sender}", at=now
    )
    recorded = usage.count_sent(
        session,
        recipients=len(rcpt_tos),
        service_id=domain.service_id,
        domain_id=domain.id,
        at=now,
    )
    return Queued(row.id, recorded.enforced is not None, tuple(recorded.forget))


def after_commit(store: Store, queued: list[Queued]) -> None:
    """What follows a committed queueing: secrets of deleted logins go, screens hear of it."""
    refs = [ref for q in queued for ref in q.forget]
    if refs:
        usage.forget_secrets(store, refs)
    if queued:
        events.publish(events.Change.USAGE)
    if any(q.limit_fired for q in queued):
        events.publish(events.Change.USERS)
