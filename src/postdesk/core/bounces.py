"""Why a message was not delivered: a class and plain words for every failure.

Failures come from two places: the upstream's SMTP reply (a code, often an RFC 3463 enhanced
status code, and the provider's own text) and delivery status notifications (RFC 3464
``multipart/report`` messages, or the older plain-text bounces some servers still send).
Pure: nothing here reads the store.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import Message
from enum import StrEnum


class BounceClass(StrEnum):
    """What kind of failure it was; ``hard.*`` never succeeds on retry, ``soft.*`` may."""

    UNKNOWN_USER = "hard.unknown_user"
    UNKNOWN_DOMAIN = "hard.unknown_domain"
    POLICY = "hard.policy"
    HARD_OTHER = "hard.other"
    MAILBOX_FULL = "soft.mailbox_full"
    GREYLISTED = "soft.greylisted"
    RATE_LIMITED = "soft.rate_limited"
    CONNECTION = "soft.connection"
    SOFT_OTHER = "soft.other"

    @property
    def hard(self) -> bool:
        """A hard failure: retrying the same address will not help."""
        return self.value.startswith("hard.")


#: What each class means for the sender, in the words shown beside a message.
REASONS: dict[BounceClass, str] = {
    BounceClass.UNKNOWN_USER: (
        "The address does not exist (or was closed) at the recipient's provider. Check it for "
        "typos; do not send to it again."
    ),
    BounceClass.UNKNOWN_DOMAIN: (
        "The recipient's domain does not exist or accepts no mail. Check the part after the @."
    ),
    BounceClass.POLICY: (
        "The receiving server refused the message on policy grounds: authentication (SPF, "
        "DKIM, DMARC), the sending IP's reputation or the content. Check the domain's records "
        "with Verify Now and the IP's blocklist status."
    ),
    BounceClass.HARD_OTHER: "The receiving server refused the message permanently.",
    BounceClass.MAILBOX_FULL: (
        "The recipient's mailbox is full. Delivery is retried for a while; if it stays full, "
        "the address is probably abandoned."
    ),
    BounceClass.GREYLISTED: (
        "The receiving server asked to try again later (greylisting, normal for a first "
        "message). Postdesk retries automatically."
    ),
    BounceClass.RATE_LIMITED: (
        "The receiving server is limiting how much mail it takes from this sender right now. "
        "Postdesk retries later; if it keeps happening, send more slowly or check complaints."
    ),
    BounceClass.CONNECTION: (
        "The server could not be reached or the connection broke. Postdesk retries automatically."
    ),
    BounceClass.SOFT_OTHER: "The receiving server asked to try again later.",
}

_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")

# Text that decides the class whatever the codes say (the wordings providers really use).
_GREYLIST = re.compile(r"grey ?list|gray ?list|greylisted|try again in \d+ ?s", re.I)
_FULL = re.compile(
    r"over ?quota|quota ?exceeded|mailbox (is )?full|mailbox full|insufficient (system )?storage|"
    r"QuotaExceeded|exceeded storage",
    re.I,
)
_RATE = re.compile(
    r"rate[- ]limit|unusual rate|too many (messages|connections|concurrent)|"
    r"temporarily deferred|throttl|server busy|sending limit exceeded|"
    r"concurrent (server )?connections|try again later from \[",
    re.I,
)
_USER = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient)|does not exist|doesn't exist|"
    r"doesn't have a .* account|recipient ?not ?found|RecipientNotFound|mailbox not found|"
    r"mailbox unavailable|invalid (recipient|mailbox)|unknown recipient|inactive email address|"
    r"account (is )?disabled|is disabled|address rejected: access denied|mailbox not available|"
    r"unrouteable mailbox",
    re.I,
)
_DOMAIN = re.compile(
    r"host (unknown|not found)|domain (not found|does not exist)|DomainNonexistent|"
    r"no (mx|mail exchanger)|null mx|unrouteable address|name or service not known|"
    r"DNS domain .* does not exist",
    re.I,
)
_POLICY = re.compile(
    r"spam|unsolicited|blocked|block ?list|black ?list|listed|banned|policy|dmarc|spf|dkim|"
    r"unauthenticated|reputation|relay (access )?denied|access denied|PTR|content|"
    r"not accepted|rejected due|permanently deferred",
    re.I,
)

# Enhanced status codes (RFC 3463 and the providers' own) that decide the class directly.
_BY_ENHANCED: dict[str, BounceClass] = {
    "5.1.1": BounceClass.UNKNOWN_USER,
    "5.1.0": BounceClass.UNKNOWN_USER,
    "5.1.6": BounceClass.UNKNOWN_USER,
    "5.1.10": BounceClass.UNKNOWN_USER,  # Exchange Online: recipient not found
    "5.2.1": BounceClass.UNKNOWN_USER,  # mailbox disabled
    "5.4.1": BounceClass.UNKNOWN_USER,  # Exchange Online: recipient address rejected
    "5.1.2": BounceClass.UNKNOWN_DOMAIN,
    "5.4.4": BounceClass.UNKNOWN_DOMAIN,
    "5.4.310": BounceClass.UNKNOWN_DOMAIN,
    "5.2.2": BounceClass.MAILBOX_FULL,
    "4.2.2": BounceClass.MAILBOX_FULL,
    "4.7.28": BounceClass.RATE_LIMITED,
    "4.7.500": BounceClass.RATE_LIMITED,
    "4.3.2": BounceClass.RATE_LIMITED,
    "4.4.1": BounceClass.CONNECTION,
    "4.4.2": BounceClass.CONNECTION,
    "4.4.7": BounceClass.CONNECTION,
}


@dataclass(frozen=True)
class Classification:
    """A failure's class, whether it is permanent, and the words to show."""

    bounce_class: BounceClass
    reason: str
    status: str | None = None  # the enhanced status code, e.g. "5.1.1"
    diagnostic: str = ""  # the server's own words, one line

    @property
    def hard(self) -> bool:
        return self.bounce_class.hard

    def as_dict(self) -> dict[str, object]:
        """Plain data for ``--json`` and the activity timeline."""
        return {
            "class": self.bounce_class.value,
            "hard": self.hard,
            "reason": self.reason,
            "status": self.status,
            "diagnostic": self.diagnostic,
        }


def enhanced_status(text: str) -> str | None:
    """The first RFC 3463 enhanced status code in ``text`` (e.g. ``5.1.1``), if any."""
    found = _ENHANCED.search(text or "")
    return ".".join(found.groups()) if found else None


def _by_text(text: str, permanent: bool) -> BounceClass | None:
    if _GREYLIST.search(text):
        return BounceClass.GREYLISTED
    if _FULL.search(text):
        return BounceClass.MAILBOX_FULL
    if _RATE.search(text):
        return BounceClass.RATE_LIMITED
    if _DOMAIN.search(text):
        return BounceClass.UNKNOWN_DOMAIN
    if _USER.search(text):
        return BounceClass.UNKNOWN_USER if permanent else None
    if _POLICY.search(text):
        return BounceClass.POLICY if permanent else None
    return None


def classify_reply(code: int | None, text: str = "") -> Classification:
    """Classify an SMTP reply (``code`` None: no reply at all, the connection failed)."""
    line = " ".join((text or "").split())
    status = enhanced_status(line)
    if code is None and status is None:
        return Classification(BounceClass.CONNECTION, REASONS[BounceClass.CONNECTION], None, line)
    permanent = status.startswith("5") if status else bool(code and code >= 500)
    found = _by_text(line, permanent)
    if found is None and status is not None:
        found = _BY_ENHANCED.get(status)
        if found is None and status.startswith("5.7"):
            found = BounceClass.POLICY
        if found is None and status.startswith("4.7"):
            found = BounceClass.RATE_LIMITED if code == 421 else None
    if found is None and code == 421:
        found = BounceClass.CONNECTION if not line else BounceClass.SOFT_OTHER
    if found is None:
        found = BounceClass.HARD_OTHER if permanent else BounceClass.SOFT_OTHER
    return Classification(found, REASONS[found], status, line)


# --- delivery status notifications ------------------------------------------------------------


@dataclass(frozen=True)
class DsnRecipient:
    """One recipient's outcome in a delivery status notification."""

    recipient: str
    action: str  # failed | delayed | delivered | relayed | expanded
    classification: Classification
    remote_mta: str = ""


@dataclass(frozen=True)
class Dsn:
    """A parsed delivery status notification: who failed and which message it was about."""

    recipients: tuple[DsnRecipient, ...]
    original_message_id: str | None
    reporting_mta: str = ""


def _address(field: str | None) -> str:
    """``rfc822; a@b`` → ``a@b``."""
    value = (field or "").partition(";")[2] if ";" in (field or "") else (field or "")
    return value.strip().strip("<>").lower()


def _original_message_id(message: Message) -> str | None:
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "text/rfc822-headers":
            headers = email.message_from_bytes(_bytes_of(part), policy=email.policy.compat32)
            if headers.get("Message-ID"):
                return str(headers["Message-ID"]).strip()
        elif kind == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if isinstance(inner, Message) and inner.get("Message-ID"):
                return str(inner["Message-ID"]).strip()
    return None


def _bytes_of(part: Message) -> bytes:
    """A leaf part's decoded content (empty for containers)."""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _status_blocks(message: Message) -> list[Message]:
    for part in message.walk():
        if part.get_content_type() == "message/delivery-status":
            blocks = part.get_payload()
            if isinstance(blocks, list):
                return [b for b in blocks if isinstance(b, Message)]
            # Some senders declare the type but ship the fields as plain text.
            text = _bytes_of(part)
            chunks = re.split(rb"\r?\n\r?\n", text.strip())
            return [email.message_from_bytes(c, policy=email.policy.compat32) for c in chunks]
    return []


def _from_status_fields(block: Message) -> DsnRecipient | None:
    recipient = _address(block.get("Final-Recipient") or block.get("Original-Recipient"))
    if not recipient:
        return None
    action = str(block.get("Action") or "failed").strip().lower()
    diagnostic = " ".join(_after_type(block.get("Diagnostic-Code")).split())
    field_status = enhanced_status(str(block.get("Status") or ""))
    said_status = enhanced_status(diagnostic)
    # "5.0.0" says little; the remote server's own code (in the diagnostic) says more.
    generic = field_status is None or field_status.endswith(".0.0")
    status = said_status if said_status and generic else field_status
    code_match = re.match(r"(\d{3})\b", diagnostic)
    code = int(code_match.group(1)) if code_match else None
    found = classify_reply(code, f"{status or ''} {diagnostic}")
    classified = Classification(found.bounce_class, found.reason, status, diagnostic or "")
    return DsnRecipient(recipient, action, classified, _address(block.get("Remote-MTA")))


def _after_type(field: str | None) -> str:
    """``smtp; 550 5.1.1 …`` → ``550 5.1.1 …``."""
    value = str(field or "")
    return value.partition(";")[2] if ";" in value else value


_REPLY = re.compile(r"\b([245]\d\d)[ -]([^\n]*)")
_COPIED_ID = re.compile(r"^Message-ID:\s*(<[^>\s]+>)", re.I | re.M)


def _text_of(message: Message) -> str:
    return "\n".join(
        _bytes_of(part).decode("utf-8", "replace")
        for part in message.walk()
        if part.get_content_maintype() == "text"
    )


def _plain_text_failures(message: Message, body: str) -> list[DsnRecipient]:
    """Bounces that are not RFC 3464: flufl.bounce finds the addresses, the text the reason."""
    from flufl.bounce import all_failures

    temporary, permanent = all_failures(message)
    found = []
    lowered = body.lower()
    for raw, failed in [*((a, False) for a in temporary), *((a, True) for a in permanent)]:
        address = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw).lower()
        at = lowered.find(address)
        said = _REPLY.search(body, at) if at >= 0 else None
        code = int(said.group(1)) if said else (550 if failed else 450)
        reply = " ".join(said.group(0).split()) if said else ""
        action = "failed" if failed else "delayed"
        found.append(DsnRecipient(address, action, classify_reply(code, reply)))
    return found


def parse_dsn(raw: bytes) -> Dsn | None:
    """Read a delivery status notification; None when ``raw`` is not one."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    blocks = _status_blocks(message)
    recipients: list[DsnRecipient] = []
    reporting = ""
    body = _text_of(message)
    if blocks:
        reporting = _address(blocks[0].get("Reporting-MTA"))
        recipients = [e for e in map(_from_status_fields, blocks) if e is not None]
    else:
        recipients = _plain_text_failures(message, body)
    if not recipients:
        return None
    original = _original_message_id(message)
    if original is None:
        # Older bounces quote the original message as text below the explanation.
        copied = _COPIED_ID.search(body)
        original = copied.group(1) if copied else None
    return Dsn(tuple(recipients), original, reporting)
