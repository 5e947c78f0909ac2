"""Addresses on the submission server: envelope checks and how an address is shown in a reply.

SMTP replies are ASCII lines (this relay does not offer SMTPUTF8), so anything a client sent
that is echoed back is escaped and shortened here; an address with a non-ASCII character must
still get a reply with words, never an encoding error.
"""

from __future__ import annotations

import re

from postdesk.core.domains import lookup_name
from postdesk.core.errors import UserError
from postdesk.core.validation import normalize_email

MAX_SHOWN = 100
MAX_REPLY = 480  # RFC 5321 allows 512 octets per reply line, CRLF included
# Typographic marks that validation messages use, in their plain ASCII spelling.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ANGLE_ADDRESS = re.compile(rf"<({_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>")
_PLAIN = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2026": "...", "\ufffd": "?"})


def smtp_safe(text: str, limit: int = MAX_REPLY) -> str:
    """Text fit for one SMTP reply line: ASCII, no control characters, at most ``limit`` long."""
    out = []
    for char in text.translate(_PLAIN):
        if " " <= char <= "~":
            out.append(char)
        elif ord(char) < 0x100:
            out.append(f"\\x{ord(char):02x}")
        elif 0xDC80 <= ord(char) <= 0xDCFF:  # an undecodable byte kept by surrogateescape
            out.append(f"\\x{ord(char) - 0xDC00:02x}")
        else:
            out.append(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}")
    shown = "".join(out)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def shown(address: str) -> str:
    """An address for a reply: an international domain in its xn-- form, the rest escaped."""
    local, at, domain = address.rpartition("@")
    if at and not domain.isascii():
        domain = lookup_name(domain)
    return smtp_safe(f"{local}{at}{domain}", MAX_SHOWN)


def envelope_problem(address: str, role: str) -> str | None:
    """Why an envelope address (MAIL FROM or RCPT TO) cannot be used, or None when it can.

    The same rules as every address typed into Postdesk: a local part of at most 64 dot-atom
    characters, an @, a full domain name, no control characters, 254 characters in all.
    """
    try:
        normalize_email(address)
    except UserError as err:
        return smtp_safe(f"{role} refused: {err.message} {err.hint}".strip())
    return None


def plain_angle_address(arg: str) -> tuple[str, str] | None:
    """``<local@domain>`` and what follows it, for the common plain form of a MAIL or RCPT
    argument; None for anything else (the SMTP server's full parser reads those).

    Gives what that parser gives for the plain form (checked in the tests), at a small
    fraction of its cost: the relay reads two of these per message.
    """
    text = arg.lstrip()
    found = _PLAIN_ANGLE_ADDRESS.match(text)
    if found is None:
        return None
    rest = text[found.end() :]
    if rest and rest[0] not in " \t":
        return None
    rest = rest.lstrip(" \t")
    if rest.startswith("("):  # a comment: the full parser skips it
        return None
    return found.group(1), rest
