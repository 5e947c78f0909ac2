"""``postdesk webhooks``: each provider's event webhook URL, its key, and what arrived."""

from __future__ import annotations

import argparse

PROVIDERS = ("sendgrid", "mailgun", "postmark", "ses")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "webhooks", help="the URLs to paste into each provider's event webhook settings"
    )
    parser.add_argument("--domain", help="give the URLs on this domain's tracking name")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run_list)
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    secret = sub.add_parser(
        "secret", help="store a provider's verification key (read from standard input)"
    )
    secret.add_argument("provider", choices=PROVIDERS)
    secret.add_argument(
        "--stdin", action="store_true", required=True, help="read the key as one line"
    )
    secret.set_defaults(handler=run_secret)


def run_list(args: argparse.Namespace) -> int:
    from postdesk.cli.output import print_json, print_table
    from postdesk.core.store import open_store
    from postdesk.core.webhooks.urls import webhook_status

    infos = webhook_status(open_store(), args.domain)
    if args.json:
        print_json([info.as_dict() for info in infos])
        return 0
    rows = [
        (
            info.provider,
            info.url or "(no tracking host yet)",
            "set"
            if info.has_secret
            else ("optional" if info.provider == "postmark" else "missing"),
            "never"
            if info.last_event_at is None
            else info.last_event_at.strftime("%Y-%m-%d %H:%M"),
            f"{info.received} ({info.unmatched} about other mail)",
        )
        for info in infos
    ]
    print_table(("PROVIDER", "URL", "KEY", "LAST EVENT (UTC)", "EVENTS"), rows)
    # What to type next, for what the table says is still missing.
    if any(not info.url for info in infos):
        print(
            "A URL needs a public host name for the tracking endpoint: the domain's verified "
            "tracking record, or one for all: postdesk settings tracking_target HOST"
        )
    if any(not info.has_secret and info.provider != "postmark" for info in infos):
        print("Give a provider's signing key with: postdesk webhooks secret PROVIDER --stdin")
    return 0


def run_secret(args: argparse.Namespace) -> int:
    from postdesk.cli.output import read_password_stdin
    from postdesk.core.store import open_store
    from postdesk.core.webhooks.urls import set_secret

    set_secret(open_store(), args.provider, read_password_stdin())
    print(f"The {args.provider} webhook key is stored in the keyring.")
    return 0
