"""Postmark webhooks: no signature, so a secret URL path and, when set, HTTP basic auth.

The URL carries a random path segment only Postdesk and Postmark know; the user may also set
basic-auth credentials in Postmark's webhook settings (stored here as ``user:password``). Both
are compared in constant time. Postmark posts one record per request; bounces and complaints
carry an ``ID``, other records are told apart by their content.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

from postdesk.core.bounces import BounceClass
from postdesk.core.webhooks import events as ev
from postdesk.core.webhooks.events import ProviderEvent, Refused

# Bounce types (Postmark's "Type") and what they mean here: (kind, fallback class).
_BOUNCES: dict[str, tuple[str, BounceClass | None]] = {
    "HardBounce": (ev.BOUNCED, BounceClass.UNKNOWN_USER),
    "BadEmailAddress": (ev.BOUNCED, BounceClass.UNKNOWN_USER),
    "DnsError": (ev.DEFERRED, BounceClass.CONNECTION),
    "SoftBounce": (ev.DEFERRED, BounceClass.SOFT_OTHER),
    "Transient": (ev.DEFERRED, BounceClass.SOFT_OTHER),
    "Blocked": (ev.BOUNCED, BounceClass.POLICY),
    "DMARCPolicy": (ev.BOUNCED, BounceClass.POLICY),
    "SpamNotification": (ev.BOUNCED, BounceClass.POLICY),
    "VirusNotification": (ev.BOUNCED, BounceClass.POLICY),
    "ManuallyDeactivated": (ev.DROPPED, None),
    "SpamComplaint": (ev.COMPLAINED, None),
    "Unsubscribe": (ev.UNSUBSCRIBED, None),
}
_TIMES = ("BouncedAt", "DeliveredAt", "ReceivedAt", "ChangedAt")


def check_access(
    path_secret: str, expected_path: str, authorization: str, basic: str | None
) -> None:
    """Refuse a request without the secret path (404: nothing there) or the basic-auth pair."""
    if not expected_path or not hmac.compare_digest(path_secret.encode(), expected_path.encode()):
        raise Refused(404, "not found")
    if basic is None:
        return
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise Refused(401, "credentials are needed")
    try:
        given = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Refused(401, "credentials are needed") from None
    if not hmac.compare_digest(given, basic.encode()):
        raise Refused(403, "the credentials do not match")


def parse(body: bytes) -> list[ProviderEvent]:
    """The one record of a body."""
    data = ev.parse_json(body)
    if not isinstance(data, dict):
        raise Refused(400, "the body is not an object")
    record = ev.text(data.get("RecordType"), 40)
    if not record:
        raise Refused(400, "the record has no RecordType")
    when = next((data[k] for k in _TIMES if data.get(k)), None)
    at = ev.from_iso(when)
    recipient = ev.optional(data.get("Recipient") or data.get("Email"), 320)
    kind, klass, reason = _kind(record, data)
    return [
        ProviderEvent(
            provider="postmark",
            event_id=_event_id(record, data, recipient, str(when)),
            kind=kind,
            recipient=recipient,
            message_id_header=None,  # Postmark names messages by its own MessageID
            provider_message_id=ev.optional(data.get("MessageID"), 200),
            at=at,
            reason=reason,
            smtp_code=ev.smtp_code(data.get("Details")),
            bounce_class=klass,
        )
    ]


def _kind(record: str, data: dict[str, Any]) -> tuple[str, str | None, str]:
    details = ev.text(data.get("Details"))
    if record == "Delivery":
        return ev.DELIVERED, None, details
    if record == "Open":
        return ev.OPENED, None, ""
    if record == "Click":
        return ev.CLICKED, None, ev.text(data.get("OriginalLink"))
    if record == "SubscriptionChange":
        unsubscribed = data.get("SuppressSending") is True
        return (
            (ev.UNSUBSCRIBED if unsubscribed else ev.IGNORED),
            None,
            ev.text(data.get("SuppressionReason")),
        )
    if record in ("Bounce", "SpamComplaint"):
        kind, fallback = _BOUNCES.get(ev.text(data.get("Type"), 40), (ev.IGNORED, None))
        words = details or ev.text(data.get("Description"))
        if kind in (ev.BOUNCED, ev.DEFERRED):
            code = ev.smtp_code(details)
            klass = ev.failure_class(code, details, permanent=kind == ev.BOUNCED, fallback=fallback)
            return kind, klass, words
        return kind, None, words
    return ev.IGNORED, None, ""


def _event_id(record: str, data: dict[str, Any], recipient: str | None, when: str) -> str:
    if record in ("Bounce", "SpamComplaint") and data.get("ID") not in (None, ""):
        return f"{record}:{ev.text(data.get('ID'), 100)}"
    # Deliveries, opens and clicks have no id: the record's own facts make one.
    link = ev.text(data.get("OriginalLink"))
    facts = "|".join((record, ev.text(data.get("MessageID")), recipient or "", when, link))
    return f"{record}:{hashlib.sha256(facts.encode()).hexdigest()[:40]}"
