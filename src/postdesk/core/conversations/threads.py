"""Threading: which conversation a new message belongs to.

First by the headers mail clients set for exactly this (In-Reply-To and References naming a
message already filed for the domain); failing that, by subject: the same subject once the
reply and forward prefixes are stripped, in a conversation active within the last
``SUBJECT_WINDOW``, with at least one outside participant in common (every message of a domain
is addressed to the domain, so its own addresses do not count as a shared participant).
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from postdesk.core.conversations.parse import ParsedMessage, message_ids
from postdesk.core.store.models import InboundMessage, InboundThread

SUBJECT_WINDOW = dt.timedelta(days=30)
MAX_SUBJECT_CANDIDATES = 20
# Reply/forward prefixes in the languages mail clients commonly write them in, and list tags.
_PREFIX = re.compile(
    r"^\s*(?:(?:re|fwd?|aw|wg|sv|vs|tr|rif|antw|odp)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]"
    r"|\[[^\]]{1,60}\])\s*",
    re.IGNORECASE,
)


def normalized_subject(subject: str) -> str:
    """The subject without ``Re:``/``Fwd:``/``AW:``/``SV:``… prefixes and ``[list]`` tags."""
    previous = None
    subject = " ".join(subject.split())
    while previous != subject:
        previous = subject
        subject = _PREFIX.sub("", subject, count=1)
    return subject.strip()[:300]


def _outside(addresses: set[str], domain: str) -> set[str]:
    suffix = "@" + domain.lower()
    return {a for a in addresses if not a.endswith(suffix)}


def find_thread(
    session: Session, domain_id: int, domain: str, parsed: ParsedMessage, now: dt.datetime
) -> InboundThread | None:
    """The thread ``parsed`` continues, or None when it starts a new one."""
    referenced = message_ids(parsed.in_reply_to + " " + parsed.references)
    if referenced:
        row = session.execute(
            select(InboundMessage.thread_id)
            .where(
                InboundMessage.domain_id == domain_id,
                InboundMessage.message_id_header.in_(referenced[-50:]),
                InboundMessage.thread_id.is_not(None),
            )
            .order_by(InboundMessage.received_at.desc())
            .limit(1)
        ).first()
        if row is not None:
            return session.get(InboundThread, row[0])
    # A message that arrived earlier may already name this one as its parent (out of order).
    if parsed.message_id:
        row = session.execute(
            select(InboundMessage.thread_id)
            .where(
                InboundMessage.domain_id == domain_id,
                InboundMessage.in_reply_to == parsed.message_id,
                InboundMessage.thread_id.is_not(None),
            )
            .limit(1)
        ).first()
        if row is not None:
            return session.get(InboundThread, row[0])
    subject = normalized_subject(parsed.subject)
    mine = _outside(parsed.participants(), domain)
    if not subject or not mine:
        return None
    candidates = session.scalars(
        select(InboundThread)
        .where(
            InboundThread.domain_id == domain_id,
            InboundThread.subject == subject,
            InboundThread.last_at >= now - SUBJECT_WINDOW,
        )
        .order_by(InboundThread.last_at.desc())
        .limit(MAX_SUBJECT_CANDIDATES)
    ).all()
    for thread in candidates:
        if mine & _outside(thread_participants(session, thread.id), domain):
            return thread
    return None


def thread_participants(session: Session, thread_id: int) -> set[str]:
    """Every address in the From and To headers of a thread's messages (lower-cased)."""
    from email.utils import getaddresses

    rows = session.execute(
        select(InboundMessage.from_header, InboundMessage.to_header).where(
            InboundMessage.thread_id == thread_id
        )
    ).all()
    found = getaddresses([value for row in rows for value in row])
    return {address.lower() for _name, address in found if "@" in address}
