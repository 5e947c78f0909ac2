"""Filing a received message into Conversations: parse once, thread, store, count."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    case,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from postdesk.core.conversations import threads
from postdesk.core.conversations.parse import ParsedMessage, clean_text, parse_message
from postdesk.core.store.models import (
    DedicatedDomain,
    InboundMessage,
    InboundThread,
    table_of,
    utcnow,
)

VERDICTS = ("spf", "dkim", "dmarc")


_THREADS = table_of(InboundThread)
_MESSAGES = table_of(InboundMessage)
# Built once: filing runs for every received message, inside the group commit.
# A group's rows in one statement each, ids handed back in the order of the rows.
_NEW_THREADS = insert(_THREADS).returning(_THREADS.c.id, sort_by_parameter_order=True)
_NEW_MESSAGES = insert(_MESSAGES).returning(_MESSAGES.c.id, sort_by_parameter_order=True)
_DOMAIN_NAME = select(DedicatedDomain.name).where(DedicatedDomain.id == bindparam("domain"))
_BUMP_THREAD = (
    update(_THREADS)
    .where(_THREADS.c.id == bindparam("thread"))
    .values(
        message_count=_THREADS.c.message_count + 1,
        unread_count=_THREADS.c.unread_count + bindparam("unread_add"),
        last_at=case(
            (
                _THREADS.c.last_at > bindparam("at", type_=_THREADS.c.last_at.type),
                _THREADS.c.last_at,
            ),
            else_=bindparam("at", type_=_THREADS.c.last_at.type),
        ),
    )
)


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


@dataclass
class Incoming:
    """One message to file: received for (or, with ``direction="out"``, sent from) a dedicated
    domain. ``domain_name``, when known, spares reading the domain; ``pending`` marks what the
    relay still owes the message (``"forward"``: copies)."""

    domain_id: int
    raw: bytes
    mail_from: str
    rcpt_tos: list[str]
    remote_ip: str
    helo: str
    verdicts: dict[str, str]
    auth_results: str
    parsed: ParsedMessage | None = None
    domain_name: str | None = None
    pending: str = ""
    direction: str = "in"


def file_inbound(session: Session, **fields: Any) -> int:
    """Store one message (``fields`` are :class:`Incoming`'s) and return its new
    ``inbound_messages.id``: parsed once (unless ``parsed`` is given), filed into the thread it
    continues (a new one otherwise), the thread's counters and last activity updated. It runs
    in the caller's transaction and commits nothing; the search index follows by itself
    (triggers on SQLite, an index on PostgreSQL)."""
    return file_group(session, [Incoming(**fields)])[0]


def _expire(session: Session, model: type[InboundThread], ident: int) -> None:
    """Make a copy of the row the caller's session already holds read it again (the counters
    were changed by a statement, not through the object)."""
    loaded = session.identity_map.get(session.identity_key(model, ident))
    if loaded is not None:
        session.expire(loaded)


def _message_row(
    *,
    domain_id: int,
    thread_id: int | None,
    direction: str,
    now: Any,
    raw: bytes,
    mail_from: str,
    rcpt_tos: list[str],
    remote_ip: str,
    helo: str,
    verdicts: dict[str, str],
    auth_results: str,
    parsed: ParsedMessage,
    pending: str,
) -> dict[str, Any]:
    """The ``inbound_messages`` row of a message, as filing writes it."""
    recipients = ", ".join(v for v in (parsed.to_header, parsed.cc_header) if v)
    return {
        "domain_id": domain_id,
        "thread_id": thread_id,
        "direction": direction,
        "kind": "message",
        "received_at": now,
        "remote_ip": clean_text(remote_ip)[:64],
        "helo": clean_text(helo)[:255],
        "mail_from": clean_text(mail_from)[:320],
        "rcpt_tos": [clean_text(r) for r in rcpt_tos],
        "from_header": _cut(parsed.from_header, 400),
        "to_header": recipients,
        "subject": _cut(parsed.subject, 300),
        "message_id_header": parsed.message_id,
        "in_reply_to": parsed.in_reply_to,
        "references": parsed.references,
        "body_text": parsed.text,
        "raw": raw,
        "size": len(raw),
        "spf": (verdicts.get("spf") or "none")[:12],
        "dkim": (verdicts.get("dkim") or "none")[:12],
        "dmarc": (verdicts.get("dmarc") or "none")[:12],
        "auth_results": clean_text(auth_results),
        "unread": direction == "in",
        "pending": pending,
    }


def file_group(session: Session | Connection, messages: Sequence[Incoming]) -> list[int]:
    """Store received messages as ``file_inbound`` would one after another, with one INSERT
    for all their new threads and one for all the messages; their new ids, in order.

    Threading sees the group's earlier messages as already stored (``threads.Group``), so a
    reply in the same group as its parent joins its thread. A thread continued from before
    the group is updated at once, so the next message's subject lookup sees it as it is now.
    Runs in the caller's transaction and commits nothing."""
    # Plain statements: no ORM work inside the group commit.
    connection = session.connection() if isinstance(session, Session) else session
    group = threads.Group()
    rows: list[dict[str, Any]] = []
    row_threads: list[int | threads.NewThread] = []
    names: dict[int, str] = {}
    every: list[ParsedMessage] = []
    for m in messages:
        name = m.domain_name or names.get(m.domain_id)
        if not name:
            name = connection.execute(_DOMAIN_NAME, {"domain": m.domain_id}).scalar()
            if name is None:
                raise ValueError(f"no dedicated domain with id {m.domain_id}")
        names[m.domain_id] = name
        every.append(m.parsed if m.parsed is not None else parse_message(m.raw))
    # Each domain's threading lookups for the whole group in one query each (for a single
    # message, the plain lookups cost less).
    start = utcnow()
    for domain_id in names:
        mine = [p for m, p in zip(messages, every, strict=True) if m.domain_id == domain_id]
        if len(mine) > 1:
            group.look_ahead(connection, domain_id, mine, start)
    for m, parsed in zip(messages, every, strict=True):
        name = names[m.domain_id]
        now = utcnow()
        found = threads.find_thread_id(connection, m.domain_id, name, parsed, now, group)
        if found is None:
            subject = threads.normalized_subject(parsed.subject) or parsed.subject
            found = threads.NewThread(m.domain_id, _cut(subject, 300), now)
            group.threads.append(found)
        unread = 1 if m.direction == "in" else 0
        if isinstance(found, threads.NewThread):
            found.message_count += 1
            found.unread_count += unread
            found.last_at = max(found.last_at, now)
        else:
            connection.execute(_BUMP_THREAD, {"thread": found, "unread_add": unread, "at": now})
            group.continued_stored = True
            if isinstance(session, Session):
                _expire(session, InboundThread, found)
        row = _message_row(
            domain_id=m.domain_id,
            thread_id=None,
            direction=m.direction,
            now=now,
            raw=m.raw,
            mail_from=m.mail_from,
            rcpt_tos=m.rcpt_tos,
            remote_ip=m.remote_ip,
            helo=m.helo,
            verdicts=m.verdicts,
            auth_results=m.auth_results,
            parsed=parsed,
            pending=m.pending,
        )
        rows.append(row)
        row_threads.append(found)
        group.add(
            m.domain_id,
            found,
            row["message_id_header"],
            row["in_reply_to"],
            row["from_header"],
            row["to_header"],
        )
    if group.threads:
        inserted = connection.execute(
            _NEW_THREADS,
            [
                {
                    "domain_id": t.domain_id,
                    "subject": t.subject,
                    "last_at": t.last_at,
                    "message_count": t.message_count,
                    "unread_count": t.unread_count,
                }
                for t in group.threads
            ],
        )
        for thread, (thread_id,) in zip(group.threads, inserted.all(), strict=True):
            thread.id = int(thread_id)
    for row, into in zip(rows, row_threads, strict=True):
        row["thread_id"] = into.id if isinstance(into, threads.NewThread) else into
    if not rows:
        return []
    return [int(i) for (i,) in connection.execute(_NEW_MESSAGES, rows).all()]
