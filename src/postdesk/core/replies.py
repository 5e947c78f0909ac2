"""Replying from a conversation: a plain-text answer to the last message received in a thread.

The reply quotes that message ("On …, X wrote:" and ``> `` lines), says "Re:" once, and carries
``In-Reply-To`` and ``References`` so every mail program threads it. It goes out from an address
on the thread's domain (the domain's sender policy applies, as it does to SMTP users) through the
domain's service: queued for the relay's worker, which DKIM-signs and delivers it, and counted in
the daily usage in the same transaction (:mod:`postdesk.core.outgoing`). It is filed into the
thread at once, as sent mail (``direction="out"``).

Blocking (database): the GUI calls :func:`send_reply` off its thread.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP

from sqlalchemy import select
from sqlalchemy.orm import Session

from postdesk.core import conversations, outgoing, senders, suppression
from postdesk.core.errors import UserError
from postdesk.core.relay import queue
from postdesk.core.relay.headers import read as read_headers
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, InboundMessage, InboundThread
from postdesk.core.validation import normalize_email, quote_input

MAX_BODY = 1_000_000  # characters a reply may have
_RE = re.compile(r"^\s*(re|aw|sv|antw)\s*:\s*", re.IGNORECASE)


@dataclass(frozen=True)
class SentReply:
    """A reply queued for delivery (``queue_id``) and filed in its thread (``message_id``)."""

    queue_id: int
    message_id: int
    thread_id: int
    to: str
    subject: str
    message_id_header: str

    def as_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def reply_subject(subject: str) -> str:
    """``Re: subject``, with one "Re:" however many the original had."""
    stripped = subject.strip()
    while _RE.match(stripped):
        stripped = _RE.sub("", stripped, count=1)
    return f"Re: {stripped}" if stripped else "Re:"


def quoted(body: str, author: str, when: str) -> str:
    """The original text as a reply quotes it: an attribution line, then ``> `` lines."""
    lines = body.replace("\r\n", "\n").rstrip("\n").split("\n")
    quoted_lines = [(">" + (" " + line if not line.startswith(">") else line)) for line in lines]
    return f"On {when}, {author} wrote:\n" + "\n".join(quoted_lines) + "\n"


def _last_received(session: Session, thread_id: int) -> InboundMessage:
    message = session.scalars(
        select(InboundMessage)
        .where(InboundMessage.thread_id == thread_id, InboundMessage.direction == "in")
        .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
    ).first()
    if message is None:
        raise UserError(
            "reply.nothing_to_answer",
            f"Conversation {thread_id} has no received message to reply to.",
            "Pick a conversation from 'postdesk conversations list'.",
        )
    return message


def _recipient(message: InboundMessage) -> str:
    """Where the answer goes: the Reply-To of the message, else its From, else its sender."""
    block = read_headers(message.raw)
    for name in ("Reply-To", "From"):
        value = block.first(name)
        if value:
            for _, address in email.utils.getaddresses([value]):
                if "@" in address:
                    return normalize_email(address)
    if message.mail_from:
        return normalize_email(message.mail_from)
    raise UserError(
        "reply.no_recipient",
        "The message has no address to reply to (no Reply-To, From or envelope sender).",
    )


def _sender(session: Session, domain: DedicatedDomain, address: str) -> str:
    address = normalize_email(address)
    host = address.rpartition("@")[2].lower()
    if host != domain.name and not host.endswith("." + domain.name):
        raise UserError(
            "reply.sender_domain",
            f"{quote_input(address)} is not on {domain.name}.",
            f"Reply from an address @{domain.name}.",
        )
    refused = senders.refusal(session, domain, [address])
    if refused:
        raise UserError(
            "reply.sender_unconfirmed",
            f"{address} is not a confirmed sender address for {domain.name}.",
            "Confirm it in Sender addresses first, or reply from a confirmed one.",
        )
    return address


def _written_at(date: str | None) -> str:
    """When the sender wrote the message, as its Date header says (in its own time zone)."""
    if not date:
        return ""
    try:
        written = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return ""
    return written.strftime("%a, %d %b %Y at %H:%M %z").strip()


def build_reply(
    original: InboundMessage, *, from_address: str, to: str, body_text: str, domain: str
) -> tuple[bytes, str, str]:
    """The reply's bytes, its Message-ID and its Subject."""
    msg = EmailMessage()
    subject = reply_subject(original.subject)
    message_id = email.utils.make_msgid(domain=domain)
    block = read_headers(original.raw)
    author = block.first("From") or original.mail_from or "someone"
    when = _written_at(block.first("Date")) or original.received_at.strftime(
        "%a, %d %b %Y at %H:%M UTC"
    )
    msg["From"] = from_address
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(usegmt=True)
    msg["Message-ID"] = message_id
    if original.message_id_header:
        msg["In-Reply-To"] = original.message_id_header
        references = f"{original.references} {original.message_id_header}".split()
        msg["References"] = " ".join(dict.fromkeys(references))
    original_text = original.body_text or senders.plain_text(original.raw)
    text = body_text.rstrip() + "\n\n" + quoted(original_text, " ".join(author.split()), when)
    msg.set_content(text)
    return msg.as_bytes(policy=SMTP), message_id, subject


def send_reply(store: Store, thread_id: int, from_address: str, body_text: str) -> SentReply:
    """Queue a reply to the last received message of a thread, and file it in the thread."""
    if not body_text.strip():
        raise UserError("reply.empty", "The reply is empty.", "Write something to send.")
    if len(body_text) > MAX_BODY:
        raise UserError("reply.too_long", "The reply is too long.", "Keep it under 1 MB.")
    with queue.writing(store), store.session() as s:
        thread = s.get(InboundThread, thread_id)
        if thread is None:
            raise UserError(
                "reply.no_thread",
                f"There is no conversation {thread_id}.",
                "See them with 'postdesk conversations list'.",
            )
        domain = s.get(DedicatedDomain, thread.domain_id)
        assert domain is not None  # the thread's foreign key
        sender = _sender(s, domain, from_address)
        original = _last_received(s, thread_id)
        to = _recipient(original)
        entry = suppression.is_suppressed(s, to, domain.name)
        if entry is not None:
            raise UserError(
                "reply.suppressed",
                f"{to} is on the suppression list ({entry.describe()}).",
                "Remove it from the suppression list to write to it again.",
            )
        raw, message_id, subject = build_reply(
            original, from_address=sender, to=to, body_text=body_text, domain=domain.name
        )
        queued = outgoing.queue_message(
            s,
            domain,
            mail_from=sender,
            rcpt_tos=[to],
            raw=raw,
            source="reply",
            subject=subject,
            message_id=message_id,
        )
        filed = conversations.file_inbound(
            s,
            domain_id=domain.id,
            raw=raw,
            mail_from=sender,
            rcpt_tos=[to],
            remote_ip="",
            helo="",
            verdicts={},
            auth_results="",
            direction="out",
        )
        filed_thread = s.get(InboundMessage, filed)
        result = SentReply(
            queued.message_id,
            filed,
            filed_thread.thread_id if filed_thread and filed_thread.thread_id else thread_id,
            to,
            subject,
            message_id,
        )
    outgoing.after_commit(store, [queued])
    return result
