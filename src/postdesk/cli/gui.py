"""``postdesk gui``: start the window, or render it offscreen to a PNG."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("gui", help="start the desktop window (the default)")
    parser.add_argument(
        "--screenshot", type=Path, metavar="PNG", help="render offscreen, save, exit"
    )
    parser.add_argument("--tab", metavar="TITLE", help="the tab to show in the screenshot")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from postdesk.gui.app import run_gui

    return run_gui(screenshot=args.screenshot, tab=args.tab)
