"""How the CLI prints: JSON when asked, aligned tables otherwise, errors as one line on stderr."""

from __future__ import annotations

import datetime as dt
import json
import sys
import unicodedata
from collections.abc import Sequence

from postdesk.core.errors import UserError

PASSWORD_MAX_BYTES = 4096


def print_json(data: object) -> None:
    """Print data as indented JSON (dates in ISO 8601, other objects as their string form)."""
    print(json.dumps(data, indent=2, ensure_ascii=False, default=_plain))


def _plain(value: object) -> str:
    if isinstance(value, dt.date):  # a datetime too
        return value.isoformat()
    return str(value)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print rows under headers, columns padded to their widest cell."""
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def fail(error: UserError, status: int = 1) -> int:
    """Report an expected failure on stderr in one line; returns the exit status."""
    from postdesk.core.validation import escape_input

    line = f"postdesk: {error.message}"
    if error.hint:
        line += f" {error.hint}"
    # Messages quote what was typed; whatever slipped through unescaped still stays on one line.
    print(escape_input(line), file=sys.stderr)
    return status


def read_password_stdin() -> str:
    """Read a secret from standard input: one line (one trailing newline is dropped).

    Anything that is not exactly one line of text is refused rather than cut or passed on: a
    second line, only blanks, control characters, or bytes that are not UTF-8.
    """
    stream = sys.stdin.buffer
    # A terminal ends the input with Enter; a pipe or file is read whole, so a second line is
    # seen (and refused) instead of silently dropped.
    raw = (
        stream.readline(PASSWORD_MAX_BYTES + 3)
        if sys.stdin.isatty()
        else stream.read(PASSWORD_MAX_BYTES + 3)
    )
    return check_password_input(raw)


def check_password_input(raw: bytes) -> str:
    """The password in ``raw`` (read from standard input), or a UserError saying what is wrong."""
    if raw.endswith(b"\n"):
        raw = raw[:-1]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
    how = "Pipe it in as one line, e.g. printf '%s' \"$PASSWORD\" | postdesk ... --password-stdin"
    if not raw:
        raise UserError("input.password_empty", "No password was given on standard input.", how)
    if len(raw) > PASSWORD_MAX_BYTES:
        raise UserError(
            "input.password_too_long",
            f"The password on standard input is longer than {PASSWORD_MAX_BYTES} bytes.",
            how,
        )
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(
            "input.password_encoding",
            "The password on standard input is not valid UTF-8 text.",
            "Give it as UTF-8 text (check the file's or the terminal's encoding).",
        ) from None
    if "\n" in value or "\r" in value:
        raise UserError(
            "input.password_lines",
            "The password on standard input has more than one line; a password cannot contain "
            "a line break.",
            how,
        )
    if not value.strip():
        raise UserError(
            "input.password_blank",
            "The password on standard input is only spaces or other blanks.",
            how,
        )
    if any(unicodedata.category(ch) == "Cc" and ch != "\t" for ch in value):
        raise UserError(
            "input.password_control",
            "The password on standard input contains a control character (such as NUL).",
            how,
        )
    return value
