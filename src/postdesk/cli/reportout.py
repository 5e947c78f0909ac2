"""``--format html|json|text``: the one report to hand over, printed instead of the usual output."""

from __future__ import annotations

import argparse
import sys

FORMATS = ("html", "json", "text")


def add_format_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--format``; without it the command prints as it always did."""
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="print a report to hand over: self-contained HTML, JSON or text "
        "(redirect it to a file, e.g. > report.html)",
    )


def print_report_as(report: object, fmt: str) -> None:
    """Print ``report`` (a ``postdesk.core.report.Report``) in ``fmt``."""
    from postdesk.core.report import render

    sys.stdout.write(render(report, fmt))  # type: ignore[arg-type]
    sys.stdout.flush()
