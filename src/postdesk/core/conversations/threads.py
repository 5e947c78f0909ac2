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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.orm import Session

from postdesk.core.conversations.parse import ParsedMessage, message_ids
from postdesk.core.store.models import InboundMessage, InboundThread, table_of

SUBJECT_WINDOW = dt.timedelta(days=30)
MAX_SUBJECT_CANDIDATES = 20
# Reply/forward prefixes in the languages mail clients commonly write them in, and list tags.
_PREFIX = re.compile(
    r"^\s*(?:(?:re|fwd?|aw|wg|sv|vs|tr|rif|antw|odp)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]"
    r"|\[[^\]]{1,60}\])\s*",
    re.IGNORECASE,
)


# Built once: the lookups run for every received message, and a statement built anew each
# time costs more Python work than the indexed query itself.
_M = table_of(InboundMessage).c
_T = table_of(InboundThread).c
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
    select(_T.id, _T.last_at)
    .where(
        _T.domain_id == bindparam("domain"),
        _T.subject == bindparam("subject"),
        _T.last_at >= bindparam("since", type_=_T.last_at.type),
    )
    .order_by(_T.last_at.desc())
    .limit(MAX_SUBJECT_CANDIDATES)
)
# A whole group's lookups at once (see ``Group.look_ahead``).
_REFERENCED_IN = select(_M.message_id_header, _M.thread_id, _M.received_at).where(
    _M.domain_id == bindparam("domain"),
    _M.message_id_header.in_(bindparam("ids", expanding=True)),
    _M.thread_id.is_not(None),
)
_CHILDREN_OF = select(_M.in_reply_to, _M.thread_id).where(
    _M.domain_id == bindparam("domain"),
    _M.in_reply_to.in_(bindparam("ids", expanding=True)),
    _M.thread_id.is_not(None),
)
_RANKED = (
    select(
        _T.id,
        _T.subject,
        _T.last_at,
        func.row_number()
        .over(partition_by=_T.subject, order_by=(_T.last_at.desc(), _T.id.desc()))
        .label("rank"),
    )
    .where(
        _T.domain_id == bindparam("domain"),
        _T.subject.in_(bindparam("subjects", expanding=True)),
        _T.last_at >= bindparam("since", type_=_T.last_at.type),
    )
    .subquery()
)
_SUBJECTS_IN = (
    select(_RANKED.c.subject, _RANKED.c.id, _RANKED.c.last_at)
    .where(_RANKED.c.rank <= MAX_SUBJECT_CANDIDATES)
    .order_by(_RANKED.c.subject, _RANKED.c.last_at.desc(), _RANKED.c.id.desc())
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
    return session.get(InboundThread, thread_id) if isinstance(thread_id, int) else None


def find_thread_id(
    session: Session | Connection,
    domain_id: int,
    domain: str,
    parsed: ParsedMessage,
    now: dt.datetime,
    group: Group | None = None,
) -> int | NewThread | None:
    """The id of the thread ``parsed`` continues, or None when it starts a new one (ids only,
    each lookup served by an index: filing runs this for every received message).

    With ``group``, the messages of the same group commit filed before this one count as if
    already written (they are written together at the end), and a thread the group started
    is returned as its ``NewThread``."""
    referenced = message_ids(parsed.in_reply_to + " " + parsed.references)
    if referenced:
        wanted = referenced[-50:]
        known = group.known.get(domain_id) if group is not None else None
        if group is not None:
            # Newest first, as the query orders: the group's messages arrived after any stored.
            found_here = group.referenced(domain_id, set(wanted))
            if found_here is not None:
                return found_here
        if known is not None:
            found = known.referenced(wanted)
        else:
            found = session.execute(_BY_REFERENCE, {"domain": domain_id, "ids": wanted}).scalar()
        if found is not None:
            return int(found)
    # A message that arrived earlier may already name this one as its parent (out of order).
    if parsed.message_id:
        known = group.known.get(domain_id) if group is not None else None
        if group is not None:
            found_here = group.child_of(domain_id, parsed.message_id)
            if found_here is not None:
                return found_here
        if known is not None:
            found = known.children.get(parsed.message_id)
        else:
            found = session.execute(
                _BY_PARENT, {"domain": domain_id, "message_id": parsed.message_id}
            ).scalar()
        if found is not None:
            return int(found)
    subject = normalized_subject(parsed.subject)
    if not subject:
        return None
    since = now - SUBJECT_WINDOW
    known = group.known.get(domain_id) if group is not None else None
    rows: Sequence[Any]
    if known is not None and group is not None and not group.continued_stored:
        # The stored threads are as they were when the group began: the look-ahead holds.
        rows = [(i, at) for at, i in known.subjects.get(subject, ()) if at >= since]
    else:
        rows = session.execute(
            _BY_SUBJECT, {"domain": domain_id, "subject": subject, "since": since}
        ).all()
    candidates: list[tuple[dt.datetime, int | NewThread]] = [
        (last_at, int(thread_id)) for thread_id, last_at in rows
    ]
    if group is not None:
        candidates += [
            (t.last_at, t)
            for t in group.threads
            if t.domain_id == domain_id and t.subject == subject and t.last_at >= since
        ]
        candidates.sort(key=lambda c: c[0], reverse=True)  # stable: as the query orders
        del candidates[MAX_SUBJECT_CANDIDATES:]
    mine: set[str] | None = None
    for _last_at, candidate in candidates:
        if mine is None:  # worked out only when some thread has the subject
            mine = _outside(parsed.participants(), domain)
            if not mine:
                return None
        theirs: set[str] = set()
        if isinstance(candidate, int):
            theirs = thread_participants(session, candidate)
        if group is not None:
            theirs |= group.participants(candidate)
        if mine & _outside(theirs, domain):
            return candidate
    return None


@dataclass(eq=False)
class NewThread:
    """A thread started within a group commit, written with the group (``id`` set then)."""

    domain_id: int
    subject: str  # as stored
    last_at: dt.datetime
    message_count: int = 0
    unread_count: int = 0
    id: int | None = None


@dataclass(frozen=True)
class _Filed:
    domain_id: int
    thread: int | NewThread
    message_id: str
    in_reply_to: str
    from_header: str
    to_header: str


@dataclass
class _Known:
    """What the stored messages and threads of one domain say about a whole group, read with
    one query each before its first message is filed (the group's own messages are written
    only at its end, so the stored ones do not change meanwhile)."""

    references: dict[str, tuple[dt.datetime, int]]  # Message-ID: (newest received, thread)
    children: dict[str, int]  # In-Reply-To: thread
    subjects: dict[str, list[tuple[dt.datetime, int]]]  # newest first, at most 20 each

    def referenced(self, ids: list[str]) -> int | None:
        found = [self.references[i] for i in ids if i in self.references]
        return max(found, key=lambda f: f[0])[1] if found else None


@dataclass
class Group:
    """The messages (and new threads) of one group commit filed so far but not yet written:
    threading treats them as stored, so a reply filed in the same group as the message it
    answers joins its thread exactly as it would one group later."""

    messages: list[_Filed] = field(default_factory=list)
    threads: list[NewThread] = field(default_factory=list)
    known: dict[int, _Known] = field(default_factory=dict)  # by domain id
    # Set once a thread stored before the group is updated: subject lookups then ask the
    # database again (its last activity changed).
    continued_stored: bool = False

    def look_ahead(
        self,
        session: Session | Connection,
        domain_id: int,
        parsed: list[ParsedMessage],
        now: dt.datetime,
    ) -> None:
        """Read at once what ``find_thread_id`` would ask the database for each of ``parsed``
        (messages for ``domain_id``, filed no earlier than ``now``)."""
        wanted: set[str] = set()
        for p in parsed:
            wanted.update(message_ids(p.in_reply_to + " " + p.references)[-50:])
        references: dict[str, tuple[dt.datetime, int]] = {}
        if wanted:
            found = session.execute(_REFERENCED_IN, {"domain": domain_id, "ids": sorted(wanted)})
            for message_id, thread_id, received_at in found:
                if message_id not in references or references[message_id][0] < received_at:
                    references[message_id] = (received_at, int(thread_id))
        children: dict[str, int] = {}
        own = sorted({p.message_id for p in parsed if p.message_id})
        if own:
            for in_reply_to, thread_id in session.execute(
                _CHILDREN_OF, {"domain": domain_id, "ids": own}
            ):
                children.setdefault(in_reply_to, int(thread_id))
        subjects: dict[str, list[tuple[dt.datetime, int]]] = {}
        names = sorted({s for s in (normalized_subject(p.subject) for p in parsed) if s})
        if names:
            for subject, thread_id, last_at in session.execute(
                _SUBJECTS_IN,
                {"domain": domain_id, "subjects": names, "since": now - SUBJECT_WINDOW},
            ):
                subjects.setdefault(subject, []).append((last_at, int(thread_id)))
        self.known[domain_id] = _Known(references, children, subjects)

    def add(
        self,
        domain_id: int,
        thread: int | NewThread,
        message_id: str,
        in_reply_to: str,
        from_header: str,
        to_header: str,
    ) -> None:
        """Count a message filed into ``thread`` (with the header values as stored)."""
        self.messages.append(
            _Filed(domain_id, thread, message_id, in_reply_to, from_header, to_header)
        )

    def referenced(self, domain_id: int, ids: set[str]) -> int | NewThread | None:
        for filed in reversed(self.messages):
            if filed.domain_id == domain_id and filed.message_id in ids:
                return filed.thread
        return None

    def child_of(self, domain_id: int, message_id: str) -> int | NewThread | None:
        for filed in self.messages:
            if filed.domain_id == domain_id and filed.in_reply_to == message_id:
                return filed.thread
        return None

    def participants(self, thread: int | NewThread) -> set[str]:
        from email.utils import getaddresses

        values = [
            value
            for filed in self.messages
            if filed.thread is thread or filed.thread == thread
            for value in (filed.from_header, filed.to_header)
        ]
        return {a.lower() for _name, a in getaddresses(values) if "@" in a} if values else set()


def thread_participants(session: Session | Connection, thread_id: int) -> set[str]:
    """Every address in the From and To headers of a thread's messages (lower-cased)."""
    from email.utils import getaddresses

    rows = session.execute(_PARTICIPANTS, {"thread": thread_id}).all()
    found = getaddresses([value for row in rows for value in row])
    return {address.lower() for _name, address in found if "@" in address}
