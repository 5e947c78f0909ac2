"""How the CLI prints: JSON when asked, aligned tables otherwise, errors as one line on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from postdesk.core.errors import UserError


def print_json(data: object) -> None:
    """Print data as indented JSON (dates and other objects as their string form)."""
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print rows under headers, columns padded to their widest cell."""
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def fail(error: UserError, status: int = 1) -> int:
    """Report an expected failure on stderr in one line; returns the exit status."""
    line = f"postdesk: {error.message}"
    if error.hint:
        line += f" {error.hint}"
    print(line, file=sys.stderr)
    return status


def read_password_stdin() -> str:
    """Read a secret from standard input (one line; the trailing newline is dropped)."""
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise UserError(
            "input.password_empty",
            "No password was given on standard input.",
            "Pipe it in, e.g. printf '%s' \"$PASSWORD\" | postdesk ... --password-stdin",
        )
    return value
