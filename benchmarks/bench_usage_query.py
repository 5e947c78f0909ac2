"""How long the usage chart's query takes on a year of data (SQLite).

A year of daily counts for 5 domains × 5 SMTP users (about 9,000 rows) in a fresh workspace; then
``usage.daily_series`` for the 90-day chart and for a whole year, many times each. Prints the
median and the slowest run against the 50 ms target (the chart redraws within one frame budget
of the user's click). Not a test: figures vary with the machine.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_usage_query.py [--runs 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable

TARGET_MS = 50.0
DOMAINS = 5
USERS_PER_DOMAIN = 5
DAYS = 365


def fill(store, end: dt.date) -> int:  # type: ignore[no-untyped-def]
    """A year of counts for every user of every domain; returns the number of usage rows."""
    from postdesk.core.store.models import DailyUsage, DedicatedDomain, SmtpUser

    rng = random.Random(1500)
    rows = 0
    with store.session() as s:
        for d in range(DOMAINS):
            domain = DedicatedDomain(name=f"shop{d}.example", ownership_token="t")
            s.add(domain)
            s.flush()
            for u in range(USERS_PER_DOMAIN):
                user = SmtpUser(domain_id=domain.id, login=f"app{u}", password_hash="!")
                s.add(user)
                s.flush()
                s.add_all(
                    DailyUsage(
                        day=end - dt.timedelta(days=i),
                        bucket=f"user:{user.id}",
                        domain_id=domain.id,
                        smtp_user_id=user.id,
                        sent=rng.randint(0, 60),
                    )
                    for i in range(DAYS)
                )
                rows += DAYS
    return rows


def measure(fn: Callable[[], object], runs: int) -> list[float]:
    """Wall-clock milliseconds of each run, after one warm-up run."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="postdesk-bench-") as home:
        os.environ["POSTDESK_HOME"] = home
        os.environ.pop("POSTDESK_DATABASE_URL", None)
        from postdesk.core import usage
        from postdesk.core.store import open_store

        store = open_store()
        end = usage.utc_day()
        rows = fill(store, end)
        shape = f"{DOMAINS} domains × {USERS_PER_DOMAIN} users × {DAYS} days"
        print(f"SQLite, {rows:,} usage rows ({shape})")
        cases = {
            "chart, 90 days": lambda: usage.daily_series(store, 90, end=end),
            "chart, 365 days": lambda: usage.daily_series(store, 365, end=end),
            "one domain, 90 days": lambda: usage.daily_series(store, 90, end=end, domain_id=1),
            "today's count": lambda: usage.today(store),
        }
        for name, fn in cases.items():
            times = measure(fn, args.runs)
            median = statistics.median(times)
            verdict = "within" if median <= TARGET_MS else "OVER"
            print(
                f"{name:<22} median {median:7.2f} ms   max {max(times):7.2f} ms   "
                f"({verdict} the {TARGET_MS:.0f} ms target, {args.runs} runs)"
            )
        store.close()


if __name__ == "__main__":
    main()
