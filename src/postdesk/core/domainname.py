"""Domain names in one place: what a user typed, what is stored, what is shown, DKIM selectors.

Every part of core that turns text into a domain name goes through here, so that a name is
accepted, looked up and compared the same way everywhere: a name ``domain add`` refuses (a hidden
U+200B, a URL, an empty label) is refused the same way by ``domain verify`` and ``check``.
The syntax rules themselves (IDNA 2008, public suffixes, the plain-language rejections) live in
``validation``, next to the other rules for what people type.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from postdesk.core import validation
from postdesk.core.errors import UserError

MAX_NAME_LENGTH = validation.MAX_NAME_LENGTH
MAX_LABEL_LENGTH = validation.MAX_LABEL_LENGTH
DKIM_INFIX = "._domainkey."
_SELECTOR_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_SELECTOR_HINT = "A selector is letters, digits and hyphens, with dots between parts, e.g. s1."


def normalize_domain(text: str, *, existing: Collection[str] = ()) -> str:
    """A domain the user adds or checks, as lowercase A-label without the trailing dot.

    Refuses anything that is not a registrable domain name (URLs, addresses, IPs, hidden
    characters, public suffixes, single labels, names in ``existing``) with a UserError.
    """
    return validation.normalize_domain(text, existing=existing)


def to_a_label(text: str) -> str:
    """A domain name the user typed (Unicode or A-label) in its stored form, or a UserError.

    Only the syntax is checked, so that looking up a domain refuses what adding it refuses.
    """
    return validation.domain_syntax(text)


def canonical(name: str) -> str:
    """The stored form of a name that came from DNS, settings or the store (never raises).

    A valid name becomes its A-label; anything else (``_dmarc`` labels, damaged input) is only
    trimmed, lowercased and loses its trailing dot, so it matches nothing it should not match.
    """
    return validation.quiet_a_label(name)


def display_domain(a_label: str) -> str:
    """The Unicode form of a stored domain, for showing; labels that can't be decoded stay."""
    return validation.display_domain(a_label)


def check_selector(text: str, *, domain: str = "") -> str:
    """A DKIM selector the user typed, in lowercase, or a UserError saying what is wrong.

    A selector is a sequence of DNS labels (RFC 6376 §3.1): letters, digits and hyphens, 1 to 63
    characters each, dots between them. With ``domain``, the whole name
    ``<selector>._domainkey.<domain>`` must also fit in DNS (253 characters).
    """
    shown = validation.quote_input(text)
    selector = text.strip().lower()
    if not selector:
        raise UserError("dkim.selector", "The DKIM selector is empty.", _SELECTOR_HINT)
    for label in selector.split("."):
        if not label:
            raise UserError(
                "dkim.selector",
                f"The DKIM selector {shown} has an empty part (two dots in a row, or a dot at "
                "the start or end).",
                _SELECTOR_HINT,
            )
        if len(label) > MAX_LABEL_LENGTH:
            raise UserError(
                "dkim.selector",
                f"The DKIM selector {shown} has a part of {len(label)} characters; each part "
                f"between dots may have at most {MAX_LABEL_LENGTH}.",
                "Check the selector for a typing mistake.",
            )
        if not label.isascii() or not _SELECTOR_LABEL.fullmatch(label):
            raise UserError(
                "dkim.selector",
                f"The DKIM selector {shown} contains characters a selector can't have.",
                _SELECTOR_HINT,
            )
    if len(selector) + len(DKIM_INFIX) + len(domain) > MAX_NAME_LENGTH:
        raise UserError(
            "dkim.selector",
            f"The DKIM selector {shown} is too long: with ._domainkey. and the domain it "
            f"passes the {MAX_NAME_LENGTH} characters a DNS name may have.",
            "Check the selector for a typing mistake.",
        )
    return selector


def dkim_host(selector: str, domain: str) -> str:
    """Where the DKIM record of ``selector`` lives: ``<selector>._domainkey.<domain>``."""
    return f"{selector}{DKIM_INFIX}{domain}"
