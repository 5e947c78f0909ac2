"""What every provider's webhook comes down to: one :class:`ProviderEvent` per recipient event.

Each provider module verifies its own signature scheme and turns its payload into these; the
fold (``fold.py``) then only knows this one shape. A payload that cannot be trusted or read is a
:class:`Refused` carrying the HTTP status the endpoint answers with.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from postdesk.core.bounces import BounceClass, classify_reply

PROVIDERS = ("sendgrid", "mailgun", "postmark", "ses")

#: The largest body the endpoint reads; SendGrid batches stay under ~768 KB.
MAX_BODY_BYTES = 2 * 1024 * 1024

# Kinds an event can have: the activity timeline's words, or "ignored" for the providers' own
# bookkeeping (processed, accepted, sent) that tells a user nothing new.
DELIVERED = "delivered"
DEFERRED = "deferred"
BOUNCED = "bounced"
DROPPED = "suppressed"
OPENED = "opened"
CLICKED = "clicked"
COMPLAINED = "complained"
UNSUBSCRIBED = "unsubscribed"
IGNORED = "ignored"


class Refused(Exception):
    """A webhook request that is not taken in: the HTTP status and a short reason (no secret)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class ProviderEvent:
    """One provider event about one recipient, in Postdesk's words."""

    provider: str
    event_id: str  # unique per provider: a second delivery of it is a replay
    kind: str  # one of the kinds above
    recipient: str | None
    message_id_header: str | None  # the Message-ID the relay sent, when the provider echoes it
    provider_message_id: str | None  # the provider's own id for the message
    at: dt.datetime
    reason: str = ""
    smtp_code: int | None = None
    bounce_class: str | None = None


def parse_json(body: bytes) -> Any:
    """The body as JSON, or 400."""
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Refused(400, "the body is not JSON") from None


def from_unix(value: object) -> dt.datetime:
    """A Unix time (int, float or its text) as an aware UTC datetime, or 400."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise Refused(400, "an event has no readable time") from None


def from_iso(value: object) -> dt.datetime:
    """An ISO 8601 time (``Z`` allowed) as an aware UTC datetime, or 400."""
    if not isinstance(value, str):
        raise Refused(400, "an event has no readable time")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Refused(400, "an event has no readable time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def check_fresh(at: dt.datetime, now: dt.datetime, window: dt.timedelta) -> None:
    """Refuse a signed time older than ``window`` (a replay) or far in the future."""
    if at < now - window:
        raise Refused(403, "the signature is too old")
    if at > now + dt.timedelta(minutes=5):
        raise Refused(403, "the signature is dated in the future")


def text(value: object, limit: int = 500) -> str:
    """A provider field as one bounded line of text ("" when absent)."""
    if value is None:
        return ""
    return " ".join(str(value).split())[:limit]


def optional(value: object, limit: int = 300) -> str | None:
    """A provider id or address as text, None when absent or empty."""
    cleaned = text(value, limit)
    return cleaned or None


def failure_class(
    code: int | None, diagnostic: str, *, permanent: bool | None, fallback: BounceClass | None
) -> str:
    """The class of a failure: from the SMTP reply when the provider passes one on, otherwise
    from the provider's own words (``permanent`` and a ``fallback`` class)."""
    if code is not None or diagnostic:
        found = classify_reply(code, diagnostic).bounce_class
        # A provider that says "temporary" for a 5xx-worded reply is believed about permanence.
        if permanent is None or found.hard == permanent:
            return found.value
    if fallback is not None:
        return fallback.value
    return (BounceClass.HARD_OTHER if permanent else BounceClass.SOFT_OTHER).value


def smtp_code(value: object) -> int | None:
    """A three-digit SMTP code from a provider field (int or text such as "550 5.1.1 …")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 200 <= value <= 599 else None
    if isinstance(value, str):
        # Providers pass the reply on as "550 5.1.1 …" or in DSN style, "smtp; 550 5.1.1 …".
        text = value.strip()
        if text[:5].lower() == "smtp;":
            text = text[5:].strip()
        head = text[:3]
        if head.isdigit() and 200 <= int(head) <= 599 and text[3:4] in ("", " ", "-"):
            return int(head)
    return None
