"""The test message: building it safely, and describing it without quoting its body."""

from __future__ import annotations

import re
from copy import deepcopy
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime, getaddresses, localtime, make_msgid

from postdesk.core.errors import UserError
from postdesk.core.validation import normalize_email

# C0 controls (CR and LF among them) and DEL: in a header they would start a new header line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NAME_AND_ADDRESS = re.compile(r"^\s*(?P<name>.*?)\s*<(?P<address>[^<>]*)>\s*$")
_DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$", re.IGNORECASE)


def _check_header(field: str, value: str) -> None:
    if _CONTROL.search(value):
        raise UserError(
            "message.header_injection",
            f"The {field} contains a line break or another control character.",
            f"Type the {field} on one line, without pasted line breaks or tabs.",
        )


def _invalid(field: str, value: str, why: str) -> UserError:
    return UserError(
        "message.invalid_address",
        f"The {field} “{value}” is not a valid email address: {why}.",
        "Write it like name@example.com.",
    )


def parse_address(field: str, value: str) -> Address:
    """Check one address (optionally ``Name <address>``) and return it; raise UserError if bad."""
    _check_header(field, value)
    match = _NAME_AND_ADDRESS.match(value)
    name, address = (match["name"].strip('" '), match["address"].strip()) if match else ("", value)
    address = address.strip()
    if address.count("@") != 1:
        raise _invalid(field, value, "it needs exactly one @")
    local, domain = address.split("@")
    if not local or any(c.isspace() for c in local):
        raise _invalid(field, value, "the part before the @ is empty or has spaces")
    try:
        ascii_domain = domain.rstrip(".").encode("idna").decode("ascii")
    except UnicodeError:
        raise _invalid(field, value, "the domain after the @ is not a valid name") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.match(label) for label in labels):
        raise _invalid(field, value, "the part after the @ must be a domain like example.com")
    # The same rules as every other address Postdesk takes (a leading dot, two dots in a row,
    # an over-long name): a server may accept what no receiver would.
    try:
        normalize_email(address)
    except UserError as error:
        reason = (error.hint or error.message).rstrip(".")
        raise _invalid(field, value, reason[:1].lower() + reason[1:]) from None
    return Address(display_name=name, username=local, domain=ascii_domain.lower())


def build_test_message(
    from_addr: str, to_addr: str, subject: str, text: str, html: str
) -> EmailMessage:
    """A test message with a plain-text and an HTML part, Date, Message-ID and MIME headers."""
    _check_header("subject", subject)
    sender = parse_address("sender address", from_addr)
    recipient = parse_address("recipient address", to_addr)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = format_datetime(localtime())
    # The Message-ID carries the sender's domain, as receiving filters expect.
    message["Message-ID"] = make_msgid(domain=sender.domain)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def envelope(message: EmailMessage) -> tuple[str, list[str]]:
    """The envelope sender and recipients of a message (From; To, Cc and Bcc)."""
    senders = [addr for _, addr in getaddresses([str(v) for v in message.get_all("From", [])])]
    recipients = [
        addr
        for _, addr in getaddresses(
            [str(v) for key in ("To", "Cc", "Bcc") for v in message.get_all(key, [])]
        )
        if addr
    ]
    if len(senders) != 1 or not senders[0]:
        raise UserError(
            "message.no_sender",
            "The test message has no single sender address.",
            "Enter one sender address.",
        )
    if not recipients:
        raise UserError(
            "message.no_recipient",
            "The test message has no recipient.",
            "Enter the address the test message should go to.",
        )
    for address in [senders[0], *recipients]:
        _check_header("address", address)
    return senders[0], recipients


def wire_bytes(message: EmailMessage, utf8: bool = False) -> bytes:
    """The message as sent after DATA: CRLF line endings, Bcc removed."""
    if "Bcc" in message:
        message = _copy_without_bcc(message)
    return message.as_bytes(policy=SMTPUTF8 if utf8 else SMTP)


def _copy_without_bcc(message: EmailMessage) -> EmailMessage:
    clone = deepcopy(message)
    del clone["Bcc"]
    return clone


def summarize(message: EmailMessage, size: int) -> str:
    """A one-line description of the message body for the transcript (never the body itself)."""
    parts = sum(1 for part in message.walk() if not part.is_multipart())
    subject = " ".join(str(message.get("Subject", "")).split())
    if len(subject) > 60:
        subject = subject[:57] + "…"
    noun = "part" if parts == 1 else "parts"
    return f"DATA: {size:,} bytes, {parts} {noun}, subject '{subject}'"
