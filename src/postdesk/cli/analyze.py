"""``postdesk analyze``: read a received message (or its headers) and say what went wrong."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from postdesk.cli.output import print_json
from postdesk.cli.reportout import add_format_option, print_report_as
from postdesk.core.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="analyze a received message: verdicts, hops, alignment, DKIM and ARC now",
        description="Analyze headers alone or a whole message (.eml). Use - to read standard "
        "input (paste, then Ctrl-D).",
    )
    parser.add_argument("file", metavar="FILE|-")
    parser.add_argument(
        "--no-dns",
        action="store_true",
        help="read the headers only: verify nothing now and look nothing up",
    )
    parser.add_argument("--json", action="store_true", help="the full analysis as JSON")
    add_format_option(parser)
    parser.set_defaults(handler=run)


def read_input(name: str) -> bytes:
    """The bytes of FILE, or of standard input for ``-``; a clear error when unreadable."""
    if name == "-":
        return sys.stdin.buffer.read()
    path = Path(name)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(
            "analyze.no_file",
            f"There is no file {path}.",
            "Give the path of a saved message (.eml) or headers (.txt), or - for standard input.",
        ) from None
    except IsADirectoryError:
        raise UserError(
            "analyze.no_file", f"{path} is a folder, not a message.", "Give the path of a file."
        ) from None
    except OSError as exc:
        raise UserError(
            "analyze.unreadable",
            f"Postdesk could not read {path}: {exc.strerror or type(exc).__name__}.",
            "Check that the file exists and that you may read it.",
        ) from None


def run(args: argparse.Namespace) -> int:
    import asyncio

    from postdesk.core.analyze import analyze_message
    from postdesk.core.report import from_analysis, render_text

    analysis = asyncio.run(analyze_message(read_input(args.file), check_dns=not args.no_dns))
    if args.format:
        print_report_as(from_analysis(analysis), args.format)
    elif args.json:
        print_json(analysis.as_dict())
    else:
        sys.stdout.write(render_text(from_analysis(analysis)))
    return 0 if analysis.status == "ok" else 1
