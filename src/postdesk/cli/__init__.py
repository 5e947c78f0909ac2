"""The ``postdesk`` command: the same operations as the GUI, for scripts and support staff.

Start-up is kept lean: each command imports what it needs (Qt, SQLAlchemy, …) only when it runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from postdesk import __version__
from postdesk.cli import commands
from postdesk.cli.output import fail
from postdesk.cli.parser import OneLineParser
from postdesk.core.errors import UserError

# Commands whose module is not named after them ("smtp-user" is in smtp_user.py, and so on).
_MODULE_OF = {"stats": "deliverability", "sender": "senders", "test-send": "testsend"}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; given the command being run, one that knows only that command.

    Building every command's parser takes longer than some commands' own work; the whole parser
    is still built for help, ``--version`` and a command that does not exist.
    """
    parser = OneLineParser(
        prog="postdesk",
        description="Send email from your own domains: services, domains, SMTP users and checks.",
    )
    parser.add_argument("--version", action="version", version=f"Postdesk {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    if command is not None:
        commands.register(subparsers, _MODULE_OF.get(command, command.replace("-", "_")))
        if command in subparsers.choices:
            return parser
        if subparsers.choices:  # a module's name that is not its command's (e.g. deliverability)
            return build_parser()
    commands.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit status."""
    given = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(given[0] if given else None).parse_args(given)
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
        status = int(handler(args) or 0)
        sys.stdout.flush()  # a reader that went away shows here, not at the interpreter's exit
        return status
    except UserError as exc:
        return fail(exc)
    except KeyboardInterrupt:
        print("postdesk: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `postdesk … | head`: the reader took what it wanted and left; nothing went wrong
        # here and nothing is left to say. Output still buffered goes nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
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
