"""Reading what a user pastes or opens: a header block alone, or a whole message (.eml)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.utils import getaddresses

from postdesk.core.errors import UserError

_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:(.*)$", re.DOTALL)
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
MAX_MESSAGE_BYTES = 50 * 1024 * 1024  # mail providers refuse more; anything larger is not mail


@dataclass(frozen=True)
class Header:
    """One header field: its name as written and its unfolded value."""

    name: str
    value: str
    key: str = ""  # the name in lowercase, for comparing

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", self.name.lower())


@dataclass(frozen=True)
class ParsedMessage:
    """The header fields in order (top first) and, for a whole message, the raw bytes."""

    headers: tuple[Header, ...]
    raw: bytes
    has_body: bool
    _index: dict[str, list[str]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for header in self.headers:
            self._index.setdefault(header.key, []).append(header.value)

    def all(self, name: str) -> list[str]:
        """Every value of header ``name``, top first."""
        return list(self._index.get(name.lower(), ()))

    def first(self, name: str) -> str | None:
        """The topmost value of header ``name``, if present."""
        values = self.all(name)
        return values[0] if values else None


def parse_message(raw: bytes) -> ParsedMessage:
    """Split ``raw`` into header fields and tell whether a body came with them.

    Lines that are neither a field nor a continuation (an mbox ``From `` line, text pasted around
    the headers) are skipped rather than refused: support staff paste what they are sent.
    """
    if len(raw) > MAX_MESSAGE_BYTES:
        raise UserError(
            "analyze.too_large",
            f"The message is {len(raw) // (1024 * 1024)} MiB; Postdesk reads up to 50 MiB.",
            "Save only the headers (or the .eml without attachments) and analyze that.",
        )
    raw = raw.lstrip(b"\r\n \t")
    split = _BLANK_LINE.search(raw)
    head = raw[: split.start()] if split else raw
    body = raw[split.end() :] if split else b""
    if b"\x00" in head:
        # Mail headers are text: an image or a document would otherwise yield junk "fields"
        # and a report that says all is well.
        raise UserError(
            "analyze.not_a_message",
            "What was given is not a mail message: it holds binary data (an image or a document?).",
            "Open the saved .eml file, or paste the whole header block (in Gmail: Show "
            "original; in Outlook: View message source).",
        )
    headers = _fields(head)
    if not headers:
        raise UserError(
            "analyze.no_headers",
            "No mail headers were found in what was given.",
            "Paste the whole header block (in Gmail: Show original; in Outlook: View message "
            "source), or open the saved .eml file.",
        )
    return ParsedMessage(tuple(headers), raw, has_body=bool(body.strip()))


def _fields(head: bytes) -> list[Header]:
    fields: list[list[bytes]] = []
    for line in head.splitlines():
        if line[:1] in (b" ", b"\t"):
            if fields:
                fields[-1][1] += b" " + line.strip()
            continue
        match = _FIELD.match(line)
        if match:
            fields.append([match.group(1), match.group(2).strip()])
    return [
        Header(name.decode("ascii", "replace"), value.decode("utf-8", "replace"))
        for name, value in fields
    ]


def readable(value: str) -> str:
    """A header value with RFC 2047 encoded words decoded, for showing to a person."""
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeDecodeError):
        return value


def address_domain(value: str | None) -> str | None:
    """The lowercase domain of the first address in a From / Return-Path value."""
    if not value:
        return None
    for _name, address in getaddresses([value]):
        if "@" in address:
            return address.rpartition("@")[2].strip().strip(">").lower().rstrip(".") or None
    return None
