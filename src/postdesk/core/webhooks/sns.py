"""Amazon SES events through SNS: the SNS message signature, the subscription, the SES event.

SNS signs a canonical string of the message's fields (RFC-less but documented: each name and
value on its own line, in a fixed order per message type) with RSA — SHA1 for SignatureVersion
1, SHA256 for 2. The signing certificate is fetched only from an SNS host of AWS
(``https://sns.<region>.amazonaws.com/….pem``) and kept in memory. A topic must be one the user
named, so another AWS account's topic cannot feed events in. A SubscriptionConfirmation is
answered by visiting its SubscribeURL, again only on an SNS host.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from postdesk.core.bounces import BounceClass
from postdesk.core.webhooks import events as ev
from postdesk.core.webhooks.events import ProviderEvent, Refused

#: Fetches a URL over HTTPS and returns the body (injected in tests: no internet there).
Fetcher = Callable[[str], Awaitable[bytes]]

WINDOW = dt.timedelta(hours=1)  # SNS retries a delivery for up to an hour with the same stamp
_SNS_HOST = re.compile(r"^sns\.[a-z0-9-]{3,30}\.amazonaws\.com(\.cn)?$")
_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
_certificates: dict[str, rsa.RSAPublicKey] = {}  # signing certificate URL → its key


def is_sns_url(url: str, *, suffix: str = "") -> bool:
    """Whether ``url`` is HTTPS on an SNS host of AWS (and its path ends with ``suffix``)."""
    parts = urlsplit(url)
    return (
        parts.scheme == "https"
        and parts.port is None
        and parts.username is None
        and bool(_SNS_HOST.match(parts.hostname or ""))
        and parts.path.endswith(suffix)
    )


def canonical(message: dict[str, Any]) -> bytes:
    """The text SNS signed: the type's fields present in the message, name and value per line."""
    fields = _FIELDS[message["Type"]]
    lines = []
    for name in fields:
        if name in message and message[name] is not None:
            lines.append(f"{name}\n{message[name]}\n")
    return "".join(lines).encode()


def parse_message(body: bytes) -> dict[str, Any]:
    """The SNS message as a dict with the fields signing needs, or 400."""
    data = ev.parse_json(body)
    if not isinstance(data, dict) or data.get("Type") not in _FIELDS:
        raise Refused(400, "the body is not an SNS message")
    for name in ("Message", "MessageId", "Timestamp", "TopicArn", "Signature", "SigningCertURL"):
        if not isinstance(data.get(name), str):
            raise Refused(400, f"the SNS message has no {name}")
    return data


async def verify(
    message: dict[str, Any], topics: list[str], fetch: Fetcher, now: dt.datetime
) -> None:
    """Accept only a message signed by SNS, from a topic the user named, and recent."""
    if message["TopicArn"] not in topics:
        raise Refused(403, "the topic is not one Postdesk was told to accept")
    algorithm = _HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise Refused(403, "the signature version is not supported")
    key = await _signing_key(message["SigningCertURL"], fetch)
    try:
        signature = base64.b64decode(message["Signature"], validate=True)
        key.verify(signature, canonical(message), padding.PKCS1v15(), algorithm())
    except (ValueError, binascii.Error, InvalidSignature):
        raise Refused(403, "the signature does not match") from None
    ev.check_fresh(ev.from_iso(message["Timestamp"]), now, WINDOW)


async def _signing_key(url: str, fetch: Fetcher) -> rsa.RSAPublicKey:
    if not is_sns_url(url, suffix=".pem"):
        raise Refused(403, "the signing certificate is not on an SNS host")
    key = _certificates.get(url)
    if key is None:
        try:
            pem = await fetch(url)
            found = x509.load_pem_x509_certificate(pem).public_key()
        except Refused:
            raise
        except Exception:
            raise Refused(502, "the signing certificate could not be fetched") from None
        if not isinstance(found, rsa.RSAPublicKey):
            raise Refused(403, "the signing certificate holds no RSA key")
        key = _certificates[url] = found
    return key


async def confirm_subscription(message: dict[str, Any], fetch: Fetcher) -> None:
    """Confirm a (verified) subscription by visiting its SubscribeURL on an SNS host."""
    url = message.get("SubscribeURL")
    if not isinstance(url, str) or not is_sns_url(url):
        raise Refused(403, "the subscription URL is not on an SNS host")
    try:
        await fetch(url)
    except Exception:
        raise Refused(502, "the subscription could not be confirmed") from None


def parse_ses(message: dict[str, Any]) -> list[ProviderEvent]:
    """The SES events of a (verified) SNS notification, one per recipient."""
    try:
        data = json.loads(message["Message"])
    except json.JSONDecodeError:
        raise Refused(400, "the notification does not hold an SES event") from None
    if not isinstance(data, dict):
        raise Refused(400, "the notification does not hold an SES event")
    name = ev.text(data.get("eventType") or data.get("notificationType"), 40)
    mail = _block(data, "mail")
    headers = _block(mail, "commonHeaders")
    base: dict[str, Any] = {
        "provider": "ses",
        "message_id_header": ev.optional(headers.get("messageId")),
        "provider_message_id": ev.optional(mail.get("messageId"), 200),
    }
    found = [
        ProviderEvent(event_id=f"{message['MessageId'][:180]}:{i}", **base, **fields)
        for i, fields in enumerate(_events(name, data, mail))
    ]
    if not found:
        raise Refused(400, "the SES event names no recipient")
    return found


def _block(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    return value if isinstance(value, dict) else {}


def _list(block: dict[str, Any], name: str) -> list[Any]:
    value = block.get(name)
    return value if isinstance(value, list) else []


def _events(name: str, data: dict[str, Any], mail: dict[str, Any]) -> list[dict[str, Any]]:
    destination = [ev.optional(a, 320) for a in _list(mail, "destination")]
    # Opens, clicks and rejects are about the message: the recipient is known when it had one.
    only = destination[0] if len(destination) == 1 else None
    when = mail.get("timestamp")
    if name == "Bounce":
        return _bounces(_block(data, "bounce"))
    if name == "Complaint":
        block = _block(data, "complaint")
        at = ev.from_iso(block.get("timestamp") or when)
        reason = ev.text(block.get("complaintFeedbackType"))
        return [
            {
                "kind": ev.COMPLAINED,
                "recipient": ev.optional(r.get("emailAddress"), 320),
                "at": at,
                "reason": reason,
            }
            for r in _list(block, "complainedRecipients")
            if isinstance(r, dict)
        ]
    if name == "Delivery":
        block = _block(data, "delivery")
        at = ev.from_iso(block.get("timestamp") or when)
        reply = ev.text(block.get("smtpResponse"))
        return [
            {
                "kind": ev.DELIVERED,
                "recipient": ev.optional(r, 320),
                "at": at,
                "reason": reply,
                "smtp_code": ev.smtp_code(reply),
            }
            for r in _list(block, "recipients")
        ]
    if name == "DeliveryDelay":
        block = _block(data, "deliveryDelay")
        at = ev.from_iso(block.get("timestamp") or when)
        delayed = _list(block, "delayedRecipients")
        return [_delay(r, at, block) for r in delayed if isinstance(r, dict)]
    if name in ("Open", "Click"):
        block = _block(data, name.lower())
        at = ev.from_iso(block.get("timestamp") or when)
        kind = ev.OPENED if name == "Open" else ev.CLICKED
        return [{"kind": kind, "recipient": only, "at": at, "reason": ev.text(block.get("link"))}]
    if name == "Reject":
        # SES refused the message itself (a virus): no address is at fault.
        reason = ev.text(_block(data, "reject").get("reason"))
        return [
            {
                "kind": ev.BOUNCED,
                "recipient": None,
                "at": ev.from_iso(when),
                "reason": reason,
                "bounce_class": BounceClass.POLICY.value,
            }
        ]
    return [{"kind": ev.IGNORED, "recipient": only, "at": ev.from_iso(when)}]


# SES bounce subtypes and the class each means when no SMTP reply says more.
_SUBTYPES = {
    "NoEmail": BounceClass.UNKNOWN_USER,
    "General": BounceClass.HARD_OTHER,
    "MailboxFull": BounceClass.MAILBOX_FULL,
    "ContentRejected": BounceClass.SOFT_OTHER,
    "AttachmentRejected": BounceClass.SOFT_OTHER,
    "MessageTooLarge": BounceClass.SOFT_OTHER,
}


def _bounces(block: dict[str, Any]) -> list[dict[str, Any]]:
    kind_of = ev.text(block.get("bounceType"), 20)
    subtype = ev.text(block.get("bounceSubType"), 40)
    at = ev.from_iso(block.get("timestamp"))
    found = []
    for r in _list(block, "bouncedRecipients"):
        if not isinstance(r, dict):
            continue
        diagnostic = ev.text(r.get("diagnosticCode"))
        if diagnostic.lower().startswith("smtp;"):  # "smtp; 550 5.1.1 …": the reply itself
            diagnostic = diagnostic.split(";", 1)[1].strip()
        code = ev.smtp_code(diagnostic)
        fields: dict[str, Any] = {
            "recipient": ev.optional(r.get("emailAddress"), 320),
            "at": at,
            "reason": diagnostic or subtype,
            "smtp_code": code,
        }
        if subtype in ("Suppressed", "OnAccountSuppressionList"):
            fields["kind"] = ev.DROPPED  # SES did not try: its own list holds the address
        else:
            permanent = kind_of != "Transient"
            fallback = _SUBTYPES.get(subtype)
            if fallback is not None and fallback.hard != permanent:
                fallback = None
            fields["kind"] = ev.BOUNCED if permanent else ev.DEFERRED
            fields["bounce_class"] = ev.failure_class(
                code,
                diagnostic,
                permanent=permanent if kind_of != "Undetermined" else None,
                fallback=fallback,
            )
        found.append(fields)
    return found


def _delay(r: dict[str, Any], at: dt.datetime, block: dict[str, Any]) -> dict[str, Any]:
    diagnostic = ev.text(r.get("diagnosticCode"))
    code = ev.smtp_code(diagnostic)
    return {
        "kind": ev.DEFERRED,
        "recipient": ev.optional(r.get("emailAddress"), 320),
        "at": at,
        "reason": diagnostic or ev.text(block.get("delayType")),
        "smtp_code": code,
        "bounce_class": ev.failure_class(code, diagnostic, permanent=False, fallback=None),
    }
