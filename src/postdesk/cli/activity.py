"""``postdesk activity``: what became of each message Postdesk sent, and one message in full."""

from __future__ import annotations

import argparse
import datetime as dt
import textwrap

from postdesk.cli.output import print_json, print_table

SUBJECT_WIDTH = 40
DETAIL_WIDTH = 90
INDENT = "    "
DATE_HINT = "write a date as 2026-11-29, or a time as 2026-11-29T14:30 (UTC unless +HH:MM)"


def _when(text: str, *, end_of_day: bool) -> dt.datetime:
    try:
        if len(text.strip()) == 10:  # a date alone: the whole day counts
            day = dt.date.fromisoformat(text.strip())
            start = dt.datetime.combine(day, dt.time(), dt.UTC)
            return start + dt.timedelta(days=1) if end_of_day else start
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a date; {DATE_HINT}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _since(text: str) -> dt.datetime:
    return _when(text, end_of_day=False)


def _until(text: str) -> dt.datetime:
    return _when(text, end_of_day=True)


def _status(text: str) -> str:
    from postdesk.core.activity.views import STATUSES

    wanted = text.strip().lower()
    if wanted not in STATUSES:
        raise argparse.ArgumentTypeError(
            f"{text[:30]!r} is not a status; use one of {', '.join(STATUSES)}"
        )
    return wanted


def _limit(text: str) -> int:
    from postdesk.core.activity.views import MAX_LIMIT

    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"write a number from 1 to {MAX_LIMIT}, e.g. --limit 100")
    return int(text)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "activity",
        help="what became of each message sent: accepted, handed over, bounced, opened…",
        description="List messages, newest first (filters combine), or show one: "
        "postdesk activity show ID (the number in the list, or a Message-ID).",
    )
    parser.add_argument("words", nargs="*", metavar="show ID", help="show one message in full")
    parser.add_argument("--domain", help="only this dedicated domain's mail")
    parser.add_argument("--to", help="recipient: a whole address, or part of one (@gmail.com)")
    parser.add_argument("--from", dest="sender", help="sender: a whole address, or part of one")
    parser.add_argument("--subject", help="part of the subject")
    parser.add_argument("--message-id", help="the Message-ID header, or the provider's id")
    parser.add_argument("--status", type=_status, help="e.g. bounced, deferred, delivered, opened")
    parser.add_argument("--since", type=_since, help="from this date or time (ISO, UTC)")
    parser.add_argument("--until", type=_until, help="up to this date (inclusive) or time")
    parser.add_argument("--limit", type=_limit, default=50, help="how many (default 50)")
    parser.add_argument("--offset", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    words = list(args.words)
    if words and (words[0] != "show" or len(words) != 2):
        args.parser.error(
            "write 'postdesk activity [--to ADDR …]' to list, or 'postdesk activity show ID'"
        )
    from postdesk.core.store import open_store

    store = open_store()
    if words:
        return _show(store, words[1], args.json)
    return _list(store, args)


def _list(store, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from postdesk.core import activity

    query = activity.ActivityQuery(
        domain=args.domain,
        recipient=args.to,
        sender=args.sender,
        subject=args.subject,
        message_id=args.message_id,
        status=args.status,
        since=args.since,
        until=args.until,
        limit=args.limit,
        offset=max(0, args.offset),
    )
    rows = activity.search(store, query)
    if args.json:
        print_json([row.as_dict() for row in rows])
        return 0
    if not rows:
        print("No messages match.")
        return 0
    print_table(
        ["ID", "TIME (UTC)", "STATUS", "FROM", "TO", "SUBJECT", "CLASS"],
        [
            [
                row.id,
                _time(row.accepted_at),
                row.status + (" !" if row.critical else ""),
                row.mail_from,
                _recipients(row),
                _cut(row.subject, SUBJECT_WIDTH),
                row.bounce_class or "",
            ]
            for row in rows
        ],
    )
    return 0


def _show(store, key: str, as_json: bool) -> int:  # type: ignore[no-untyped-def]
    from postdesk.core import activity

    detail = activity.message_detail(store, key)
    if as_json:
        print_json(detail.as_dict())
        return 0
    row = detail.row
    facts = [
        ("Message", f"{row.id}  {row.message_id_header}"),
        ("Subject", row.subject),
        ("From", row.mail_from),
        ("Domain", row.domain),
        ("Sent by", detail.smtp_user or ("a test send" if row.source == "test" else row.source)),
        ("Accepted", _time(row.accepted_at) + " UTC"),
        ("Status", f"{row.status} (queue: {detail.queue_status}, {_attempts(detail.attempts)})"),
        ("Provider id", detail.provider_message_id or "—"),
        ("Critical", "yes" if row.critical else "no"),
    ]
    if row.bounce_class:
        facts.append(("Bounce class", row.bounce_class))
    for name, value in facts:
        print(f"{name + ':':<14}{value}")
    print()
    # The reason and each event's detail (the upstream's whole reply) are support's evidence:
    # they go on their own wrapped lines, never cut to fit a column.
    _print_with_details(
        ["RECIPIENT", "STATUS", "CLASS"],
        [([r.address, r.status, r.bounce_class or ""], r.reason) for r in row.recipients],
    )
    print()
    _print_with_details(
        ["TIME (UTC)", "EVENT", "RECIPIENT", "FROM", "CLASS"],
        [
            (
                [_time(e.at, seconds=True), e.kind, e.recipient or "", e.source,
                 e.bounce_class or ""],
                e.detail,
            )
            for e in detail.timeline
        ],
    )  # fmt: skip
    print()
    print("Headers:")
    for name, value in detail.headers:
        print(f"  {name}: {_cut(value, 200)}")
    return 0


def _attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


def _print_with_details(headers: list[str], rows: list[tuple[list[str], str]]) -> None:
    """A table whose rows are each followed by their long text, indented and wrapped."""
    widths = [max([len(h), *(len(cells[i]) for cells, _ in rows)]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for cells, text in rows:
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
        text = " ".join((text or "").split())
        if text:
            print(
                textwrap.fill(
                    text,
                    DETAIL_WIDTH,
                    initial_indent=INDENT,
                    subsequent_indent=INDENT,
                    # an address, a URL or an enhanced code stays whole, to be copied
                    break_long_words=False,
                    break_on_hyphens=False,
                )
            )


def _time(at: dt.datetime, *, seconds: bool = False) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def _recipients(row) -> str:  # type: ignore[no-untyped-def]
    first = row.recipients[0].address if row.recipients else ""
    more = len(row.recipients) - 1
    return f"{first} +{more}" if more > 0 else first


def _cut(text: str, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"
