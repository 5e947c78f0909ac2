"""The argument parser of every command: a mistake in the arguments is one line on stderr."""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

# A wrong argument is echoed inside argparse's message; this keeps the whole line readable.
MAX_MESSAGE = 200


class OneLineParser(argparse.ArgumentParser):
    """``argparse`` as usual, except that a usage error is one line with the way to get help
    (argparse prints the whole usage block first), exit status 2."""

    def error(self, message: str) -> NoReturn:
        from postdesk.core.validation import escape_input

        shown = escape_input(message)
        if len(shown) > MAX_MESSAGE:
            shown = shown[: MAX_MESSAGE - 1] + "…"
        print(f"{self.prog}: {shown}. See: {self.prog} --help", file=sys.stderr)
        sys.exit(2)

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse builds a formatter for every argument it adds (to check its metavar), and by
        # default a formatter imports shutil (with bz2 and lzma) to measure the terminal: a few
        # milliseconds of every command. The width is measured as shutil measures it.
        return self.formatter_class(prog=self.prog, width=_terminal_width())


def _terminal_width() -> int:
    """``shutil.get_terminal_size().columns``, without importing shutil."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80
