"""``postdesk stats``: deliverability per domain and per SMTP user over 1, 7 or 30 days."""

from __future__ import annotations

import argparse

PERIOD_CHOICES = (1, 7, 30)
NO_SMTP_USER = "(sent by Postdesk)"  # the row of mail that no SMTP user sent


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stats",
        help="sent, delivered, bounced, complaint, open and click rates per domain and SMTP user",
    )
    parser.add_argument("--domain", metavar="D", help="only this domain")
    parser.add_argument(
        "--days", type=int, choices=PERIOD_CHOICES, default=7, help="the period (default 7)"
    )
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)


HEADERS = [
    "DOMAIN / SMTP USER",
    "SENT",
    "DELIVERED",
    "HARD",
    "SOFT",
    "BOUNCE",
    "COMPLAINTS",
    "OPENS",
    "CLICKS",
]


def run(args: argparse.Namespace) -> int:
    from postdesk.cli.output import print_json, print_table
    from postdesk.core import deliverability
    from postdesk.core.store import open_store

    store = open_store()
    report = deliverability.report(store, args.days, domain=args.domain)
    if args.json:
        print_json(report.as_dict())
        return 0
    rows = []
    for domain in report.domains:
        rows.append(_row(domain.domain, domain.total))
        for user in domain.users:
            name = user.login or NO_SMTP_USER
            rows.append(_row(f"  {name}{' (deleted)' if user.deleted else ''}", user.numbers))
    if not rows:
        print("No dedicated domains yet.")
        return 0
    span = "day" if args.days == 1 else f"{args.days} days"
    print(f"Mail accepted in the last {span} (since {report.since:%Y-%m-%d %H:%M} UTC)")
    print_table(HEADERS, rows)
    if any(str(row[0]).strip().startswith(NO_SMTP_USER) for row in rows):
        print(
            f"{NO_SMTP_USER}: test sends, replies from Conversations, forwarded copies and "
            "sender confirmation codes (no SMTP user sent them)."
        )
    return 0


def _row(name: str, n: object) -> list[object]:
    from postdesk.core.deliverability import Numbers, percent

    assert isinstance(n, Numbers)
    return [
        name,
        f"{n.sent:,}",
        f"{n.delivered:,}",
        f"{n.hard_bounced:,}",
        f"{n.soft_bounced:,}",
        percent(n.bounce_rate),
        percent(n.complaint_rate),
        percent(n.open_rate),
        percent(n.click_rate),
    ]
