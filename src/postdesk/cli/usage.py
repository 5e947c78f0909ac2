"""``postdesk usage``: today's count against the daily limit, and the last days."""

from __future__ import annotations

import argparse

from postdesk.cli.output import print_json, print_table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("usage", help="emails sent per day against the 1,500/day limit")
    parser.add_argument("--days", type=int, default=7, help="how many days (default 7)")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")
    parser.set_defaults(handler=run)


def _read_lite(lite, days: int):  # type: ignore[no-untyped-def]
    today = lite.today()
    return today, lite.daily_series(days, end=today.date)


def run(args: argparse.Namespace) -> int:
    from postdesk.core import usageday as usage
    from postdesk.core.errors import UserError
    from postdesk.core.store.lite import read_or_none

    if not 1 <= args.days <= 3660:
        raise UserError(
            "usage.days", f"--days must be between 1 and 3660, not {args.days}.", "Try --days 30."
        )
    read = read_or_none(lambda lite: _read_lite(lite, args.days))
    if read is None:  # not a SQLite workspace at the newest schema: the store opens it
        from postdesk.core import usage as counts
        from postdesk.core.store import open_store

        store = open_store()
        today = counts.today(store)
        series = counts.daily_series(store, args.days, end=today.date)
    else:
        today, series = read
    if args.csv:
        print(usage.series_csv(series), end="")
    elif args.json:
        print_json(
            {
                "limit": today.limit,
                "today": today.as_dict(),
                "days": [{"date": d.isoformat(), "sent": n} for d, n in series],
            }
        )
    else:
        reset = usage.next_reset().astimezone().strftime("%H:%M %Z")
        print(
            f"Today: {today.sent:,} / {today.limit:,} — {today.remaining:,} left "
            f"({today.level}); resets at 00:00 UTC ({reset} local)"
        )
        print_table(["DATE", "SENT"], [[d.isoformat(), f"{n:,}"] for d, n in series])
    return 0
