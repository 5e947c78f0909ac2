"""``postdesk smtp-user``: the logins apps use to send for a verified domain."""

from __future__ import annotations

import argparse

from postdesk.cli.output import print_json, print_table, read_password_stdin


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("smtp-user", help="SMTP users of a verified domain (at most 5)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    create = sub.add_parser("create", help="create a login; the password is printed once")
    create.add_argument("domain")
    create.add_argument("login")
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="use the password given on standard input instead of a generated one",
    )
    create.add_argument(
        "--service", metavar="NAME", help="send through this service instead of the domain's"
    )
    create.add_argument("--json", action="store_true")
    create.set_defaults(handler=run_create)

    edit = sub.add_parser("edit", help="choose the service a login sends through")
    edit.add_argument("domain")
    edit.add_argument("login")
    sends = edit.add_mutually_exclusive_group(required=True)
    sends.add_argument("--service", metavar="NAME", help="send through this service")
    sends.add_argument(
        "--service-default", action="store_true", help="send through the domain's service again"
    )
    edit.add_argument("--json", action="store_true")
    edit.set_defaults(handler=run_edit)

    listing = sub.add_parser("list", help="list a domain's SMTP users")
    listing.add_argument("domain")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_list)

    reset = sub.add_parser("reset-password", help="give a login a new password (printed once)")
    reset.add_argument("domain")
    reset.add_argument("login")
    reset.add_argument(
        "--password-stdin",
        action="store_true",
        help="use the password given on standard input instead of a generated one",
    )
    reset.add_argument("--json", action="store_true")
    reset.set_defaults(handler=run_reset)

    delete = sub.add_parser("delete", help="delete a login; sending with it stops at once")
    delete.add_argument("domain")
    delete.add_argument("login")
    delete.set_defaults(handler=run_delete)


def _store():  # type: ignore[no-untyped-def]
    from postdesk.core.store import open_store

    return open_store()


def _show_new(made, args: argparse.Namespace, verb: str) -> None:  # type: ignore[no-untyped-def]
    # A password the user typed is never echoed back (it would land in terminal scroll-back and
    # logs of scripts); only a generated one is shown, once, because nobody knows it otherwise.
    generated = not args.password_stdin
    if args.json:
        data = {"login": made.login, "username": made.username, "password_generated": generated}
        if generated:
            data["password"] = made.password
        print_json(data)
        return
    print(f"{verb} {made.username}")
    if generated:
        print(f"Password: {made.password}")
        print("Copy it now: Postdesk will not show it again.")
    else:
        print("Password: the one given on standard input (not shown).")


def run_create(args: argparse.Namespace) -> int:
    from postdesk.core import credentials

    password = read_password_stdin() if args.password_stdin else None
    made = credentials.create_smtp_user(
        _store(), args.domain, args.login, password, service=args.service
    )
    _show_new(made, args, "Created")
    return 0


def run_edit(args: argparse.Namespace) -> int:
    from postdesk.core import routing

    change = routing.set_user_service(
        _store(), args.domain, args.login, None if args.service_default else args.service
    )
    if args.json:
        print_json(
            {
                "username": change.username,
                "service": change.service,
                "spf_include": change.spf_include,
            }
        )
        return 0
    if change.service is None:
        print(f"{change.username} sends through the domain's service.")
        return 0
    print(f"{change.username} sends through {change.service}.")
    if change.spf_include:
        print(
            f"The domain's SPF record must include {change.spf_include} too: see "
            f"postdesk domain records {args.domain}, then postdesk domain verify {args.domain}."
        )
    return 0


def run_reset(args: argparse.Namespace) -> int:
    from postdesk.core import credentials

    password = read_password_stdin() if args.password_stdin else None
    made = credentials.reset_password(_store(), args.domain, args.login, password)
    _show_new(made, args, "New password for")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from postdesk.core.domainname import canonical
    from postdesk.core.store.lite import MAX_USERS_PER_DOMAIN, read_or_none

    users = read_or_none(lambda lite: lite.smtp_users(args.domain))
    if users is None:  # not a SQLite workspace at the newest schema: the store opens it
        from postdesk.core import credentials

        users = credentials.list_smtp_users(_store(), args.domain)
    name = canonical(args.domain)
    limit = MAX_USERS_PER_DOMAIN
    rows = [
        {
            "login": u.login,
            "username": f"{u.login}@{name}",
            "created_at": u.created_at.isoformat(),
            "last_used_at": u.last_used_at.isoformat() if u.last_used_at else None,
            "service": u.service,
        }
        for u in users
    ]
    if args.json:
        print_json({"domain": name, "limit": limit, "smtp_users": rows})
        return 0
    if not rows:
        print(
            f"{name} has no SMTP users yet. Create one with: postdesk smtp-user create {name} LOGIN"
        )
        return 0
    print_table(
        ["LOGIN", "USERNAME", "CREATED", "LAST USED", "SENDS THROUGH"],
        [
            [
                r["login"],
                r["username"],
                str(r["created_at"])[:16].replace("T", " "),
                str(r["last_used_at"] or "never")[:16].replace("T", " "),
                r["service"] or "the domain's service",
            ]
            for r in rows
        ],
    )
    print(f"{len(rows)} of {limit} SMTP users")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    from postdesk.core import credentials

    credentials.delete_smtp_user(_store(), args.domain, args.login)
    print(f"Deleted {args.login}: it can no longer send. Its history and statistics stay.")
    return 0
