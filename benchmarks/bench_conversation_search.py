"""Conversations search over 100,000 received messages, in SQLite (FTS5) and PostgreSQL.

Fills one receiving domain with ``--messages`` messages (in 25,000 threads, from 5,000 senders;
bodies of ~80 words drawn Zipf-like from a 20,000-word vocabulary, so a few words are in most
messages and most words in a few) through the models, so the search objects are kept up to date
by the database exactly as when mail arrives (SQLite's FTS5 table by triggers, PostgreSQL's
stored tsvector column and its GIN index by the database itself). Then times what the
Conversations tab and ``postdesk conversations search`` do: ``conversations.search`` (newest 50
hits) for a rare word, a common word, two words together, a sender's address and the start of a
word being typed, and the tab's thread list narrowed by a search (``list_threads(search=…)``).
Median and 95th percentile of ``--runs`` runs each (a different word or sender every run),
against the 100 ms target. Not a test: figures vary with the machine.

    PYTHONPATH=src:tests .venv/bin/python benchmarks/bench_conversation_search.py
        [--messages 100000] [--runs 50] [--sqlite-only]

PostgreSQL: a throwaway cluster from the Debian server packages (as the test suite starts one),
started on a free loopback port and removed afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable

from support.services import postgres_cluster

TARGET_MS = 100.0
VOCABULARY = 20_000
SENDERS = 5_000
THREADS = 25_000
WORDS_PER_BODY = 80
CHUNK = 5_000
DOMAIN = "shop.test"
# Frequent words of business mail: the head of the distribution.
_COMMON_TEXT = (
    "the to and of a in for is on you your we with this that be order please thank "
    "invoice delivery account payment help support question time price customer "
    "address number shipping return refund product today week"
)
_SYLLABLE_TEXT = "ka lo mi ne ru sa ti vo pe da gri tan mor lis ven qua zel dor fen hal"
COMMON = _COMMON_TEXT.split()
_SYLLABLES = _SYLLABLE_TEXT.split()


def _word(n: int) -> str:
    if n < len(COMMON):
        return COMMON[n]
    parts, n = [], n - len(COMMON) + 1
    while n:
        n, digit = divmod(n, len(_SYLLABLES))
        parts.append(_SYLLABLES[digit])
    return "".join(parts)


def _sender(n: int) -> tuple[str, str]:
    first = ("Anna", "Ben", "Chen", "Dara", "Emil", "Fatima", "Goran", "Hana", "Ivo", "Jana")
    last = _word(len(COMMON) + 7 * n + 3).capitalize()
    address = f"{first[n % len(first)].lower()}.{last.lower()}{n}@client{n % 97}.test"
    return f"{first[n % len(first)]} {last} <{address}>", address


def fill(store, messages: int, rng: random.Random) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """The domain, its threads and messages; returns words by how often they occur."""
    from sqlalchemy import insert

    from postdesk.core.store.models import (
        DedicatedDomain,
        InboundMessage,
        InboundThread,
        utcnow,
    )

    ranks = list(range(VOCABULARY))
    # Zipf: the word at rank r is 1/r as frequent as the first (cumulative, summed once)
    cumulative = list(itertools.accumulate(1.0 / (r + 1) for r in ranks))
    senders: set[str] = set()
    start = utcnow() - dt.timedelta(days=365)
    with store.session() as s:
        domain = DedicatedDomain(name=DOMAIN, ownership_token="t", status="verified")
        s.add(domain)
        s.flush()
        domain_id = domain.id
        s.execute(
            insert(InboundThread),
            [
                {"domain_id": domain_id, "subject": f"Thread {t}", "last_at": start,
                 "message_count": 0, "unread_count": 0}
                for t in range(THREADS)
            ],
        )  # fmt: skip
    counts = [0] * VOCABULARY
    done = 0
    while done < messages:
        rows = []
        for i in range(done, min(done + CHUNK, messages)):
            picked = rng.choices(ranks, cum_weights=cumulative, k=WORDS_PER_BODY)
            for r in set(picked):
                counts[r] += 1
            name, address = _sender(rng.randrange(SENDERS))
            senders.add(address)
            rows.append(
                {
                    "domain_id": domain_id,
                    "thread_id": 1 + rng.randrange(THREADS),
                    "received_at": start + dt.timedelta(seconds=i * 300),
                    "rcpt_tos": ["support@shop.test"],
                    "from_header": name,
                    "to_header": "support@shop.test",
                    "subject": " ".join(_word(r) for r in picked[:6]).capitalize(),
                    "body_text": " ".join(_word(r) for r in picked),
                    "raw": b"",
                    "size": 0,
                }
            )
        with store.session() as s:
            s.execute(insert(InboundMessage), rows)
        done += len(rows)
    with store.engine.connect() as conn:  # fresh statistics, as autovacuum would make
        if store.dialect == "sqlite":
            conn.exec_driver_sql("INSERT INTO inbound_fts(inbound_fts) VALUES ('optimize')")
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    by_share: dict[str, list[str]] = {"rare": [], "common": [], "medium": [], "sender": []}
    by_share["sender"] = sorted(senders)
    for rank, n in enumerate(counts):
        share = n / messages
        if share > 0.2:
            by_share["common"].append(_word(rank))
        elif 0.005 < share < 0.05:
            by_share["medium"].append(_word(rank))
        elif 3 <= n <= 30:
            by_share["rare"].append(_word(rank))
    return by_share


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


def cases(store, words: dict[str, list[str]], rng: random.Random):  # type: ignore[no-untyped-def]
    from postdesk.core import conversations

    def pick(kind: str) -> list[str]:
        return [rng.choice(words[kind]) for _ in range(1000)]

    rare, common, medium = pick("rare"), pick("common"), pick("medium")
    senders = pick("sender")

    def hits(text: Callable[[int], str]) -> Callable[[int], Callable[[], object]]:
        def make(i: int) -> Callable[[], object]:
            query = text(i)

            def run() -> object:
                found = conversations.search(store, DOMAIN, query)
                if not found:
                    raise SystemExit(f"no hit for {query!r}: the benchmark is wrong")
                return found

            return run

        return make

    def thread_list(i: int) -> Callable[[], object]:
        return lambda: conversations.list_threads(store, DOMAIN, search=medium[i], limit=50)

    return {
        "a rare word (3–30 messages)": hits(lambda i: rare[i]),
        "a common word (>20% of messages)": hits(lambda i: common[i]),
        "two words (common + medium)": hits(lambda i: f"{common[i]} {medium[i]}"),
        "a sender's address": hits(lambda i: senders[i]),
        "a word's start, as typed": hits(lambda i: medium[i][:-2]),
        "thread list narrowed by a word": thread_list,
    }


def run_backend(name: str, url: str | None, messages: int, runs: int) -> list[list[str]]:
    from postdesk.core.store import open_store

    store = open_store(url)
    rng = random.Random(14)
    begin = time.perf_counter()
    words = fill(store, messages, rng)
    took = time.perf_counter() - begin
    print(f"{name}: {messages:,} messages in {THREADS:,} threads (filled in {took:.0f} s)")
    table = []
    for case, make in cases(store, words, rng).items():
        times = measure(make, runs)
        median, slow = statistics.median(times), p95(times)
        verdict = "within" if slow <= TARGET_MS else "OVER"
        table.append([name, case, f"{median:.1f} ms", f"{slow:.1f} ms", verdict])
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
    headers = ["database", "search", "median", "p95", "target"]
    widths = [max(len(r[i]) for r in [headers, *table]) for i in range(len(headers))]
    for row in [headers, *table]:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


if __name__ == "__main__":
    main()
