"""Reading a received message: decoded headers, the text and HTML bodies, the attachments.

Everything here works on bytes that already passed the inbound size limit, and still caps what
it produces: a body is decoded at most once per part, attachments are listed by their encoded
size (never decoded just to be listed), and a part is decoded only when it is asked for and is
within ``MAX_ATTACHMENT_BYTES``.
"""

from __future__ import annotations

import email
import email.policy
import functools
import html
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage, Message
from email.utils import getaddresses
from html.parser import HTMLParser
from typing import Any

# The text kept for showing and searching (the full message stays in the raw bytes).
MAX_BODY_CHARS = 100_000
MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024
# A header longer than this is cut (the columns are bounded and nobody reads more of it).
MAX_HEADER_CHARS = 2_000
MAX_PARTS = 500  # a message nested into thousands of parts is read only this far


@dataclass(frozen=True)
class AttachmentInfo:
    """An attachment as listed: its index among the message's attachments, a safe file name,
    its declared type and its size (estimated from the encoded part, without decoding it)."""

    index: int
    filename: str
    content_type: str
    size: int
    content_id: str


@dataclass(frozen=True)
class ParsedMessage:
    subject: str
    from_header: str
    to_header: str
    cc_header: str
    date_header: str
    message_id: str
    in_reply_to: str
    references: str
    text: str
    html: str
    attachments: tuple[AttachmentInfo, ...]

    def participants(self) -> set[str]:
        """Every address in From, To and Cc, lower-cased."""
        found = getaddresses([self.from_header, self.to_header, self.cc_header])
        return {address.lower() for _name, address in found if "@" in address}


_REGISTRY = HeaderRegistry()
# Header lines up to this long have their parsed form kept (at most HEADER_CACHE_SIZE of them).
HEADER_CACHE_CHARS = 1_000
HEADER_CACHE_SIZE = 4_096


@functools.lru_cache(maxsize=HEADER_CACHE_SIZE)
def _parsed_header(name: str, value: str) -> Any:
    return _REGISTRY(name, value)


def _header_factory(name: str, value: Any) -> Any:
    """The standard library's header classes, with the parsed form of a short header line kept.

    The modern policy parses a header again at every access (a part's Content-Type several
    times per message), and received mail repeats the same lines (Content-Type, To, From of a
    regular sender): that parsing was most of the time it takes to read a message. The parsed
    headers are immutable, so one parsed line serves every message that has it.
    """
    if isinstance(value, str) and len(value) <= HEADER_CACHE_CHARS:
        return _parsed_header(name, value)
    return _REGISTRY(name, value)


_POLICY = email.policy.default.clone(header_factory=_header_factory)


def message_object(raw: bytes) -> EmailMessage:
    """``raw`` parsed with the standard library's modern policy (decoded headers)."""
    parsed = email.message_from_bytes(raw, policy=_POLICY)
    assert isinstance(parsed, EmailMessage)
    return parsed


# The fields ``parse_message`` reads that the standard library takes as unstructured text.
_UNSTRUCTURED = frozenset({"subject", "in-reply-to", "references"})


def _as_written(msg: Message, name: str) -> Any:
    """The first ``name`` field's value as written (unparsed), or None when there is none."""
    wanted = name.lower()
    return next((value for key, value in msg.raw_items() if key.lower() == wanted), None)


def header(msg: Message, name: str) -> str:
    """A header decoded to text (RFC 2047 words and all), or "" when it is missing or unreadable."""
    if name.lower() in _UNSTRUCTURED:
        # Every message has a subject of its own, so no parsed form is ever reused, and the
        # parser took a fifth of the time of reading a message: plain text is not parsed.
        # Plain ASCII without encoded words reads the same unparsed, give or take the
        # whitespace that is normalized here anyway.
        plain = _as_written(msg, name)
        if isinstance(plain, str) and plain.isascii() and "=?" not in plain:
            return " ".join(clean_text(plain).split())[:MAX_HEADER_CHARS]
    try:
        value = msg.get(name)
    except Exception:  # a malformed header must not lose the message; the raw bytes keep it
        value = None
        for key, raw_value in msg.raw_items():
            if key.lower() == name.lower():
                value = raw_value
                break
    if value is None:
        return ""
    text = " ".join(clean_text(str(value)).split())
    return text[:MAX_HEADER_CHARS]


def clean_text(text: str) -> str:
    """``text`` as a database takes it: no NUL characters (PostgreSQL refuses them) and no lone
    surrogates (what undecodable header bytes become), each replaced by "?"."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _quietly(read: Callable[[], str | None]) -> str:
    """A value read from a part, or "" when the part's header is too broken to read."""
    try:
        return read() or ""
    except Exception:  # malformed MIME must never lose the message; the raw bytes keep it
        return ""


def _parts(msg: EmailMessage) -> list[EmailMessage]:
    parts: list[EmailMessage] = []
    for part in msg.walk():
        if len(parts) >= MAX_PARTS:
            break
        if not part.is_multipart():
            parts.append(part)  # type: ignore[arg-type]
    return parts


def _filename(part: Message) -> str:
    return _quietly(part.get_filename)


def _content_id(part: Message) -> str:
    return _quietly(lambda: str(part.get("Content-ID") or ""))


def _decoded_text(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # a broken transfer encoding: the text is what can be read of it
        payload = None
    if not isinstance(payload, bytes):
        return ""
    charset = _quietly(part.get_content_charset) or "utf-8"
    try:
        text = payload.decode(charset, errors="replace")
    except (LookupError, ValueError):  # an unknown or unusable charset name
        text = payload.decode("utf-8", errors="replace")
    return clean_text(text)


def encoded_size(part: Message) -> int:
    """The size ``part`` decodes to, worked out from its encoded form without decoding it."""
    payload = part.get_payload(decode=False)
    if not isinstance(payload, str):
        return 0
    cte = _quietly(lambda: str(part.get("Content-Transfer-Encoding") or "")).strip().lower()
    if cte == "base64":
        return len(re.sub(r"[^A-Za-z0-9+/]", "", payload)) * 3 // 4
    return len(payload)


def safe_filename(name: str, index: int) -> str:
    """A file name that stays where it is saved: no folders, no ``..``, no control characters."""
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.strip().lstrip(".").strip()
    for bad in '<>:"|?*':
        name = name.replace(bad, "_")
    if len(name.encode("utf-8")) > 200:
        _stem, dot, ext = name.rpartition(".")
        keep = ext if dot and len(ext) <= 10 else ""
        name = name.encode("utf-8")[:190].decode("utf-8", "ignore") + ("." + keep if keep else "")
    return name or f"attachment-{index + 1}"


@dataclass(frozen=True)
class _Part:
    """A leaf part with what its headers say, each header read once (the standard library
    parses a header again at every access, and this is read for every received message)."""

    part: EmailMessage
    content_type: str
    filename: str
    content_id: str
    listed: bool  # an attachment or an image the HTML refers to: listed, not the body


def _described(part: EmailMessage) -> _Part:
    ctype = _quietly(part.get_content_type)
    maintype = ctype.partition("/")[0]
    disposition = _quietly(part.get_content_disposition).lower()
    filename = _filename(part)
    content_id = _content_id(part)
    # Listed: what is marked or named as an attachment, a non-text part with a disposition,
    # and an image the HTML refers to by cid: (shown in place, but also listed).
    attachment = (
        disposition == "attachment"
        or bool(filename)
        or (maintype not in ("text", "multipart") and disposition != "")
    )
    inline_related = bool(content_id) and maintype == "image"
    return _Part(part, ctype, filename, content_id, attachment or inline_related)


def attachment_parts(msg: EmailMessage) -> list[EmailMessage]:
    """The parts listed as attachments, in order (their position is the attachment's index)."""
    return [d.part for d in map(_described, _parts(msg)) if d.listed]


def parse_message(raw: bytes) -> ParsedMessage:
    """Read ``raw`` once: headers, text body (from text/plain, else the HTML's text), HTML body
    and the attachment list."""
    msg = message_object(raw)
    text = html_body = ""
    listed: list[_Part] = []  # what attachment_parts() returns, found in the same pass
    for described in map(_described, _parts(msg)):
        if described.listed:
            listed.append(described)
        elif described.content_type == "text/plain" and not text:
            text = _decoded_text(described.part)
        elif described.content_type == "text/html" and not html_body:
            html_body = _decoded_text(described.part)
    if not text and html_body:
        text = html_to_text(html_body)
    attachments = tuple(
        AttachmentInfo(
            index=i,
            filename=safe_filename(d.filename, i),
            content_type=d.content_type or "application/octet-stream",
            size=encoded_size(d.part),
            content_id=d.content_id.strip().strip("<>"),
        )
        for i, d in enumerate(listed)
    )
    return ParsedMessage(
        subject=header(msg, "Subject"),
        from_header=header(msg, "From"),
        to_header=header(msg, "To"),
        cc_header=header(msg, "Cc"),
        date_header=header(msg, "Date"),
        message_id=_message_id(msg),
        in_reply_to=first_message_id(header(msg, "In-Reply-To")),
        references=" ".join(message_ids(header(msg, "References"))),
        text=text.replace("\r\n", "\n")[:MAX_BODY_CHARS],
        html=html_body,
        attachments=attachments,
    )


_MSGID = re.compile(r"<([^<>\s]+)>")
_ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+"
# A Message-ID of the usual shape, <dot-atom@dot-atom> on one line: the standard library's
# parser reads it back unchanged, so it is taken as written.
_PLAIN_MSGID = re.compile(rf"[ \t]*<{_ATEXT}(?:\.{_ATEXT})*@{_ATEXT}(?:\.{_ATEXT})*>[ \t]*")


def _message_id(msg: Message) -> str:
    """``first_message_id`` of the Message-ID header as ``header()`` reads it. The standard
    library's Message-ID parser is the slowest part of reading a header block, and every
    message has a Message-ID of its own (so no parsed form is ever reused): an ID of the
    usual shape, which that parser returns as written, is not parsed."""
    value = _as_written(msg, "Message-ID")
    if isinstance(value, str) and len(value) <= MAX_HEADER_CHARS and _PLAIN_MSGID.fullmatch(value):
        return first_message_id(value.strip())
    return first_message_id(header(msg, "Message-ID"))


def message_ids(value: str) -> list[str]:
    """The Message-IDs in a header, in order, as ``<id>``."""
    return [f"<{m}>" for m in _MSGID.findall(value)]


def first_message_id(value: str) -> str:
    found = message_ids(value)
    if found:
        return found[0][:300]
    value = value.strip()  # some senders omit the angle brackets
    return f"<{value}>"[:300] if value and " " not in value else ""


class _TextExtractor(HTMLParser):
    """The readable text of an HTML body: no scripts or styles, line breaks where blocks end."""

    BLOCKS = frozenset(
        {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"}
        | {"table", "ul", "ol", "hr", "section", "article"}
    )
    SKIP = frozenset({"script", "style", "head", "title", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(data)


def html_to_text(markup: str) -> str:
    """The text a reader sees in ``markup`` (for search and for terminals)."""
    extractor = _TextExtractor()
    try:
        extractor.feed(markup)
        extractor.close()
    except Exception:  # HTMLParser is lenient; this is a last resort for a broken body
        return html.unescape(re.sub(r"<[^>]*>", " ", markup))
    text = "".join(extractor.out).replace("\xa0", " ")
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
