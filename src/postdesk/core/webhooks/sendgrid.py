"""SendGrid's Signed Event Webhook: an ECDSA P-256 signature over the timestamp and the body.

SendGrid signs ``timestamp + raw body`` (SHA-256) with its private key; the signature (base64
DER) and the timestamp travel in ``X-Twilio-Email-Event-Webhook-Signature`` and
``…-Timestamp``. The verification key is the base64 public key shown in SendGrid's Mail
Settings. A body is an array of events, each with its own ``sg_event_id``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from postdesk.core.bounces import BounceClass
from postdesk.core.webhooks import events as ev
from postdesk.core.webhooks.events import ProviderEvent, Refused

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
WINDOW = dt.timedelta(minutes=15)

_KINDS = {
    "delivered": ev.DELIVERED,
    "deferred": ev.DEFERRED,
    "bounce": ev.BOUNCED,
    "dropped": ev.DROPPED,
    "open": ev.OPENED,
    "click": ev.CLICKED,
    "spamreport": ev.COMPLAINED,
    "unsubscribe": ev.UNSUBSCRIBED,
    "group_unsubscribe": ev.UNSUBSCRIBED,
}


def load_key(text: str) -> ec.EllipticCurvePublicKey:
    """The verification key as pasted from SendGrid (base64 DER, or PEM); ValueError if not."""
    stripped = text.strip()
    try:
        if stripped.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(stripped.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(stripped, validate=True))
    except (ValueError, binascii.Error, TypeError):
        raise ValueError("not an EC public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("not an EC public key")
    return key


def verify(body: bytes, headers: Mapping[str, str], key_text: str, now: dt.datetime) -> None:
    """Accept the request only when SendGrid's signature over it is genuine and recent."""
    signature = headers.get(SIGNATURE_HEADER, "")
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    if not signature or not timestamp:
        raise Refused(401, "the request is not signed")
    if not timestamp.isascii() or not timestamp.isdigit():
        raise Refused(403, "the signature's timestamp is not readable")
    try:
        key = load_key(key_text)
    except ValueError:
        raise Refused(503, "the stored SendGrid verification key is not readable") from None
    try:
        der = base64.b64decode(signature, validate=True)
        key.verify(der, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature):
        raise Refused(403, "the signature does not match") from None
    ev.check_fresh(ev.from_unix(timestamp), now, WINDOW)


def parse(body: bytes) -> list[ProviderEvent]:
    """Every event of a (verified) body; 400 when it is not SendGrid's array of objects."""
    data = ev.parse_json(body)
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise Refused(400, "the body is not a list of events")
    return [_event(item) for item in data]


def _event(item: dict[str, Any]) -> ProviderEvent:
    event_id = ev.optional(item.get("sg_event_id"), 200)
    name = ev.text(item.get("event"), 40)
    if event_id is None or not name:
        raise Refused(400, "an event has no sg_event_id or event")
    kind = _KINDS.get(name, ev.IGNORED)
    reason = ev.text(item.get("reason") or item.get("response"))
    code = ev.smtp_code(reason) or ev.smtp_code(item.get("status"))
    klass = None
    if kind == ev.BOUNCED:
        # "blocked" is a refusal of the message (policy, reputation); "bounce" of the address.
        fallback = BounceClass.POLICY if item.get("type") == "blocked" else BounceClass.HARD_OTHER
        diagnostic = " ".join(p for p in (ev.text(item.get("status")), reason) if p)
        klass = ev.failure_class(code, diagnostic, permanent=True, fallback=fallback)
    elif kind == ev.DEFERRED:
        klass = ev.failure_class(code, reason, permanent=False, fallback=BounceClass.SOFT_OTHER)
    sg_message_id = ev.optional(item.get("sg_message_id"), 200)
    if sg_message_id and ".filter" in sg_message_id:
        # "<X-Message-Id>.filterdrecv-…": the first part is what SendGrid's 250 reply named.
        sg_message_id = sg_message_id.split(".filter", 1)[0]
    return ProviderEvent(
        provider="sendgrid",
        event_id=event_id,
        kind=kind,
        recipient=ev.optional(item.get("email"), 320),
        message_id_header=ev.optional(item.get("smtp-id")),
        provider_message_id=sg_message_id,
        at=ev.from_unix(item.get("timestamp")),
        reason=reason if kind != ev.CLICKED else ev.text(item.get("url")),
        smtp_code=code,
        bounce_class=klass,
    )
