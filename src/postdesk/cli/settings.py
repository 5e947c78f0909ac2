"""``postdesk settings``: show or change workspace settings (relay port, tracking delay, …)."""

from __future__ import annotations

import argparse
import json

from postdesk.cli.output import print_json, print_table
from postdesk.core.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("settings", help="show or change workspace settings")
    parser.add_argument("key", nargs="?", help="a setting to show or change")
    parser.add_argument(
        "value", nargs="?", help="the new value (a number, a word, a name, or a JSON list)"
    )
    parser.add_argument("--reset", action="store_true", help="go back to the default value")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from postdesk.core import settings
    from postdesk.core.store import open_store
    from postdesk.core.validation import quote_input

    if args.key is not None and args.key not in settings.EDITABLE:
        import difflib

        close = difflib.get_close_matches(args.key, sorted(settings.EDITABLE), n=3)
        raise UserError(
            "settings.unknown",
            f"There is no setting called {quote_input(args.key)}.",
            (f"Did you mean {' or '.join(close)}? " if close else "")
            + "`postdesk settings` lists every setting with its value.",
        )
    store = open_store()
    if args.key and (args.value is not None or args.reset):
        # Checked before the transaction, so a refused value leaves nothing behind.
        value = (
            None
            if args.reset
            else settings.check_value(args.key, settings.parse_text(args.key, args.value))
        )
        with store.session() as s:
            settings.change(s, args.key, value)
    with store.session() as s:
        current = {k: settings.get(s, k) for k in sorted(settings.EDITABLE)}
    if args.key:
        current = {args.key: current[args.key]}
    if args.json:
        print_json(current)
    else:
        print_table(["SETTING", "VALUE"], [[k, _shown(v)] for k, v in current.items()])
    return 0


def _shown(value: object) -> str:
    # As it is typed: a host name bare, a list as JSON; an unset value "(not set)", not "null".
    if value is None:
        return "(not set)"
    return value if isinstance(value, str) else json.dumps(value)
