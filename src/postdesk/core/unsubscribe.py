"""One-click unsubscribe (RFC 8058): the headers a domain's mail carries, and what a POST does.

With a domain's ``one_click_unsubscribe`` on, the relay adds, before DKIM signing (and both are
in the signature's ``h=``)::

    List-Unsubscribe: <BASE/u/TOKEN>
    List-Unsubscribe-Post: List-Unsubscribe=One-Click

``BASE`` is the domain's verified tracking address (the endpoint that also counts opens and
clicks); without one the headers are left out, as a link that reaches nobody would be worse than
none. One copy of a message goes to all its recipients, so the header cannot name each of them:
it is added only to messages with a single recipient (how bulk mail is sent), and the token
names that message and recipient. A message that already carries the sender's own
``List-Unsubscribe`` keeps it.

The token is the message's public tracking id and an HMAC of the recipient under the message's
own secret key: it cannot be guessed or made for another address. ``POST /u/TOKEN`` with
``List-Unsubscribe=One-Click`` suppresses the recipient for that domain's mail; a ``GET`` only
shows a page with a button (link scanners follow GETs); a bad token gets a 404 that says nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

from sqlalchemy import select

from postdesk.core import activity, audit, suppression
from postdesk.core.domains import get_domain
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, QueuedMessage

if TYPE_CHECKING:
    from postdesk.core.relay.queue import Claimed

log = logging.getLogger(__name__)

POST_VALUE = "List-Unsubscribe=One-Click"
_SIGNATURE_CHARS = 32  # base64url characters of the HMAC kept in the token (192 bits)


@dataclass(frozen=True)
class Target:
    """Who a valid token unsubscribes, from which domain's mail."""

    message_id: int
    address: str
    domain: str


def _signature(key: str, address: str) -> str:
    digest = hmac.new(
        key.encode("ascii"), b"unsubscribe\0" + address.lower().encode("utf-8"), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:_SIGNATURE_CHARS]


def make_token(tracking_token: str, tracking_key: str, address: str) -> str:
    """The token of one message and recipient (the message's id in links, then the HMAC)."""
    return f"{tracking_token}.{_signature(tracking_key, address)}"


def sole_recipient(rcpt_tos: list[str]) -> str | None:
    """The message's one recipient (lowercased), or None when it has several."""
    addresses = {address.strip().lower() for address in rcpt_tos}
    return addresses.pop() if len(addresses) == 1 else None


def add_headers(raw: bytes, base: str, message: QueuedMessage | Claimed) -> bytes:
    """``raw`` (CRLF) with the two headers added at the end of its header block, or unchanged
    when the message has several recipients or already carries a List-Unsubscribe."""
    address = sole_recipient(list(message.rcpt_tos))
    end = raw.find(b"\r\n\r\n")
    if address is None or end < 0 or _has_header(raw[:end], b"list-unsubscribe"):
        return raw
    token = make_token(message.tracking_token, message.tracking_key, address)
    added = (
        f"\r\nList-Unsubscribe: <{base.rstrip('/')}/u/{token}>\r\nList-Unsubscribe-Post: "
        f"{POST_VALUE}"
    ).encode("ascii")
    return raw[:end] + added + raw[end:]


def _has_header(head: bytes, name: bytes) -> bool:
    return any(
        line.split(b":", 1)[0].strip().lower() == name
        for line in head.split(b"\r\n")
        if line[:1] not in (b" ", b"\t")
    )


def find_target(store: Store, token: str) -> Target | None:
    """Who the token unsubscribes; None when it is not genuine (never says why)."""
    public, _, signature = token.partition(".")
    if not public or len(signature) != _SIGNATURE_CHARS:
        return None
    with store.session() as s:
        row = s.execute(
            select(
                QueuedMessage.id,
                QueuedMessage.rcpt_tos,
                QueuedMessage.tracking_key,
                DedicatedDomain.name,
            )
            .join(DedicatedDomain, DedicatedDomain.id == QueuedMessage.domain_id)
            .where(QueuedMessage.tracking_token == public)
        ).first()
    if row is None:
        return None
    message_id, rcpt_tos, key, domain = row
    address = sole_recipient(list(rcpt_tos or []))
    if address is None or not hmac.compare_digest(_signature(key, address), signature):
        return None
    return Target(message_id, address, domain)


def unsubscribe(store: Store, token: str, *, how: str = "one-click") -> Target | None:
    """Suppress the token's recipient for its domain's mail (once; again is harmless)."""
    target = find_target(store, token)
    if target is None:
        return None
    with store.session() as s:
        added = suppression.suppress(
            s,
            target.address,
            "unsubscribe",
            detail=f"{how} unsubscribe",
            scope=target.domain,
            message_id=target.message_id,
        )
        if added:
            activity.record_event(
                s,
                target.message_id,
                "unsubscribed",
                recipient=target.address,
                source="tracking",
                detail=f"{how} unsubscribe from {target.domain}'s mail",
            )
            activity.set_recipient_status(s, target.message_id, target.address, "unsubscribed")
    return target


def set_one_click(store: Store, domain_name: str, on: bool) -> bool:
    """Turn the domain's one-click unsubscribe headers on or off (audited); the new state."""
    with store.session() as s:
        domain = get_domain(s, domain_name)
        if bool(domain.one_click_unsubscribe) != on:
            domain.one_click_unsubscribe = on
            audit.record(s, "domain.one_click_unsubscribe", domain.name, on=on)
        return on


def one_click_on(store: Store, domain_name: str) -> bool:
    """Whether the domain's mail carries one-click unsubscribe headers."""
    with store.session() as s:
        return bool(get_domain(s, domain_name).one_click_unsubscribe)


def confirm_page(target: Target) -> str:
    """The page a GET shows: what a click on its button does (nothing happens before it)."""
    domain = escape(target.domain)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width'>"
        f"<title>Unsubscribe from {domain}</title></head>"
        "<body style='font-family:sans-serif;max-width:32em;margin:3em auto'>"
        f"<h1>Unsubscribe</h1><p>Stop all email from {domain} to "
        f"<b>{escape(target.address)}</b>?</p>"
        "<form method='post'><input type='hidden' name='List-Unsubscribe' value='One-Click'>"
        "<button type='submit'>Unsubscribe</button></form></body></html>"
    )


def done_page(target: Target) -> str:
    """The page after unsubscribing."""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Unsubscribed</title></head>"
        "<body style='font-family:sans-serif;max-width:32em;margin:3em auto'>"
        f"<h1>Unsubscribed</h1><p>{escape(target.address)} gets no more email from "
        f"{escape(target.domain)}.</p></body></html>"
    )
