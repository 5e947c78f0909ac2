"""What the relay decides about a login and a message: blocking database work, run in a thread.

Each answer is an SMTP reply line; ``250`` only after the message was committed to the queue.

The daily limit: a message is refused when the day's count has already reached the limit. A
message that starts below the limit is accepted whole, even when its recipients take the count
past it; counting it then trips the limit rule (every SMTP credential is deleted), and every
later message — in open sessions too, because the user is re-checked at DATA — is refused.
Refusing that last message instead would mean the rule could never fire through the relay, and
counting mail that was refused would make the statistics wrong.

The queueing itself, in groups, is ``intake.py``'s.
"""

from __future__ import annotations

import dataclasses
import email.utils
import logging
import secrets as _random
from dataclasses import dataclass
from email import errors, policy
from functools import lru_cache

from sqlalchemy.exc import SQLAlchemyError

from postdesk.core import credentials, suppression
from postdesk.core.domains import lookup_name
from postdesk.core.errors import UserError
from postdesk.core.relay import headers
from postdesk.core.relay.addresses import envelope_problem, shown, smtp_safe
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain

log = logging.getLogger(__name__)
_HEADER_FACTORY = policy.default.header_factory
SUPPRESSED_WHY_LIMIT = 200  # characters of the entry's reason quoted in a RCPT refusal


@dataclass(frozen=True)
class RelayLogin:
    """Who is logged in on an SMTP session (``login`` is what aiosmtpd keeps as login_data)."""

    user_id: int
    domain_id: int
    domain: str
    login: str


@dataclass(frozen=True)
class Outcome:
    """The reply to DATA, and what was queued (None when refused)."""

    reply: str
    message_id: int | None = None
    limit_fired: bool = False


def check_login(store: Store, username: str, password: str) -> RelayLogin | None:
    """The live SMTP user with these credentials, or None (scrypt: takes tens of milliseconds)."""
    with store.session() as s:
        user = credentials.authenticate(s, username, password)
        if user is None:
            return None
        domain = s.get(DedicatedDomain, user.domain_id)
        if domain is None:  # removed between the two reads
            return None
        return RelayLogin(user.id, user.domain_id, domain.name, username.strip().lower())


def on_domain(address: str, domain: str) -> bool:
    """Whether an address belongs to the domain or one of its subdomains."""
    _, _, host = address.strip().strip("<>").rpartition("@")
    host = lookup_name(host)
    return bool(host) and (host == domain or host.endswith("." + domain))


def sender_problem(address: str, login: RelayLogin) -> str | None:
    """The refusal of an envelope sender the login may not use (None when it may)."""
    if not address or "@" not in address:
        return (
            f"553 5.7.1 A sender address is required; send from an address @{login.domain} "
            f"(or a subdomain of it)."
        )
    problem = envelope_problem(address, "Sender")
    if problem:
        return f"553 5.1.7 {problem}"
    if not on_domain(address, login.domain):
        return (
            f"553 5.7.1 The sender <{shown(address)}> is not on {login.domain}, the domain this "
            f"login sends for; send from an address @{login.domain} (or a subdomain of it)."
        )
    return None


def recipient_problem(address: str) -> str | None:
    """The refusal of an envelope recipient no receiver could accept (None when it is fine).

    Refused here, at RCPT, so that it never sits in the queue failing over and over.
    """
    problem = envelope_problem(address, "Recipient")
    return f"553 5.1.3 {problem}" if problem else None


def suppressed_reply(store: Store, address: str, login: RelayLogin) -> str | None:
    """The refusal of a recipient on the suppression list (None when it may get mail).

    One indexed lookup per RCPT; the reply names the reason, so the sender knows what to do.
    """
    try:
        with store.engine.connect() as conn:
            entry = suppression.is_suppressed(conn, address, login.domain)
    except (SQLAlchemyError, UserError):
        log.exception("could not read the suppression list")
        return "451 4.3.0 Postdesk could not check this recipient right now; try again shortly"
    if entry is None:
        return None
    why = entry.describe()
    if len(why) > SUPPRESSED_WHY_LIMIT:
        why = why[: SUPPRESSED_WHY_LIMIT - 3].rstrip() + "..."
    scope = f" for {entry.scope}" if entry.scope else ""
    return (
        f"550 5.7.1 <{shown(address)}> is on this workspace's suppression list{scope} ({why}); "
        "remove it in Postdesk to send again"
    )


def limit_reply(limit: int) -> str:
    return f"550 5.7.0 Daily sending limit of {limit:,} emails reached; resets at 00:00 UTC"


def addresses_of(value: str) -> list[str] | None:
    """The addr-specs of an address-list header value; None when receivers could misread it."""
    found = _addresses(value)
    return None if found is None else list(found)


@lru_cache(maxsize=1024)
def _addresses(value: str) -> tuple[str, ...] | None:
    # Remembered: the standard library's parser takes a few hundred microseconds a value, and a
    # sender's From header is the same on every message it sends.
    if any(0xDC80 <= ord(c) <= 0xDCFF for c in value):
        return None  # bytes that are not UTF-8: every receiver decodes them its own way
    parsed = _HEADER_FACTORY("from", value)
    if any(isinstance(d, errors.InvalidHeaderDefect) for d in parsed.defects):
        return None  # e.g. two addresses without a comma: parsers disagree on which counts
    return tuple(a.addr_spec for a in parsed.addresses)


def header_problem(block: headers.HeaderBlock, login: RelayLogin) -> str | None:
    """The refusal for a header block receivers could read differently, or whose From (or
    Sender) is not on the login's domain; None when the headers are fine."""
    if block.problem:
        return f"550 5.6.0 {smtp_safe(block.problem)}; write one field per line as Name: value"
    froms = block.all("From")
    if not froms:
        return f"550 5.6.0 The message has no From header; add one with an address @{login.domain}"
    for name, values in (("From", froms), ("Sender", block.all("Sender"))):
        if len(values) > 1:
            return (
                f"550 5.7.1 The message has {len(values)} {name} headers; receivers would show "
                f"only one of them, so send it with exactly one"
            )
        for value in values:
            addresses = addresses_of(value)
            if addresses is None:
                return (
                    f"550 5.6.0 The {name} header is not a list of addresses receivers read "
                    f"alike; write it as {name}: Name <name@{login.domain}>"
                )
            if not addresses:
                return f"550 5.6.0 The {name} header has no address; add one @{login.domain}"
            if name == "Sender" and len(addresses) > 1:
                return "550 5.6.0 The Sender header may name only one address"
            for address in addresses:
                if not on_domain(address, login.domain):
                    return (
                        f"553 5.7.1 The {name} address <{shown(address)}> is not on "
                        f"{login.domain}, the domain this login sends for; use an address "
                        f"@{login.domain}"
                    )
    return None


def complete_headers(
    block: headers.HeaderBlock, login: RelayLogin, reply_to: str | None
) -> tuple[bytes, str]:
    """The message with the Date and Message-ID it must have (and the domain's Reply-To) added
    at the end of its real header block, all in CRLF; and its Message-ID."""
    added: list[str] = []
    if block.first("Date") is None:
        added.append(f"Date: {email.utils.formatdate(usegmt=True)}")
    message_id = block.first("Message-ID")
    if message_id is None:
        message_id = f"<{_random.token_hex(16)}@{login.domain}>"
        added.append(f"Message-ID: {message_id}")
    if reply_to and block.first("Reply-To") is None:
        added.append(f"Reply-To: {reply_to}")
    # Work in CRLF throughout so the DKIM signature covers exactly what goes on the wire.
    extra = "".join(line + "\r\n" for line in added).encode("utf-8")
    body = block.body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return block.head_crlf() + extra + b"\r\n" + body, message_id


CRITICAL_HEADER = "x-postdesk-critical"


def take_critical(block: headers.HeaderBlock) -> tuple[headers.HeaderBlock, bool]:
    """The header block without ``X-Postdesk-Critical`` (an instruction to Postdesk, never sent
    on), and whether it marked the message critical (``1``)."""
    values = block.all(CRITICAL_HEADER)
    if not values:
        return block, False
    kept: list[bytes] = []
    dropping = False
    for line in block.lines:
        if line[:1] not in (b" ", b"\t"):  # a new field; folded lines follow their field
            dropping = line.partition(b":")[0].strip().lower() == CRITICAL_HEADER.encode()
        if not dropping:
            kept.append(line)
    fields = tuple(f for f in block.fields if f.name != CRITICAL_HEADER)
    critical = any(v.strip().lower() in ("1", "yes", "true") for v in values)
    return dataclasses.replace(block, lines=tuple(kept), fields=fields), critical


def decoded(value: str | None) -> str:
    """A header value as a user reads it (encoded words decoded), for the queue's listing."""
    if not value:
        return ""
    if value.isascii() and "=?" not in value:  # nothing to decode: the parser gives it back
        return value
    text = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return str(_HEADER_FACTORY("subject", text))


def deleted_reply(deleted_reason: str | None) -> str:
    if deleted_reason == "daily_limit":
        return (
            "550 5.7.1 This SMTP login was deleted because the daily sending limit was "
            "exceeded; create a new login in SMTP Settings"
        )
    return "550 5.7.1 This SMTP login was deleted; sending with it has stopped"
