"""Message activity at a year of a busy shop's mail: 100,000 messages in SQLite and PostgreSQL.

Builds the messages (about 1.3 recipients each, accepted spread over 365 days) with their
recipients and timelines — accepted, signed, handed over, delivered, some deferred, some bounced,
some opened — then times what a support person does: searching by a recipient's address and
listing one day's activity (``activity.search``), and opening one message
(``activity.message_detail``). Median and 95th percentile of ``--runs`` runs each (a different
address, day or message every run), against the 50 ms target. Not a test: figures vary with the
machine.

    PYTHONPATH=src:tests .venv/bin/python benchmarks/bench_activity.py [--messages 100000]
        [--runs 50] [--sqlite-only]

PostgreSQL: a throwaway cluster from the Debian server packages (as the test suite starts one),
started on a free loopback port and removed afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable

from support.services import postgres_cluster

TARGET_MS = 50.0
CUSTOMERS = 40_000  # distinct recipient addresses: repeat customers get several messages
CHUNK = 5_000
DAYS = 365


def _customer(n: int) -> str:
    providers = ("gmail.test", "outlook.test", "yahoo.test", "web.test", "shop-client.test")
    return f"customer{n}@{providers[n % len(providers)]}"


def _recorder(events: list[dict[str, object]], mid: int, at: dt.datetime):  # type: ignore[no-untyped-def]
    """Adds one message's timeline events to ``events``."""

    def event(kind: str, seconds: float, rcpt: str | None = None, **kw: object) -> None:
        events.append(
            {
                "message_id": mid,
                "recipient": rcpt,
                "kind": kind,
                "at": at + dt.timedelta(seconds=seconds),
                "source": kw.get("source", "relay"),
                "detail": kw.get("detail", ""),
                "bounce_class": kw.get("bounce_class"),
            }
        )

    return event


def fill(store, messages: int, end: dt.datetime) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The workspace: one domain, 100k messages with recipients and events; returns counts."""
    from sqlalchemy import insert

    from postdesk.core.store.models import (
        DedicatedDomain,
        MessageEvent,
        MessageRecipient,
        QueuedMessage,
        TrackingEvent,
    )

    rng = random.Random(13)
    with store.session() as s:
        domain = DedicatedDomain(name="shop.example", ownership_token="t", status="verified")
        s.add(domain)
        s.flush()
        domain_id = domain.id
    start = end - dt.timedelta(days=DAYS)
    span = DAYS * 86_400
    counts = {"messages": 0, "recipients": 0, "events": 0, "opens": 0}
    next_id = 1
    while next_id <= messages:
        batch = range(next_id, min(messages, next_id + CHUNK - 1) + 1)
        rows, rcpts, events, opens = [], [], [], []
        for mid in batch:
            # Messages in time order, like a relay fills its queue.
            at = start + dt.timedelta(seconds=span * (mid - 1) / messages + rng.random())
            to = [_customer(rng.randrange(CUSTOMERS))]
            if rng.random() < 0.3:
                to.append(_customer(rng.randrange(CUSTOMERS)))
            to = list(dict.fromkeys(to))
            subject = rng.choice(("Your order", "Shipping update", "Receipt", "News")) + f" {mid}"
            raw = (
                f"From: Shop <orders@shop.example>\r\nTo: {', '.join(to)}\r\n"
                f"Subject: {subject}\r\nMessage-ID: <{mid}.bench@shop.example>\r\n\r\n"
                "Thank you for your order.\r\n"
            ).encode()
            bounced = rng.random() < 0.03
            rows.append(
                {
                    "id": mid,
                    "domain_id": domain_id,
                    "mail_from": "orders@shop.example",
                    "rcpt_tos": to,
                    "subject": subject,
                    "message_id_header": f"<{mid}.bench@shop.example>",
                    "raw": raw,
                    "size": len(raw),
                    "accepted_at": at,
                    "status": "bounced" if bounced else "sent",
                    "attempts": 1,
                    "next_attempt_at": at,
                    "tracking_token": secrets.token_urlsafe(18),
                    "tracking_key": "0" * 64,
                    "sent_at": at,
                    "source": "relay",
                    "critical": False,
                    "provider_message_id": f"Q{mid:08X}",
                    "bounce_class": "hard.unknown_user" if bounced else None,
                }
            )

            event = _recorder(events, mid, at)
            event("accepted", 0, detail="Accepted from SMTP user shop@shop.example")
            event("signed", 0.2, detail="DKIM-signed with selector s1")
            for rcpt in to:
                if rng.random() < 0.05:
                    event(
                        "deferred",
                        0.3,
                        rcpt,
                        source="upstream",
                        bounce_class="soft.greylisted",
                        detail="451 4.7.1 Greylisted, please try again later",
                    )
                event(
                    "handed_over",
                    60 if rcpt else 0.5,
                    rcpt,
                    source="upstream",
                    detail=f"250 2.0.0 Ok: queued as Q{mid:08X}",
                )
                if bounced:
                    event(
                        "bounced",
                        90,
                        rcpt,
                        source="dsn",
                        bounce_class="hard.unknown_user",
                        detail="550 5.1.1 User unknown",
                    )
                    status = "bounced"
                else:
                    event("delivered", 120, rcpt, source="sendgrid")
                    status = "delivered"
                    if rng.random() < 0.3:
                        event("opened", 3600, rcpt, source="tracking")
                        opens.append({"message_id": mid, "kind": "open", "at": at, "remote": None})
                rcpts.append(
                    {
                        "message_id": mid,
                        "address": rcpt,
                        "status": status,
                        "bounce_class": "hard.unknown_user" if bounced else None,
                        "reason": "",
                        "updated_at": at,
                    }
                )
        # Core executemany: one statement per table and chunk.
        with store.engine.begin() as conn:
            conn.execute(insert(QueuedMessage.__table__), rows)
            conn.execute(insert(MessageRecipient.__table__), rcpts)
            conn.execute(insert(MessageEvent.__table__), events)
            if opens:
                conn.execute(insert(TrackingEvent.__table__), opens)
        counts["messages"] += len(rows)
        counts["recipients"] += len(rcpts)
        counts["events"] += len(events)
        counts["opens"] += len(opens)
        next_id = batch[-1] + 1
    if store.dialect == "postgresql":
        with store.engine.connect() as conn:  # fresh statistics, as autovacuum would make
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    else:
        with store.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    return counts


def measure(make: Callable[[int], Callable[[], object]], runs: int) -> list[float]:
    """Milliseconds of each run (run ``i`` asks its own question), after two warm-up runs."""
    make(-1)()
    make(-2)()
    times = []
    for i in range(runs):
        fn = make(i)
        begin = time.perf_counter()
        fn()
        times.append((time.perf_counter() - begin) * 1000)
    return times


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[18]


def cases(store, messages: int, end: dt.datetime):  # type: ignore[no-untyped-def]
    from postdesk.core import activity
    from postdesk.core.activity import ActivityQuery

    rng = random.Random(7)
    customers = [_customer(rng.randrange(CUSTOMERS)) for _ in range(1000)]
    days = [end.date() - dt.timedelta(days=rng.randrange(1, DAYS)) for _ in range(1000)]
    ids = [rng.randrange(1, messages + 1) for _ in range(1000)]

    def by_recipient(i: int) -> Callable[[], object]:
        return lambda: activity.search(store, ActivityQuery(recipient=customers[i]))

    def one_day(i: int) -> Callable[[], object]:
        since = dt.datetime.combine(days[i], dt.time(), dt.UTC)
        query = ActivityQuery(since=since, until=since + dt.timedelta(days=1), limit=1000)
        return lambda: activity.search(store, query)

    def newest_page(i: int) -> Callable[[], object]:
        return lambda: activity.search(store, ActivityQuery(limit=50))

    def bounced_page(i: int) -> Callable[[], object]:
        return lambda: activity.search(store, ActivityQuery(status="bounced", limit=50))

    def part_of_address(i: int) -> Callable[[], object]:
        needle = customers[i].split("@")[0] + "@"
        return lambda: activity.search(store, ActivityQuery(recipient=needle))

    def detail(i: int) -> Callable[[], object]:
        return lambda: activity.message_detail(store, ids[i])

    return {
        "search by recipient (whole address)": (by_recipient, True),
        "one day's activity (~274 messages)": (one_day, True),
        "newest 50": (newest_page, False),
        "newest 50 bounced": (bounced_page, False),
        "search by part of an address": (part_of_address, False),
        "one message's detail": (detail, False),
    }


def run_backend(name: str, url: str | None, messages: int, runs: int) -> list[list[str]]:
    from postdesk.core.store import open_store

    store = open_store(url)
    end = dt.datetime.now(dt.UTC).replace(microsecond=0)
    begin = time.perf_counter()
    counts = fill(store, messages, end)
    took = time.perf_counter() - begin
    print(
        f"{name}: {counts['messages']:,} messages, {counts['recipients']:,} recipients, "
        f"{counts['events']:,} events, {counts['opens']:,} opens (filled in {took:.0f} s)"
    )
    table = []
    print(f"  load average before the queries: {os.getloadavg()[0]:.1f}")
    for case, (make, targeted) in cases(store, messages, end).items():
        times = measure(make, runs)
        median, slow = statistics.median(times), p95(times)
        verdict = ("within" if slow <= TARGET_MS else "OVER") if targeted else "—"
        table.append([name, case, f"{median:.1f} ms", f"{slow:.1f} ms", verdict])
    print(f"  load average after the queries: {os.getloadavg()[0]:.1f}")
    store.close()
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    table: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="postdesk-bench-") as home:
        os.environ["POSTDESK_HOME"] = home
        os.environ.pop("POSTDESK_DATABASE_URL", None)
        table += run_backend("SQLite", None, args.messages, args.runs)
        if not args.sqlite_only:
            with postgres_cluster() as url:
                table += run_backend("PostgreSQL", url, args.messages, args.runs)
    print()
    print(f"{args.runs} runs each; target: 95th percentile under {TARGET_MS:.0f} ms")
    headers = ["database", "query", "median", "p95", "target"]
    widths = [max(len(r[i]) for r in [headers, *table]) for i in range(len(headers))]
    for row in [headers, *table]:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


if __name__ == "__main__":
    main()
