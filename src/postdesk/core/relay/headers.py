"""Reading a submitted message's header block the way receiving mail systems do.

Every check the relay makes on headers (From, Sender, whether Date and Message-ID are there) and
the place where missing headers are added use this one reading, so a message cannot look one way
to the checks and another way to a receiver:

- the header block ends at the first empty line, whether that line ends in CRLF or a bare LF;
- field names are case-insensitive, and the obsolete syntax of RFC 5322 (section 4.5) allows
  whitespace between the name and the colon (``From : x``) — receivers read that as From;
- folded lines (starting with a space or a tab) continue the field above them.

A line that is none of these, or a header block with control characters (a bare CR, which some
parsers treat as a line break, or a NUL), is reported as a problem instead of being guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# An empty line: at the very start of the message, or right after a line's LF.
_BLANK_LINE = re.compile(rb"(?:\A|\n)(\r?\n)")
# RFC 5322 field name: printable ASCII except the colon; then obsolete whitespace before it.
_FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:")
# Control characters other than TAB, and a CR that does not end a line.
_BAD_CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Field:
    """One header field: its name in lowercase, its unfolded value (UTF-8, undecodable kept)."""

    name: str
    value: str


@dataclass(frozen=True)
class HeaderBlock:
    """A message split at the real end of its headers, with the fields read from them."""

    lines: tuple[bytes, ...]  # header lines without line endings, names' obsolete spaces removed
    body: bytes  # everything after the empty line (empty when there is none)
    fields: tuple[Field, ...]
    problem: str | None  # why receivers could read this header block differently

    def all(self, name: str) -> list[str]:
        """The values of every field with this name (any case, any obsolete spelling)."""
        wanted = name.lower()
        return [f.value for f in self.fields if f.name == wanted]

    def first(self, name: str) -> str | None:
        """The value of the first field with this name, or None."""
        found = self.all(name)
        return found[0] if found else None

    def head_crlf(self) -> bytes:
        """The header lines, each ending in CRLF (without the empty line that ends them)."""
        return b"".join(line + b"\r\n" for line in self.lines)


def split(raw: bytes) -> tuple[bytes, bytes]:
    """The header part (up to the first empty line, without it) and the body of a message."""
    match = _BLANK_LINE.search(raw)
    if match is None:
        return raw, b""
    return raw[: match.start(1)], raw[match.end(1) :]


def read(raw: bytes) -> HeaderBlock:
    """Read a message's header block (see the module docstring for the rules)."""
    head, body = split(raw)
    raw_lines = head.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()  # the line break after the last header line
    lines: list[bytes] = []
    names: list[str] = []
    values: list[list[bytes]] = []
    problem: str | None = None
    for number, line in enumerate(raw_lines, 1):
        line = line.removesuffix(b"\r")
        if problem is None and _BAD_CONTROL.search(line):
            problem = f"Header line {number} contains a control character"
        if line[:1] in (b" ", b"\t"):
            if not names and problem is None:
                problem = "The first header line is indented as if it continued another"
            elif names:
                values[-1].append(line)
            lines.append(line)
            continue
        field = _FIELD.match(line)
        if field is None:
            if problem is None:
                problem = f"Header line {number} is not a header field (Name: value)"
            lines.append(line)
            continue
        name = field.group(1)
        names.append(name.decode("ascii").lower())
        values.append([line[field.end() :]])
        # Written without the obsolete space, so every later reader sees the same name.
        lines.append(name + b":" + line[field.end() :])
    fields = tuple(
        Field(name, b"".join(parts).decode("utf-8", "surrogateescape").strip())
        for name, parts in zip(names, values, strict=True)
    )
    return HeaderBlock(tuple(lines), body, fields, problem)
