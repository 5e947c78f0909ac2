"""The argument parser of every command: a mistake in the arguments is one line on stderr."""

from __future__ import annotations

import argparse
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
