"""Mailgun webhooks: an HMAC-SHA256 of ``timestamp + token`` under the webhook signing key.

The body is JSON: ``{"signature": {"timestamp", "token", "signature"}, "event-data": {…}}``.
A token is used once (the fold records it, so a replayed request is refused even under a new
event id) and a timestamp older than the window is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

from postdesk.core.bounces import BounceClass
from postdesk.core.webhooks import events as ev
from postdesk.core.webhooks.events import ProviderEvent, Refused

WINDOW = dt.timedelta(minutes=15)

_KINDS = {
    "delivered": ev.DELIVERED,
    "opened": ev.OPENED,
    "clicked": ev.CLICKED,
    "complained": ev.COMPLAINED,
    "unsubscribed": ev.UNSUBSCRIBED,
}
# "failed" events Mailgun did not even try: the address is on Mailgun's own lists.
_SUPPRESSED_REASONS = ("suppress-bounce", "suppress-complaint", "suppress-unsubscribe")


def signature_of(key: str, timestamp: str, token: str) -> str:
    """Mailgun's signature of a timestamp and token (hex)."""
    return hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def verify(payload: Any, key: str, now: dt.datetime) -> str:
    """Check the signature block of a parsed body; returns its token (used once)."""
    block = payload.get("signature") if isinstance(payload, dict) else None
    if not isinstance(block, dict):
        raise Refused(401, "the request is not signed")
    timestamp, token, signature = (
        str(block.get(k) or "") for k in ("timestamp", "token", "signature")
    )
    if not (timestamp and token and signature) or len(token) > 150:
        raise Refused(401, "the request is not signed")
    if not hmac.compare_digest(signature_of(key, timestamp, token).encode(), signature.encode()):
        raise Refused(403, "the signature does not match")
    ev.check_fresh(ev.from_unix(timestamp), now, WINDOW)
    return token


def parse(payload: Any) -> list[ProviderEvent]:
    """The one event of a (verified) body."""
    data = payload.get("event-data")
    if not isinstance(data, dict):
        raise Refused(400, "the body has no event-data")
    event_id = ev.optional(data.get("id"), 200)
    name = ev.text(data.get("event"), 40)
    if event_id is None or not name:
        raise Refused(400, "the event has no id or event")
    status = data.get("delivery-status")
    status = status if isinstance(status, dict) else {}
    code = ev.smtp_code(status.get("code"))
    diagnostic = ev.text(status.get("message") or status.get("description"))
    kind, klass = _KINDS.get(name, ev.IGNORED), None
    if name in ("failed", "rejected"):
        kind, klass = _failure(data, code, diagnostic)
    reason = ev.text(data.get("reason"))
    message = data.get("message")
    headers = message.get("headers") if isinstance(message, dict) else None
    message_id = headers.get("message-id") if isinstance(headers, dict) else None
    return [
        ProviderEvent(
            provider="mailgun",
            event_id=event_id,
            kind=kind,
            recipient=ev.optional(data.get("recipient"), 320),
            message_id_header=ev.optional(message_id),
            provider_message_id=None,  # Mailgun's own id is the Message-ID it was given
            at=ev.from_unix(data.get("timestamp")),
            reason=ev.text(data.get("url")) if kind == ev.CLICKED else diagnostic or reason,
            smtp_code=code,
            bounce_class=klass,
        )
    ]


def _failure(data: dict[str, Any], code: int | None, diagnostic: str) -> tuple[str, str | None]:
    reason = ev.text(data.get("reason"), 40)
    if reason in _SUPPRESSED_REASONS:
        return ev.DROPPED, None
    permanent = data.get("severity") != "temporary"
    fallback = BounceClass.HARD_OTHER if permanent else BounceClass.SOFT_OTHER
    klass = ev.failure_class(code, diagnostic, permanent=permanent, fallback=fallback)
    return (ev.BOUNCED if permanent else ev.DEFERRED), klass
