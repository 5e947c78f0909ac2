"""``postdesk dmarc``: import DMARC aggregate reports and see who sends as a domain."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from postdesk.cli.output import print_json, print_table

MAX_DAYS = 3660  # ten years


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dmarc", help="DMARC aggregate reports: import them, see who sends as a domain"
    )
    commands = parser.add_subparsers(dest="dmarc_command", metavar="COMMAND", required=True)

    importing = commands.add_parser(
        "import", help="read report files (.xml, .xml.gz, .zip or a saved .eml)"
    )
    importing.add_argument("files", nargs="+", type=Path, metavar="FILE")
    importing.add_argument("--json", action="store_true")
    importing.set_defaults(handler=run_import)

    sources = commands.add_parser(
        "sources", help="who sends as a domain: every reported source IP and how it fared"
    )
    sources.add_argument("domain")
    sources.add_argument(
        "--days",
        type=_days,
        default=30,
        help=f"how many days back (default 30, at most {MAX_DAYS})",
    )
    sources.add_argument("--no-rdns", action="store_true", help="do not look up reverse DNS names")
    sources.add_argument("--daily", action="store_true", help="also list each reporter's days")
    sources.add_argument("--json", action="store_true")
    sources.set_defaults(handler=run_sources)


def _days(text: str) -> int:
    # An argument mistake: one line with status 2, like every other bad option value.
    try:
        days = int(text)
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"write a number of days from 1 to {MAX_DAYS}, e.g. 30")
    return days


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def run_import(args: argparse.Namespace) -> int:
    from postdesk.core import dmarcreports
    from postdesk.core.store import open_store

    results = dmarcreports.import_files(open_store(), args.files)
    if args.json:
        print_json([result.as_dict() for result in results])
    else:
        for result in results:
            if result.status == "refused":
                print(f"{result.source}: refused — {result.message}")
            else:
                print(
                    f"{result.source}: {result.message} — {result.org_name}, report "
                    f"{result.report_id} for {result.policy_domain}, "
                    f"{result.messages:,} message{'' if result.messages == 1 else 's'}"
                )
    return 1 if any(result.status == "refused" for result in results) else 0


def run_sources(args: argparse.Namespace) -> int:
    import asyncio

    from postdesk.core import dmarcreports
    from postdesk.core.domainname import to_a_label
    from postdesk.core.store import open_store

    domain = to_a_label(args.domain)
    store = open_store()
    if not args.no_rdns:
        from postdesk.core.dnscheck.resolver import make_client

        asyncio.run(dmarcreports.resolve_sources(store, domain, make_client()))
    view = dmarcreports.who_sends(store, domain, args.days)
    if args.json:
        print_json(view.as_dict())
        return 0
    if not view.sources and view.latest_day is not None:
        back = (dt.datetime.now(dt.UTC).date() - view.latest_day).days + 1
        print(
            f"No DMARC reports for {domain} in the last {_plural(args.days, 'day')}; the newest "
            f"covers {view.latest_day}. See it with: postdesk dmarc sources {domain} --days "
            f"{min(back, MAX_DAYS)}"
        )
        return 0
    if not view.sources:
        print(
            f"No DMARC reports for {domain} in the last {_plural(args.days, 'day')}. Receivers "
            "send them to the rua address of the domain's DMARC record; import saved ones with "
            "`postdesk dmarc import FILE`."
        )
        return 0
    print(
        f"{domain}: {_plural(view.messages, 'message')} in {_plural(view.reports, 'report')}, "
        f"last {_plural(args.days, 'day')}"
    )
    print_table(
        ["SOURCE IP", "NAME", "MESSAGES", "DMARC PASS", "SPF ALIGNED", "DKIM ALIGNED", "REPORTERS"],
        [
            [
                s.source_ip,
                s.ptr or "—",
                f"{s.messages:,}",
                f"{s.pass_rate:.0%}",
                f"{s.spf_aligned:,}",
                f"{s.dkim_aligned:,}",
                ", ".join(s.reporters),
            ]
            for s in view.sources
        ],
    )
    if args.daily:
        print()
        print_table(
            ["DAY", "REPORTER", "SOURCE IP", "MESSAGES", "DMARC PASS", "DISPOSITION"],
            [
                [
                    r.day.isoformat(),
                    r.reporter,
                    r.source_ip,
                    r.messages,
                    r.dmarc_pass,
                    r.disposition,
                ]
                for r in view.daily
            ],
        )
    return 0
