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

from sqlalchemy import Table, bindparam, select
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


def _table(model: type[InboundMessage] | type[InboundThread]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


# Built once: the lookups run for every received message, and a statement built anew each
# time costs more Python work than the indexed query itself.
_M = _table(InboundMessage).c
_T = _table(InboundThread).c
_BY_REFERENCE = (
    select(_M.thread_id)
    .where(
        _M.domain_id == bindparam("domain"),
        _M.message_id_header.in_(bindparam("ids", expanding=True)),
        _M.thread_id.is_not(None),
    )
    .order_by(_M.received_at.desc())
    .limit(1)
)
_BY_PARENT = (
    select(_M.thread_id)
    .where(
        _M.domain_id == bindparam("domain"),
        _M.in_reply_to == bindparam("message_id"),
        _M.thread_id.is_not(None),
    )
    .limit(1)
)
_BY_SUBJECT = (
    select(_T.id)
    .where(
        _T.domain_id == bindparam("domain"),
        _T.subject == bindparam("subject"),
        _T.last_at >= bindparam("since", type_=_T.last_at.type),
    )
    .order_by(_T.last_at.desc())
    .limit(MAX_SUBJECT_CANDIDATES)
)
_PARTICIPANTS = select(_M.from_header, _M.to_header).where(_M.thread_id == bindparam("thread"))


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
    thread_id = find_thread_id(session, domain_id, domain, parsed, now)
    return None if thread_id is None else session.get(InboundThread, thread_id)


def find_thread_id(
    session: Session, domain_id: int, domain: str, parsed: ParsedMessage, now: dt.datetime
) -> int | None:
    """The id of the thread ``parsed`` continues, or None when it starts a new one (ids only,
    each lookup served by an index: filing runs this for every received message)."""
    referenced = message_ids(parsed.in_reply_to + " " + parsed.references)
    if referenced:
        found = session.execute(
            _BY_REFERENCE, {"domain": domain_id, "ids": referenced[-50:]}
        ).scalar()
        if found is not None:
            return int(found)
    # A message that arrived earlier may already name this one as its parent (out of order).
    if parsed.message_id:
        found = session.execute(
            _BY_PARENT, {"domain": domain_id, "message_id": parsed.message_id}
        ).scalar()
        if found is not None:
            return int(found)
    subject = normalized_subject(parsed.subject)
    if not subject:
        return None
    candidates = session.execute(
        _BY_SUBJECT, {"domain": domain_id, "subject": subject, "since": now - SUBJECT_WINDOW}
    ).scalars()
    mine: set[str] | None = None
    for candidate in candidates.all():
        if mine is None:  # worked out only when some thread has the subject
            mine = _outside(parsed.participants(), domain)
            if not mine:
                return None
        if mine & _outside(thread_participants(session, candidate), domain):
            return int(candidate)
    return None


def thread_participants(session: Session, thread_id: int) -> set[str]:
    """Every address in the From and To headers of a thread's messages (lower-cased)."""
    from email.utils import getaddresses

    rows = session.execute(_PARTICIPANTS, {"thread": thread_id}).all()
    found = getaddresses([value for row in rows for value in row])
    return {address.lower() for _name, address in found if "@" in address}
