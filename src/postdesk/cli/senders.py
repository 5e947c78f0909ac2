"""``postdesk sender``: the From addresses a domain's SMTP users may use, confirmed by a code."""

from __future__ import annotations

import argparse

from postdesk.cli.output import print_json, print_table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sender", help="sender addresses: the From addresses SMTP users may use"
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="add an address and send it a confirmation code")
    add.add_argument("address")
    add.add_argument("--json", action="store_true")
    add.set_defaults(handler=run_add)

    confirm = sub.add_parser("confirm", help="confirm an address with the code it received")
    confirm.add_argument("address")
    confirm.add_argument("code")
    confirm.add_argument("--json", action="store_true")
    confirm.set_defaults(handler=run_confirm)

    listing = sub.add_parser("list", help="list sender addresses (of one domain or all)")
    listing.add_argument("domain", nargs="?")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_list)

    remove = sub.add_parser("remove", help="remove a sender address")
    remove.add_argument("address")
    remove.set_defaults(handler=run_remove)

    policy = sub.add_parser(
        "policy", help="show or set which From addresses a domain's SMTP users may use"
    )
    policy.add_argument("domain")
    policy.add_argument(
        "policy",
        nargs="?",
        choices=("any", "listed"),
        help="any: any address on the domain; listed: only confirmed sender addresses",
    )
    policy.add_argument("--json", action="store_true")
    policy.set_defaults(handler=run_policy)


def _store():  # type: ignore[no-untyped-def]
    from postdesk.core.store import open_store

    return open_store()


def run_add(args: argparse.Namespace) -> int:
    from postdesk.core import senders

    view = senders.add_sender(_store(), args.address)
    if args.json:
        print_json(view.as_dict())
    else:
        print(f"A confirmation code is on its way to {view.address}.")
        print(f"Confirm with: postdesk sender confirm {view.address} CODE")
    return 0


def run_confirm(args: argparse.Namespace) -> int:
    from postdesk.core import senders

    view = senders.confirm_sender(_store(), args.address, args.code)
    if args.json:
        print_json(view.as_dict())
    else:
        print(f"{view.address} is a confirmed sender address for {view.domain}.")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from postdesk.core import senders

    views = senders.list_senders(_store(), args.domain)
    if args.json:
        print_json([v.as_dict() for v in views])
    elif not views:
        print("No sender addresses.")
    else:
        print_table(
            ["Address", "Domain", "Status", "Confirmed"],
            [
                [
                    v.address,
                    v.domain,
                    v.status,
                    f"{v.verified_at:%Y-%m-%d}" if v.verified_at else "",
                ]
                for v in views
            ],
        )
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from postdesk.core import senders

    senders.remove_sender(_store(), args.address)
    print(f"Removed {args.address.strip()}.")
    return 0


def run_policy(args: argparse.Namespace) -> int:
    from postdesk.core import senders

    store = _store()
    if args.policy is None:
        policy, confirmed = senders.get_policy(store, args.domain)
    else:
        confirmed = senders.set_policy(store, args.domain, args.policy)
        policy = args.policy
    if args.json:
        print_json({"domain": args.domain, "policy": policy, "confirmed": confirmed})
        return 0
    if policy == "any":
        print(f"SMTP users of {args.domain} may send from any address on it.")
    else:
        listed = f"{confirmed} confirmed sender address" + ("" if confirmed == 1 else "es")
        if confirmed == 0:
            listed = "confirmed sender addresses (none yet)"
        print(f"SMTP users of {args.domain} may send only from its {listed}.")
        if confirmed == 0:
            print("No address is confirmed yet: the relay refuses all its mail until one is.")
    return 0
