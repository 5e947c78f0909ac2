"""``postdesk tracking``: open and click tracking of a domain, now and pending."""

from __future__ import annotations

import argparse


def _on_off(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("on", "off"):
        raise argparse.ArgumentTypeError("use 'on' or 'off'")
    return value == "on"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tracking", help="show or change a domain's tracking settings")
    parser.add_argument("domain")
    parser.add_argument("--open", type=_on_off, metavar="on|off", help="open tracking")
    parser.add_argument("--click", type=_on_off, metavar="on|off", help="click tracking")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from postdesk.cli.output import print_json
    from postdesk.core import tracking
    from postdesk.core.domains import lookup_name
    from postdesk.core.store import open_store

    store = open_store()
    for feature, wanted in (("open", args.open), ("click", args.click)):
        if wanted is not None:
            tracking.set_tracking(store, args.domain, feature, wanted)
    state = tracking.tracking_state(store, args.domain)
    if args.json:
        print_json(
            {
                "domain": lookup_name(args.domain),
                "open_tracking": state["open"].as_dict(),
                "click_tracking": state["click"].as_dict(),
            }
        )
    else:
        for feature in tracking.FEATURES:
            print(state[feature].describe())
    return 0
