"""The ``postdesk`` command: the same operations as the GUI, for scripts and support staff.

Start-up is kept lean: each command imports what it needs (Qt, SQLAlchemy, …) only when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from postdesk import __version__
from postdesk.cli import commands
from postdesk.cli.output import fail
from postdesk.core.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    try:
        from postdesk.core.logs import setup_logging

        setup_logging()
        return int(handler(args) or 0)
    except UserError as exc:
        return fail(exc)
    except KeyboardInterrupt:
        print("postdesk: interrupted", file=sys.stderr)
        return 130
