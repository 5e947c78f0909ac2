"""``postdesk suppress``: the workspace's one suppression list (add, remove, list, CSV)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from postdesk.cli.output import print_json, print_table
from postdesk.core.errors import UserError

BY = "command line"  # who, in the audit log


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "suppress", help="the suppression list: addresses that get no more mail"
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="stop all mail to an address")
    add.add_argument("address")
    add.add_argument(
        "--reason",
        default="manual",
        choices=("manual", "hard_bounce", "complaint", "unsubscribe"),
    )
    add.add_argument("--note", default="", help="why, for whoever reads the list later")
    add.add_argument("--domain", help="only for this dedicated domain's mail")
    add.set_defaults(handler=run_add)

    remove = sub.add_parser("remove", help="let mail go to an address again (audited)")
    remove.add_argument("address")
    remove.add_argument("--domain", help="the entry for this domain only")
    remove.set_defaults(handler=run_remove)

    listing = sub.add_parser("list", help="the list, newest first")
    listing.add_argument("--reason", choices=("manual", "hard_bounce", "complaint", "unsubscribe"))
    listing.add_argument("--search", help="part of an address")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_list)

    imports = sub.add_parser(
        "import", help="add addresses from a CSV file: address[,reason[,note]]"
    )
    imports.add_argument("file")
    imports.set_defaults(handler=run_import)

    export = sub.add_parser("export", help="write the list as CSV (to standard output by default)")
    export.add_argument("file", nargs="?")
    export.set_defaults(handler=run_export)


def _store():  # type: ignore[no-untyped-def]
    from postdesk.core.store import open_store

    return open_store()


def _where(scope: str) -> str:
    return f" for mail from {scope}" if scope else ""


def _scope_words(scope: str) -> str:
    return f"for mail from {scope}" if scope else "for every domain"


def run_add(args: argparse.Namespace) -> int:
    from postdesk.core import suppression

    store = _store()
    scope = suppression.scope_for(store, args.domain)
    address = suppression.normalize(args.address)
    added = suppression.add(store, address, reason=args.reason, note=args.note, scope=scope, by=BY)
    if added:
        print(f"Suppressed {address}{_where(scope)}: the relay refuses it from now on.")
    else:
        print(f"{address} was already on the suppression list{_where(scope)}.")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from postdesk.core import suppression

    store = _store()
    scope = suppression.scope_for(store, args.domain)
    if not suppression.remove(store, args.address, scope, by=BY):
        address = args.address.strip().lower()
        # Listed under another scope (for one domain, or for all): say which, and how.
        others = [
            e.scope
            for e in suppression.list_entries(store, search=address)
            if e.address == address and e.scope != scope
        ]
        if others:
            flag = f" --domain {others[0]}" if others[0] else ""
            raise UserError(
                "suppression.other_scope",
                f"{address} is suppressed {_scope_words(others[0])}, not {_scope_words(scope)}.",
                f"Remove that entry with: postdesk suppress remove {address}{flag}",
            )
        raise UserError(
            "suppression.not_listed",
            f"{address} is not on the suppression list{_where(scope)}.",
            "See who is with: postdesk suppress list --search PART",
        )
    print(f"Removed {args.address.strip().lower()}{_where(scope)}: mail to it goes out again.")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from postdesk.core import suppression

    entries = suppression.list_entries(_store(), search=args.search, reason=args.reason)
    rows = [
        {
            "address": e.address,
            "reason": e.reason,
            "scope": e.scope,
            "created_at": e.created_at.isoformat(timespec="seconds"),
            "detail": e.detail,
            "message_id": e.message_id,
        }
        for e in entries
    ]
    if args.json:
        print_json({"suppressions": rows})
        return 0
    if not rows:
        print("No suppressed addresses" + (" match." if args.search or args.reason else "."))
        return 0
    print_table(
        ["ADDRESS", "REASON", "DOMAIN", "SINCE", "DETAIL"],
        [
            [
                r["address"],
                r["reason"],
                r["scope"] or "all",
                str(r["created_at"])[:16].replace("T", " "),
                _short(str(r["detail"])),
            ]
            for r in rows
        ],
    )
    print(f"{len(rows)} suppressed")
    return 0


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_import(args: argparse.Namespace) -> int:
    from postdesk.core import suppression

    path = Path(args.file)
    text = _read(path)
    result = suppression.import_csv(_store(), text, by=BY)
    if not (result.added or result.already or result.problems):
        raise UserError(
            "suppression.empty_file",
            f"{path} holds no addresses.",
            "Write one address per line, optionally with a reason and a note: "
            "address,reason,note (a header line naming the columns is allowed).",
        )
    for number, message in result.problems:
        print(f"{path}, line {number}: {message}", file=sys.stderr)
    if result.problems:
        print(
            "Correct those lines and import the file again: addresses already listed are skipped.",
            file=sys.stderr,
        )
    print(
        f"Imported {result.added} address{'es' if result.added != 1 else ''}"
        f" ({result.already} already listed, {len(result.problems)} bad line"
        f"{'s' if len(result.problems) != 1 else ''})."
    )
    return 1 if result.problems else 0


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(
            "suppression.no_file", f"There is no file {path}.", "Check the path."
        ) from None
    except UnicodeDecodeError:
        raise UserError(
            "suppression.not_text",
            f"{path} is not a UTF-8 text file.",
            "Save it as CSV (UTF-8) with one address per line.",
        ) from None
    except OSError as exc:
        raise UserError(
            "suppression.unreadable", f"Cannot read {path}: {exc.strerror}.", "Check the path."
        ) from None


def run_export(args: argparse.Namespace) -> int:
    from postdesk.core import suppression

    text = suppression.export_csv(_store())
    if not args.file:
        sys.stdout.write(text)
        return 0
    path = Path(args.file)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(
            "suppression.unwritable",
            f"Cannot write {path}: {exc.strerror}.",
            "Choose a folder you can write to.",
        ) from None
    print(f"Wrote {text.count(chr(10)) - 1} addresses to {path}.")
    return 0
