"""``postdesk forward``: forwarding rules that send received mail on to an external inbox."""

from __future__ import annotations

import argparse

from postdesk.cli.output import print_json, print_table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "forward", help="forward mail received for a domain's addresses to an external inbox"
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="forward mail to LOCAL@DOMAIN (* for any address) to DEST")
    add.add_argument("domain")
    add.add_argument("local", metavar="LOCAL|*")
    add.add_argument("destination", metavar="DEST")
    add.add_argument("--json", action="store_true")
    add.set_defaults(handler=run_add)

    listing = sub.add_parser("list", help="list forwarding rules (of one domain or all)")
    listing.add_argument("domain", nargs="?")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_list)

    remove = sub.add_parser("remove", help="remove the rules of LOCAL@DOMAIN (or only to DEST)")
    remove.add_argument("domain")
    remove.add_argument("local", metavar="LOCAL|*")
    remove.add_argument("destination", metavar="DEST", nargs="?")
    remove.set_defaults(handler=run_remove)

    for action, words in (("pause", "stop forwarding"), ("resume", "forward again")):
        toggle = sub.add_parser(
            action, help=f"{words} mail to LOCAL@DOMAIN (or only to DEST); the rule stays"
        )
        toggle.add_argument("domain")
        toggle.add_argument("local", metavar="LOCAL|*")
        toggle.add_argument("destination", metavar="DEST", nargs="?")
        toggle.add_argument("--json", action="store_true")
        toggle.set_defaults(handler=run_toggle, enabled=action == "resume")


def _store():  # type: ignore[no-untyped-def]
    from postdesk.core.store import open_store

    return open_store()


def run_add(args: argparse.Namespace) -> int:
    from postdesk.core import forwarding

    store = _store()
    rule = forwarding.add_rule(store, args.domain, args.local, args.destination)
    if args.json:
        print_json(rule.as_dict())
        return 0
    print(f"Mail to {rule.address} is now forwarded to {rule.destination}.")
    if not _receives(store, rule.domain):
        # The rule is kept, but it forwards nothing until the domain's mail reaches Postdesk.
        print(
            f"{rule.domain} does not receive mail yet, so nothing is forwarded until it does: "
            f"postdesk domain reception {rule.domain} --on"
        )
    return 0


def _receives(store, domain: str) -> bool:  # type: ignore[no-untyped-def]
    from postdesk.core.domains import get_domain

    with store.session() as s:
        return bool(get_domain(s, domain).reception)


def run_list(args: argparse.Namespace) -> int:
    from postdesk.core import forwarding

    rules = forwarding.list_rules(_store(), args.domain)
    if args.json:
        print_json([rule.as_dict() for rule in rules])
    elif not rules:
        print("No forwarding rules.")
    else:
        print_table(
            ["ADDRESS", "FORWARDED TO", "STATE"],
            [[r.address, r.destination, "on" if r.enabled else "paused"] for r in rules],
        )
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from postdesk.core import forwarding

    count = forwarding.remove_rule(_store(), args.domain, args.local, args.destination)
    print(f"Removed {count} forwarding rule{'s' if count != 1 else ''}.")
    return 0


def run_toggle(args: argparse.Namespace) -> int:
    from postdesk.core import forwarding

    rules = forwarding.set_enabled(
        _store(), args.domain, args.local, args.destination, args.enabled
    )
    if args.json:
        print_json([rule.as_dict() for rule in rules])
        return 0
    for rule in rules:
        if rule.enabled:
            print(f"Mail to {rule.address} is forwarded to {rule.destination} again.")
        else:
            print(
                f"Paused: mail to {rule.address} is kept in Conversations, not sent to "
                f"{rule.destination}."
            )
    return 0
