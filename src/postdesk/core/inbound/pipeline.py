"""What happens to a received message after its 250: the parts of Postdesk that read mail.

A delivery status notification feeds the message activity, a DMARC aggregate report the
"Who sends as this domain" view, a sender-address confirmation code confirms the address, and
any other message is forwarded where the domain's forwarding rules say. Each
step runs in its own transaction in a worker thread; a step that fails is logged and the others
still run — the message itself is already safe in Conversations.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from postdesk.core import activity, dmarcreports, forwarding, senders
from postdesk.core.relay import queue
from postdesk.core.store import Store
from postdesk.core.store.models import InboundMessage

log = logging.getLogger(__name__)
# Up to this size a message is looked over on the event loop (a regular-expression scan of a
# fraction of a millisecond); a larger one is looked over in a worker thread.
INLINE_BYTES = 256 * 1024
# A part whose type (or file name) is a report's; the reader itself decides what it really is.
_REPORT_HINT = re.compile(
    rb"content-type:[ \t]*(?:application/(?:[\w.+-]*(?:zip|gzip|xml|octet-stream))|text/xml)"
    rb"|filename\*?=[^\r\n]*\.(?:xml|gz|zip)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Processed:
    """What a received message turned out to be, and how many forwarded copies it queued."""

    kind: str  # dsn | dmarc_report | sender_code | message
    forwarded: int = 0


async def process(
    store: Store,
    inbound_id: int,
    *,
    raw: bytes | None = None,
    mail_from: str | None = None,
    owed: bool | None = None,
) -> Processed:
    """Dispatch one committed inbound message to the parts of Postdesk that read mail.

    ``raw`` and ``mail_from``, when the caller still holds what it just committed, spare
    reading the message back. ``owed`` is what its commit marked (copies may be owed to
    forwarding rules or SRS bounces); False skips forwarding, None (not known) asks it."""
    known = (raw, mail_from) if raw is not None and mail_from is not None else None
    if known is not None and len(known[0]) <= INLINE_BYTES and _plainly_a_message(*known):
        kind = "message"  # most mail: nothing to read it as, no trip to a worker thread
    else:
        kind = await asyncio.to_thread(_classify, store, inbound_id, known)
    forwarded = 0
    if owed is False:
        return Processed(kind)  # most mail: no rule of its domain forwards anything
    try:
        # A bounce of a forwarded copy comes back as a DSN to an SRS address: forwarding
        # decides. Any other kind is not forwarded; its mark is cleared.
        if kind in ("message", "dsn"):
            forwarded = await forwarding.forward_message(store, inbound_id)
        else:
            await asyncio.to_thread(forwarding.settle, store, inbound_id)
    except Exception:
        # The mark stays: the relay tries again (``Inbound``'s sweep of owed messages).
        log.exception("forwarding a received message failed")
    return Processed(kind, forwarded)


def nothing_to_do(raw: bytes, mail_from: str, owed: bool) -> bool:
    """Whether ``process`` would find nothing to do for a message just committed (most mail:
    not a report, a bounce or a code, and no copies owed), so it need not run at all."""
    return not owed and len(raw) <= INLINE_BYTES and _plainly_a_message(raw, mail_from)


def _plainly_a_message(raw: bytes, mail_from: str) -> bool:
    """What ``_classify`` would call "message" without reading anything: not from the null
    sender, no part that could be a report, no confirmation-code header."""
    return bool(mail_from) and not _may_carry_report(raw) and not _carries_code(raw)


def _carries_code(raw: bytes) -> bool:
    head = raw.split(b"\r\n\r\n", 1)[0].lower()
    return senders.CONFIRM_HEADER.lower().encode() + b":" in head


def _may_carry_report(raw: bytes) -> bool:
    """Whether a message could carry a DMARC aggregate report (an XML, gzip or zip file), so
    that ordinary mail is not unpacked for nothing."""
    return _REPORT_HINT.search(raw) is not None


def _classify(store: Store, inbound_id: int, known: tuple[bytes, str] | None = None) -> str:
    if known is not None:  # received just now (so "in"), as committed
        raw, null_sender = known[0], not known[1]
    else:
        with store.session() as s:
            message = s.get(InboundMessage, inbound_id)
            if message is None or message.direction != "in":
                return "message"
            raw, null_sender = message.raw, not message.mail_from
    # Delivery status notifications are sent with a null envelope sender (RFC 3464, RFC 5321
    # section 4.5.5); other mail is not read as one.
    dsn = null_sender and _step(
        store, "a delivery status notification", lambda s: activity.apply_dsn(s, raw)
    )
    if dsn:
        _mark(store, inbound_id, "dsn")
        return "dsn"
    report = _may_carry_report(raw) and _step(
        store, "a DMARC report", lambda s: dmarcreports.import_report_message(s, raw) is not None
    )
    if report:
        _mark(store, inbound_id, "dmarc_report")
        return "dmarc_report"
    if _carries_code(raw) and _step(
        store, "a sender confirmation code", lambda s: senders.pick_up_code(s, inbound_id)
    ):
        return "sender_code"
    return "message"


def _step(store: Store, what: str, action: Callable[[Session], bool]) -> bool:
    try:
        with queue.writing(store), store.session() as s:
            return bool(action(s))
    except Exception:
        # The message is stored either way; one reader's failure must not stop the others.
        log.exception("reading a received message as %s failed", what)
        return False


def _mark(store: Store, inbound_id: int, kind: str) -> None:
    with queue.writing(store), store.session() as s:
        message = s.get(InboundMessage, inbound_id)
        if message is not None:
            message.kind = kind
