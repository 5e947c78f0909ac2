"""``postdesk ip``: dedicated sending IPs — reverse DNS, SPF and blocklists."""

from __future__ import annotations

import argparse

from postdesk.cli.output import print_json, print_table
from postdesk.cli.reportout import add_format_option, print_report_as


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ip", help="dedicated IPs: reverse DNS and blocklist checks")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add a dedicated IP")
    add.add_argument("address")
    add.add_argument("--label", default="")
    add.set_defaults(handler=run_add)
    listing = sub.add_parser("list", help="list dedicated IPs and their last check")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_list)
    check = sub.add_parser("check", help="check reverse DNS, SPF and blocklists now")
    check.add_argument("address")
    check.add_argument("--json", action="store_true")
    add_format_option(check)
    check.set_defaults(handler=run_check)
    remove = sub.add_parser("remove", help="forget a dedicated IP")
    remove.add_argument("address")
    remove.set_defaults(handler=run_remove)


def _store():  # type: ignore[no-untyped-def]
    from postdesk.core.store import open_store

    return open_store()


def run_add(args: argparse.Namespace) -> int:
    from postdesk.core import ips

    row = ips.add_ip(_store(), args.address, args.label)
    print(f"Added {row.address}. Check it with: postdesk ip check {row.address}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from postdesk.core.store.lite import read_or_none

    views = read_or_none(lambda lite: lite.ips())
    if views is None:  # not a SQLite workspace at the newest schema: the store opens it
        from postdesk.core import ips

        views = ips.list_ips(_store())
    rows = [
        {
            "address": r.address,
            "label": r.label,
            "status": r.last_status,
            "checked_at": r.last_checked_at.isoformat() if r.last_checked_at else None,
        }
        for r in views
    ]
    if args.json:
        print_json({"ips": rows})
    elif not rows:
        print("No dedicated IPs yet. Add one with: postdesk ip add 203.0.113.25")
    else:
        print_table(
            ["ADDRESS", "LABEL", "STATUS", "CHECKED"],
            [
                [r["address"], r["label"], r["status"] or "not checked", r["checked_at"] or "never"]
                for r in rows
            ],
        )
    return 0


def run_check(args: argparse.Namespace) -> int:
    import asyncio

    from postdesk.core import ips

    report = asyncio.run(ips.check_dedicated_ip(_store(), args.address))
    if args.format:
        from postdesk.core.report import from_ip_report

        print_report_as(from_ip_report(report), args.format)
        return 0 if report.status == "ok" else 1
    if args.json:
        print_json(report.as_dict())
        return 0 if report.status == "ok" else 1
    print(f"{report.ip}: {report.status.upper()}")
    print(
        f"Reverse DNS: {', '.join(report.ptr) or 'none'}"
        f" ({'matches forward' if report.fcrdns else 'does not match forward'})"
    )
    print_table(["BLOCKLIST", "RESULT"], [[b.zone, b.status] for b in report.blocklists])
    for problem in report.problems:
        print(f"\n[{problem.severity}] {problem.code}\n  {problem.message}")
        if problem.fix:
            print(f"  Fix: {problem.fix}")
    return 0 if report.status == "ok" else 1


def run_remove(args: argparse.Namespace) -> int:
    from postdesk.core import ips

    ips.remove_ip(_store(), args.address)
    print(f"Removed {args.address}.")
    return 0
