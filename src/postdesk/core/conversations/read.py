"""What the CLI and the GUI read of Conversations: frozen views, built inside one session.

Rows never leave this module. Bodies are read from the stored message itself (``raw``), so the
HTML shown is sanitized at the moment it is shown, with that message's remote-image choice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from postdesk.core.conversations import attachments
from postdesk.core.conversations.parse import AttachmentInfo, html_to_text, parse_message
from postdesk.core.conversations.sanitize import SanitizedHtml, sanitize_html
from postdesk.core.conversations.search import matching_ids
from postdesk.core.errors import UserError
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, InboundMessage, InboundThread
from postdesk.core.validation import display_domain

SNIPPET_CHARS = 140
# A thread list narrowed by a search shows the threads of the newest matching messages.
MAX_SEARCH_HITS = 400


@dataclass(frozen=True)
class ThreadSummary:
    """A line of the thread list: newest activity first."""

    id: int
    domain: str
    subject: str
    last_at: dt.datetime
    message_count: int
    unread_count: int
    last_from: str
    snippet: str
    # Who the conversation is with: the sender of its newest received message ("" if none),
    # so a thread answered from Postdesk is still listed under the customer, not the domain.
    correspondent: str = ""


@dataclass(frozen=True)
class MessageView:
    """One message of a thread, as shown: headers, verdict badges, bodies, attachments."""

    id: int
    thread_id: int | None
    direction: str
    received_at: dt.datetime
    from_header: str
    to_header: str
    cc_header: str
    date_header: str
    subject: str
    message_id: str
    mail_from: str
    remote_ip: str
    spf: str
    dkim: str
    dmarc: str
    auth_results: str
    unread: bool
    text: str
    html: str  # sanitized; "" when the message has no HTML part
    remote_images_blocked: bool
    attachments: tuple[AttachmentInfo, ...]

    @property
    def verdicts(self) -> dict[str, str]:
        """The badges: spf, dkim and dmarc verdicts by name."""
        return {"spf": self.spf, "dkim": self.dkim, "dmarc": self.dmarc}


@dataclass(frozen=True)
class ThreadView:
    id: int
    domain: str
    subject: str
    last_at: dt.datetime
    unread_count: int
    messages: tuple[MessageView, ...]


@dataclass(frozen=True)
class SearchHit:
    """A message matching a search."""

    message_id: int
    thread_id: int | None
    received_at: dt.datetime
    from_header: str
    subject: str
    snippet: str


def _domains(session: Session, name: str | None) -> dict[int, str]:
    """Domain ids with their shown names: the one named (a UserError if unknown), or all."""
    from postdesk.core.domains import get_domain

    if name is not None:
        row = get_domain(session, name)
        return {row.id: display_domain(row.name)}
    rows = session.execute(select(DedicatedDomain.id, DedicatedDomain.name)).all()
    return {row[0]: display_domain(row[1]) for row in rows}


def _snippet(body: str) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1] + "…"


def list_threads(
    store: Store,
    domain: str | None,
    *,
    search: str | None = None,
    unread_only: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> list[ThreadSummary]:
    """The domain's threads (every domain's when ``domain`` is None), newest activity first,
    optionally only those matching ``search`` (sender, recipients, subject, body) or with unread
    messages."""
    with store.session() as s:
        domains = _domains(s, domain)
        query = select(InboundThread).where(InboundThread.domain_id.in_(list(domains)))
        if search is not None and search.strip():
            thread_ids = {
                i
                for domain_id in domains
                for i in matching_ids(
                    s, domain_id, search, limit=MAX_SEARCH_HITS, column="thread_id"
                )
                if i is not None
            }
            if not thread_ids:
                return []
            query = query.where(InboundThread.id.in_(thread_ids))
        if unread_only:
            query = query.where(InboundThread.unread_count > 0)
        threads = s.scalars(
            query.order_by(InboundThread.last_at.desc(), InboundThread.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
        newest = _newest_messages(s, [t.id for t in threads])
        senders = _newest_senders(s, [t.id for t in threads])
        return [
            ThreadSummary(
                id=t.id,
                domain=domains[t.domain_id],
                subject=t.subject,
                last_at=t.last_at,
                message_count=t.message_count,
                unread_count=t.unread_count,
                last_from=newest.get(t.id, ("", ""))[0],
                snippet=_snippet(newest.get(t.id, ("", ""))[1]),
                correspondent=senders.get(t.id, ""),
            )
            for t in threads
        ]


def _newest_senders(session: Session, thread_ids: list[int]) -> dict[int, str]:
    """The From of each thread's newest received (not sent) message."""
    if not thread_ids:
        return {}
    newest = (
        select(func.max(InboundMessage.id))
        .where(InboundMessage.thread_id.in_(thread_ids), InboundMessage.direction == "in")
        .group_by(InboundMessage.thread_id)
    )
    rows = session.execute(
        select(InboundMessage.thread_id, InboundMessage.from_header).where(
            InboundMessage.id.in_(newest)
        )
    ).all()
    return {row[0]: row[1] for row in rows if row[0] is not None}


def _newest_messages(session: Session, thread_ids: list[int]) -> dict[int, tuple[str, str]]:
    """Sender and the start of the body of each thread's newest message."""
    if not thread_ids:
        return {}
    newest = (
        select(func.max(InboundMessage.id))
        .where(InboundMessage.thread_id.in_(thread_ids))
        .group_by(InboundMessage.thread_id)
    )
    rows = session.execute(
        select(
            InboundMessage.thread_id,
            InboundMessage.from_header,
            func.substr(InboundMessage.body_text, 1, SNIPPET_CHARS * 2),
        ).where(InboundMessage.id.in_(newest))
    ).all()
    return {row[0]: (row[1], row[2] or "") for row in rows}


def _message_view(row: InboundMessage) -> MessageView:
    parsed = parse_message(row.raw)
    cleaned = sanitize_html(parsed.html) if parsed.html else SanitizedHtml("", False)
    return MessageView(
        id=row.id,
        thread_id=row.thread_id,
        direction=row.direction,
        received_at=row.received_at,
        from_header=row.from_header,
        to_header=parsed.to_header,
        cc_header=parsed.cc_header,
        date_header=parsed.date_header,
        subject=row.subject,
        message_id=row.message_id_header,
        mail_from=row.mail_from,
        remote_ip=row.remote_ip,
        spf=row.spf,
        dkim=row.dkim,
        dmarc=row.dmarc,
        auth_results=row.auth_results,
        unread=row.unread,
        text=parsed.text or (html_to_text(parsed.html) if parsed.html else ""),
        html=cleaned.html,
        remote_images_blocked=cleaned.remote_images_blocked,
        attachments=parsed.attachments,
    )


def _no_thread(thread_id: int) -> UserError:
    return UserError(
        "conversations.no_thread",
        f"There is no conversation number {thread_id}.",
        "List them with 'postdesk conversations list'.",
    )


def get_thread(store: Store, thread_id: int) -> ThreadView:
    """A thread with its messages, oldest first (does not mark it read)."""
    with store.session() as s:
        thread = s.get(InboundThread, thread_id)
        if thread is None:
            raise _no_thread(thread_id)
        domain = s.get(DedicatedDomain, thread.domain_id)
        rows = s.scalars(
            select(InboundMessage)
            .where(InboundMessage.thread_id == thread_id)
            .order_by(InboundMessage.received_at, InboundMessage.id)
        ).all()
        return ThreadView(
            id=thread.id,
            domain=display_domain(domain.name) if domain else "",
            subject=thread.subject,
            last_at=thread.last_at,
            unread_count=thread.unread_count,
            messages=tuple(_message_view(row) for row in rows),
        )


def mark_read(store: Store, thread_id: int, read: bool = True) -> None:
    """Mark every message of a thread read (or unread) and set its unread count to match."""
    with store.session() as s:
        thread = s.get(InboundThread, thread_id)
        if thread is None:
            raise _no_thread(thread_id)
        s.execute(
            update(InboundMessage)
            .where(InboundMessage.thread_id == thread_id, InboundMessage.direction == "in")
            .values(unread=not read)
        )
        thread.unread_count = (
            0
            if read
            else s.scalar(
                select(func.count())
                .select_from(InboundMessage)
                .where(InboundMessage.thread_id == thread_id, InboundMessage.direction == "in")
            )
            or 0
        )


def _raw(session: Session, message_id: int) -> bytes:
    row = session.get(InboundMessage, message_id)
    if row is None:
        raise UserError(
            "conversations.no_message",
            f"There is no received message number {message_id}.",
            "Show a conversation to see its messages' numbers.",
        )
    return row.raw


def sanitized_html(store: Store, message_id: int, *, allow_remote_images: bool) -> SanitizedHtml:
    """The message's HTML, sanitized; remote images included only when allowed."""
    with store.session() as s:
        raw = _raw(s, message_id)
    parsed = parse_message(raw)
    if not parsed.html:
        return SanitizedHtml("", False)
    return sanitize_html(parsed.html, allow_remote_images=allow_remote_images)


def save_attachment(store: Store, message_id: int, index: int, path: Path | str) -> Path:
    """Save attachment ``index`` (from 0) of a message to ``path`` (a file, or a folder to save
    it in under its sanitized name). Returns where it was written; refuses oversized parts
    and archive bombs with a UserError."""
    with store.session() as s:
        raw = _raw(s, message_id)
    info, data = attachments.attachment_data(raw, index)
    return attachments.write_attachment(info, data, Path(path))


def search(store: Store, domain: str | None, text: str, *, limit: int = 50) -> list[SearchHit]:
    """The domain's messages (every domain's when ``domain`` is None) matching ``text`` (sender,
    recipients, subject, body), newest first."""
    with store.session() as s:
        ids = sorted(
            (i for d in _domains(s, domain) for i in matching_ids(s, d, text, limit=limit)),
            reverse=True,
        )[:limit]
        if not ids:
            return []
        found = s.execute(
            select(
                InboundMessage.id,
                InboundMessage.thread_id,
                InboundMessage.received_at,
                InboundMessage.from_header,
                InboundMessage.subject,
                func.substr(InboundMessage.body_text, 1, SNIPPET_CHARS * 2),
            ).where(InboundMessage.id.in_(ids))
        ).all()
        by_id = {r[0]: r for r in found}
        return [
            SearchHit(
                message_id=r[0],
                thread_id=r[1],
                received_at=r[2],
                from_header=r[3],
                subject=r[4],
                snippet=_snippet(r[5] or ""),
            )
            for r in (by_id[i] for i in ids if i in by_id)
        ]
