"""The ``postdesk`` command: the same operations as the GUI, for scripts and support staff.

Start-up is kept lean: each command imports what it needs (Qt, SQLAlchemy, …) only when it runs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from postdesk import __version__
from postdesk.cli import commands
from postdesk.cli.output import fail
from postdesk.cli.parser import OneLineParser
from postdesk.core.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="postdesk",
        description="Send email from your own domains: services, domains, SMTP users and checks.",
    )
    parser.add_argument("--version", action="version", version=f"Postdesk {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in commands.REGISTRY:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit status."""
    args = build_parser().parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        from postdesk.cli.gui import run as run_gui

        args.screenshot, args.tab = None, None
        handler = run_gui
    # A log file that cannot be written (full disk, read-only folder) must not print logging's
    # own traceback: the command's result, or its one-line error, is what the user needs.
    logging.raiseExceptions = False
    try:
        from postdesk.core.logs import setup_logging

        setup_logging()
        return int(handler(args) or 0)
    except UserError as exc:
        return fail(exc)
    except KeyboardInterrupt:
        print("postdesk: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        # What core did not translate itself (e.g. a file the relay writes in the data folder).
        from postdesk.core.config import folder_problem

        return fail(folder_problem(exc, "use its files"))
    except Exception as exc:
        known = _database_failure(exc)
        if known is None:
            raise
        return fail(known)


def _database_failure(exc: Exception) -> UserError | None:
    """A database error that escaped the store, as the store would explain it (None: a bug)."""
    if "sqlalchemy" not in sys.modules:
        return None
    from sqlalchemy.exc import OperationalError

    if not isinstance(exc, OperationalError):
        return None
    from postdesk.core.config import database_url
    from postdesk.core.store.database import explain_failure

    return explain_failure(database_url(), exc)
