"""Filing a received message into Conversations: parse once, thread, store, count."""

from __future__ import annotations

from sqlalchemy.orm import Session

from postdesk.core.conversations import threads
from postdesk.core.conversations.parse import clean_text, parse_message
from postdesk.core.store.models import DedicatedDomain, InboundMessage, InboundThread, utcnow

VERDICTS = ("spf", "dkim", "dmarc")


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
) -> int:
    """Store a message received for (or, with ``direction="out"``, sent from) a dedicated domain.

    Parses ``raw`` once, files it into its thread (a new one when it continues none), updates the
    thread's counters and last activity, and returns the new ``inbound_messages.id``. It runs in
    the caller's transaction and commits nothing: the inbound server commits before its 250.
    The search index follows by itself (triggers on SQLite, an index on PostgreSQL).
    """
    domain = session.get(DedicatedDomain, domain_id)
    if domain is None:
        raise ValueError(f"no dedicated domain with id {domain_id}")
    parsed = parse_message(raw)
    now = utcnow()
    thread = threads.find_thread(session, domain_id, domain.name, parsed, now)
    unread = direction == "in"
    if thread is None:
        thread = InboundThread(
            domain_id=domain_id,
            subject=_cut(threads.normalized_subject(parsed.subject) or parsed.subject, 300),
            last_at=now,
            message_count=0,
            unread_count=0,
        )
        session.add(thread)
        session.flush()
    thread.message_count = (thread.message_count or 0) + 1
    thread.unread_count = (thread.unread_count or 0) + (1 if unread else 0)
    thread.last_at = max(thread.last_at, now) if thread.last_at else now
    recipients = ", ".join(v for v in (parsed.to_header, parsed.cc_header) if v)
    message = InboundMessage(
        domain_id=domain_id,
        thread_id=thread.id,
        direction=direction,
        kind="message",
        received_at=now,
        remote_ip=clean_text(remote_ip)[:64],
        helo=clean_text(helo)[:255],
        mail_from=clean_text(mail_from)[:320],
        rcpt_tos=[clean_text(r) for r in rcpt_tos],
        from_header=_cut(parsed.from_header, 400),
        to_header=recipients,
        subject=_cut(parsed.subject, 300),
        message_id_header=parsed.message_id,
        in_reply_to=parsed.in_reply_to,
        references=parsed.references,
        body_text=parsed.text,
        raw=raw,
        size=len(raw),
        spf=(verdicts.get("spf") or "none")[:12],
        dkim=(verdicts.get("dkim") or "none")[:12],
        dmarc=(verdicts.get("dmarc") or "none")[:12],
        auth_results=clean_text(auth_results),
        unread=unread,
    )
    session.add(message)
    session.flush()
    return message.id
