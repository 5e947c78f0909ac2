"""``postdesk reply``: answer a conversation from an address on its domain."""

from __future__ import annotations

import argparse
import sys

from postdesk.cli.output import print_json

MAX_BODY_BYTES = 1_000_000


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "reply", help="reply to a conversation (plain text read from standard input)"
    )
    parser.add_argument("thread", type=int, metavar="THREAD_ID")
    parser.add_argument("--from", dest="sender", required=True, metavar="ADDRESS")
    parser.add_argument(
        "--body-stdin", action="store_true", required=True, help="read the reply's text from stdin"
    )
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)


def _body() -> str:
    from postdesk.core.errors import UserError

    raw = sys.stdin.buffer.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise UserError("reply.too_long", "The reply is too long.", "Keep it under 1 MB.")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(
            "reply.encoding", "The reply on standard input is not UTF-8 text.", ""
        ) from None


def run(args: argparse.Namespace) -> int:
    from postdesk.core import replies
    from postdesk.core.store import open_store

    sent = replies.send_reply(open_store(), args.thread, args.sender, _body())
    if args.json:
        print_json(sent.as_dict())
    else:
        print(f"Reply to {sent.to} queued: {sent.subject}")
        # The activity's number of a message is its queue number.
        print(f"Follow its delivery with: postdesk activity show {sent.queue_id}")
    return 0
