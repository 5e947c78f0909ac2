"""``postdesk conversations``: received mail by thread — list, show, search.

Everything printed here was written by strangers: subjects, names and bodies are shown with
control characters escaped, so a message can never move the cursor, recolour or rewrite the
terminal. HTML is shown as its text; attachments are listed, never opened.
"""

from __future__ import annotations

import argparse

from postdesk.cli.output import print_json, print_table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "conversations", help="mail received for your domains, by thread: list, show, search"
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = sub.add_parser("list", help="threads, newest activity first")
    listing.add_argument("--domain", metavar="D", help="only this domain's threads")
    listing.add_argument("--unread", action="store_true", help="only threads with unread mail")
    listing.add_argument("--limit", type=int, default=50, help="how many threads (default 50)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_list)

    show = sub.add_parser("show", help="a thread's messages: headers, verdicts, text")
    show.add_argument("thread_id", type=_thread_id, metavar="THREAD_ID")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=run_show)

    search = sub.add_parser(
        "search", help="messages whose sender, recipients, subject or text match"
    )
    search.add_argument("text", type=_search_text, metavar="TEXT")
    search.add_argument("--domain", metavar="D", help="only this domain's messages")
    search.add_argument("--json", action="store_true")
    search.set_defaults(handler=run_search)


def _thread_id(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(
            "use a number from the ID column of 'postdesk conversations list', e.g. 12"
        )
    return int(text)


def _search_text(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("type a word to look for, e.g. invoice")
    return text


def _store():  # type: ignore[no-untyped-def]
    from postdesk.core.store import open_store

    return open_store()


def _line(text: str) -> str:
    """One line of untrusted text, safe for a terminal."""
    from postdesk.core.validation import escape_input

    return escape_input(text.replace("\t", "    "))


def _cell(text: str, width: int) -> str:
    """``text`` as one table cell of at most ``width`` characters, cut with an ellipsis."""
    line = _line(text)
    return line if len(line) <= width else line[: width - 1] + "…"


def _when(moment) -> str:  # type: ignore[no-untyped-def]
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def run_list(args: argparse.Namespace) -> int:
    from postdesk.core import conversations
    from postdesk.core.errors import UserError

    if not 1 <= args.limit <= 10_000:
        raise UserError(
            "conversations.limit",
            f"--limit must be between 1 and 10000, not {args.limit}.",
            "Try --limit 100.",
        )
    store = _store()
    threads = conversations.list_threads(
        store, args.domain, unread_only=args.unread, limit=args.limit
    )
    if args.json:
        print_json(
            [
                {
                    "id": t.id,
                    "domain": t.domain,
                    "subject": t.subject,
                    "last_at": t.last_at.isoformat(),
                    "messages": t.message_count,
                    "unread": t.unread_count,
                    "last_from": t.last_from,
                    "correspondent": t.correspondent or None,
                    "snippet": t.snippet,
                }
                for t in threads
            ]
        )
        return 0
    if not threads:
        print("No conversations yet." if not args.unread else "No unread conversations.")
        _say_how_to_receive(store, args.domain)
        return 0
    print_table(
        ["ID", "LAST", "DOMAIN", "FROM", "MESSAGES", "UNREAD", "SUBJECT"],
        [
            [
                t.id,
                _when(t.last_at),
                t.domain,
                _cell(t.correspondent or t.last_from, 40),
                t.message_count,
                t.unread_count or "",
                _cell(t.subject, 70),
            ]
            for t in threads
        ],
    )
    return 0


def _message_json(m) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {
        "id": m.id,
        "direction": m.direction,
        "received_at": m.received_at.isoformat(),
        "from": m.from_header,
        "to": m.to_header,
        "cc": m.cc_header,
        "date": m.date_header,
        "subject": m.subject,
        "message_id": m.message_id,
        "mail_from": m.mail_from,
        "remote_ip": m.remote_ip,
        "verdicts": m.verdicts,
        "unread": m.unread,
        "text": m.text,
        "has_html": bool(m.html),
        "remote_images_blocked": m.remote_images_blocked,
        "attachments": [
            {
                "number": a.index + 1,
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
            }
            for a in m.attachments
        ],
    }


def _say_how_to_receive(store, domain: str | None) -> None:  # type: ignore[no-untyped-def]
    """When nothing is listed because no mail can arrive, the command that changes that."""
    from postdesk.core.inbound.reception import not_receiving

    name = not_receiving(store, domain)
    if name:
        print(
            f"{name} does not receive mail yet; turn it on with: "
            f"postdesk domain reception {name} --on"
        )
    elif name == "":
        print(
            "None of your domains receives mail yet; turn it on with: "
            "postdesk domain reception DOMAIN --on"
        )


def run_show(args: argparse.Namespace) -> int:
    from postdesk.core import conversations

    thread = conversations.get_thread(_store(), args.thread_id)
    if args.json:
        print_json(
            {
                "id": thread.id,
                "domain": thread.domain,
                "subject": thread.subject,
                "unread": thread.unread_count,
                "messages": [_message_json(m) for m in thread.messages],
            }
        )
        return 0
    print(f"Conversation {thread.id} on {thread.domain}: {_line(thread.subject)}")
    for m in thread.messages:
        print()
        print("─" * 72)
        when = "sent from Postdesk" if m.direction == "out" else "received"
        print(f"Message {m.id} — {when} {_when(m.received_at)}")
        print(f"From:    {_line(m.from_header)}")
        print(f"To:      {_line(m.to_header)}")
        if m.cc_header:
            print(f"Cc:      {_line(m.cc_header)}")
        print(f"Subject: {_line(m.subject)}")
        if m.direction == "in":
            print(f"Checks:  SPF {m.spf} · DKIM {m.dkim} · DMARC {m.dmarc}")
        for a in m.attachments:
            print(f"Attached: {a.index + 1}. {_line(a.filename)} ({a.content_type}, {a.size:,} B)")
        print()
        for line in (m.text or "(no text)").splitlines():
            print(_line(line))
    return 0


def run_search(args: argparse.Namespace) -> int:
    from postdesk.core import conversations

    hits = conversations.search(_store(), args.domain, args.text)
    if args.json:
        print_json(
            [
                {
                    "message_id": h.message_id,
                    "thread_id": h.thread_id,
                    "received_at": h.received_at.isoformat(),
                    "from": h.from_header,
                    "subject": h.subject,
                    "snippet": h.snippet,
                }
                for h in hits
            ]
        )
        return 0
    if not hits:
        print("No received message matches.")
        return 0
    print_table(
        ["THREAD", "MESSAGE", "RECEIVED", "FROM", "SUBJECT"],
        [
            [
                h.thread_id,
                h.message_id,
                _when(h.received_at),
                _cell(h.from_header, 40),
                _cell(h.subject, 70),
            ]
            for h in hits
        ],
    )
    return 0
