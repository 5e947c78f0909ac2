"""Filing a received message into Conversations: parse once, thread, store, count."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Result, Table, bindparam, case, insert, select, update
from sqlalchemy.orm import Session

from postdesk.core.conversations import threads
from postdesk.core.conversations.parse import ParsedMessage, clean_text, parse_message
from postdesk.core.store.models import DedicatedDomain, InboundMessage, InboundThread, utcnow

VERDICTS = ("spf", "dkim", "dmarc")


def _table(model: type[InboundThread] | type[InboundMessage]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


_THREADS = _table(InboundThread)
_MESSAGES = _table(InboundMessage)
# Built once: filing runs for every received message, inside the group commit.
_NEW_THREAD = insert(_THREADS)
_NEW_MESSAGE = insert(_MESSAGES)
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


def file_inbound(
    session: Session,
    *,
    domain_id: int,
    raw: bytes,
    mail_from: str,
    rcpt_tos: list[str],
    remote_ip: str,
    helo: str,
    verdicts: dict[str, str],
    auth_results: str,
    direction: str = "in",
    parsed: ParsedMessage | None = None,
    domain_name: str | None = None,
    pending: str = "",
) -> int:
    """Store a message received for (or, with ``direction="out"``, sent from) a dedicated domain.

    Parses ``raw`` once (unless the caller already did: ``parsed``), files it into its thread
    (a new one when it continues none), updates the thread's counters and last activity, and
    returns the new ``inbound_messages.id``. It runs in the caller's transaction and commits
    nothing: the inbound server commits before its 250. ``domain_name``, when the caller knows
    it, spares reading the domain (a removed domain still fails: the row refers to it).
    ``pending`` marks what the relay still owes the message (``"forward"``: copies).
    The search index follows by itself (triggers on SQLite, an index on PostgreSQL).
    """
    if domain_name is None:
        domain_name = session.execute(
            select(DedicatedDomain.name).where(DedicatedDomain.id == domain_id)
        ).scalar()
        if domain_name is None:
            raise ValueError(f"no dedicated domain with id {domain_id}")
    if parsed is None:
        parsed = parse_message(raw)
    now = utcnow()
    unread = direction == "in"
    # Plain INSERT/UPDATE statements rather than ORM objects: filing runs for every received
    # message inside the group commit, and nothing here needs the objects afterwards.
    thread_id = threads.find_thread_id(session, domain_id, domain_name, parsed, now)
    if thread_id is None:
        subject = threads.normalized_subject(parsed.subject) or parsed.subject
        inserted = session.execute(
            _NEW_THREAD,
            {
                "domain_id": domain_id,
                "subject": _cut(subject, 300),
                "last_at": now,
                "message_count": 1,
                "unread_count": 1 if unread else 0,
            },
        )
        thread_id = _inserted_id(inserted)
    else:
        session.execute(
            _BUMP_THREAD, {"thread": thread_id, "unread_add": 1 if unread else 0, "at": now}
        )
        _expire(session, InboundThread, thread_id)
    recipients = ", ".join(v for v in (parsed.to_header, parsed.cc_header) if v)
    inserted = session.execute(
        _NEW_MESSAGE,
        {
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
            "unread": unread,
            "pending": pending,
        },
    )
    return _inserted_id(inserted)


def _inserted_id(result: Result[Any]) -> int:
    key = cast(CursorResult[Any], result).inserted_primary_key
    assert key is not None
    return int(key[0])


def _expire(session: Session, model: type[InboundThread], ident: int) -> None:
    """Make a copy of the row the caller's session already holds read it again (the counters
    were changed by a statement, not through the object)."""
    loaded = session.identity_map.get(session.identity_key(model, ident))
    if loaded is not None:
        session.expire(loaded)
