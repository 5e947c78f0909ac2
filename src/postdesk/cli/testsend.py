"""``postdesk test-send``: a test email with the whole SMTP conversation and a verdict."""

from __future__ import annotations

import argparse
import sys

from postdesk.cli.output import print_json
from postdesk.cli.reportout import add_format_option, print_report_as
from postdesk.core.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "test-send", help="send a test email and show the SMTP conversation and a verdict"
    )
    via = parser.add_mutually_exclusive_group(required=True)
    via.add_argument("--service", metavar="NAME", help="send through this SMTP service")
    via.add_argument("--smtp-user", metavar="DOMAIN/LOGIN", help="send as this SMTP user (relay)")
    parser.add_argument("--from", dest="from_addr", required=True, metavar="ADDRESS")
    parser.add_argument("--to", dest="to_addr", required=True, metavar="ADDRESS")
    parser.add_argument("--subject", help="subject (default: Postdesk test email)")
    parser.add_argument("--json", action="store_true")
    add_format_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from postdesk.cli.brief import run_briefly

    return run_briefly(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from postdesk.core import sending
    from postdesk.core.validation import check_field, normalize_email

    # Both addresses are checked before anything connects: a server may accept what no
    # receiver would (a leading dot, two dots in a row, a 1,000-character name).
    email = sending.TestEmail(normalize_email(args.from_addr), normalize_email(args.to_addr))
    if args.subject is not None:
        check_field("The subject", args.subject)
    if args.subject:
        email.subject = args.subject
    live = None if args.json or args.format else _print_line
    result = _send(args, email, live)
    if args.format:
        from postdesk.core.report import from_test_result

        via = args.service or args.smtp_user
        subject = f"{email.from_addr} to {email.to_addr} via {via}"
        print_report_as(from_test_result(result, subject), args.format)
        return 0 if result.ok else 1
    print_result(result, as_json=args.json, transcript_shown=live is not None)
    return 0 if result.ok else 1


def _send(args: argparse.Namespace, email, live):  # type: ignore[no-untyped-def]
    """Through a service on the light path when the workspace allows it (no ORM: most of a
    test send's time would be spent importing it), otherwise through the store."""
    if args.service:
        from postdesk.core import sendlite

        planned = sendlite.plan(args.service, email.from_addr)
        if planned is not None:
            return sendlite.send_through_service(planned, email, on_line=live)
    import asyncio

    return asyncio.run(_send_through_store(args, email, live))


async def _send_through_store(args: argparse.Namespace, email, live):  # type: ignore[no-untyped-def]
    from postdesk.core import sending
    from postdesk.core.store import open_store

    store = open_store()
    if args.service:
        return await sending.send_through_service(store, args.service, email, on_line=live)
    domain, login = _split_user(args.smtp_user)
    return await sending.send_as_smtp_user(store, domain, login, email, on_line=live)


def _split_user(text: str) -> tuple[str, str]:
    from postdesk.core.validation import quote_input

    domain, slash, login = text.partition("/")
    if not slash or not domain or not login:
        raise UserError(
            "test_send.smtp_user",
            f"{quote_input(text)} is not DOMAIN/LOGIN.",
            "Write it like example.com/shop.",
        )
    return domain, login


_ARROWS = {"client": "C:", "server": "S:", "info": "  "}


def _print_line(line) -> None:  # type: ignore[no-untyped-def]
    print(f"{line.ms:>6} ms {_ARROWS.get(line.direction, '  ')} {line.text}", flush=True)


def print_result(result, *, as_json: bool, transcript_shown: bool = False) -> None:  # type: ignore[no-untyped-def]
    """Print a test result: JSON, or the transcript (unless shown live) and the verdict."""
    if as_json:
        print_json(result.as_dict())
        return
    if not transcript_shown:
        for line in result.transcript:
            _print_line(line)
    if result.tls:
        tls = result.tls
        print(
            f"\nTLS: {tls.get('protocol')} {tls.get('cipher')}; certificate for "
            f"{', '.join(tls.get('names') or []) or tls.get('subject')}, expires "
            f"{tls.get('not_after')}; verified: {'yes' if tls.get('verified') else 'no'}"
        )
    verdict = "OK" if result.ok else f"FAILED ({result.category}, at {result.stage})"
    stream = sys.stdout if result.ok else sys.stderr
    print(f"\n{verdict}: {result.advice}", file=stream)
