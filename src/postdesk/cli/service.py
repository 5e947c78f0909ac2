"""``postdesk service``: the upstream SMTP providers."""

from __future__ import annotations

import argparse

from postdesk.cli.output import print_json, print_table, read_password_stdin
from postdesk.core.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("service", help="upstream SMTP services (SendGrid, Mailgun, …)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="add a service (password read with --password-stdin)")
    add.add_argument("name")
    _connection_options(add)
    add.add_argument("--default", action="store_true", help="make it the default service")
    add.add_argument("--json", action="store_true")
    add.set_defaults(handler=run_add)

    listing = sub.add_parser("list", help="list services")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_list)

    edit = sub.add_parser("edit", help="change a service; only given options change")
    edit.add_argument("name")
    edit.add_argument("--rename", metavar="NEW_NAME")
    _connection_options(edit)
    edit.add_argument("--default", action="store_true", help="make it the default service")
    edit.add_argument("--json", action="store_true")
    edit.set_defaults(handler=run_edit)

    remove = sub.add_parser("remove", help="remove a service and its keyring entry")
    remove.add_argument("name")
    remove.set_defaults(handler=run_remove)

    test = sub.add_parser("test", help="connect, TLS, EHLO and AUTH — no message is sent")
    test.add_argument("name")
    test.add_argument("--json", action="store_true")
    test.set_defaults(handler=run_test)

    pin = sub.add_parser("pin", help="trust one certificate of this service by its SHA-256")
    pin.add_argument("name")
    pin.add_argument("sha256", help="the fingerprint shown by 'service test' (AB:CD:…)")
    pin.set_defaults(handler=run_pin)

    unpin = sub.add_parser("unpin", help="stop trusting the pinned certificate")
    unpin.add_argument("name")
    unpin.set_defaults(handler=run_unpin)

    presets = sub.add_parser("presets", help="list the providers Postdesk knows")
    presets.add_argument("--json", action="store_true")
    presets.set_defaults(handler=run_presets)


def _connection_options(parser: argparse.ArgumentParser) -> None:
    from postdesk.core.presets import PRESETS

    parser.add_argument("--preset", choices=sorted(PRESETS), help="fill in a provider's settings")
    parser.add_argument("--region", help="Amazon SES region (e.g. eu-west-1)")
    parser.add_argument("--host")
    parser.add_argument("--port", type=str)
    parser.add_argument("--security", choices=("starttls", "tls", "none"))
    parser.add_argument("--username")
    parser.add_argument("--spf-include", help="the include: your provider asks for in SPF")
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password or API key from standard input",
    )


def _store():  # type: ignore[no-untyped-def]
    from postdesk.core.store import open_store

    return open_store()


def service_dict(service) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """A service as JSON-ready data (no secret: only whether one is stored)."""
    return {
        "name": service.name,
        "preset": service.preset,
        "host": service.host,
        "port": service.port,
        "security": service.security,
        "username": service.username,
        "default": service.is_default,
        "spf_include": service.spf_include,
        "pinned_sha256": service.pinned_sha256,
        "last_test": None
        if service.last_test_at is None
        else {
            "at": service.last_test_at.isoformat(),
            "ok": service.last_test_ok,
            "category": service.last_test_category,
        },
    }


def _form(args: argparse.Namespace, base=None):  # type: ignore[no-untyped-def]
    from postdesk.core.presets import PRESETS
    from postdesk.core.services import ServiceForm

    preset = PRESETS[args.preset] if args.preset else None

    def pick(value, from_preset, from_base, default=""):  # type: ignore[no-untyped-def]
        # An option given on the command line is taken as typed, even empty: `--port ""` is
        # refused rather than silently becoming 587.
        if value is not None:
            return value
        for candidate in (from_preset, from_base):
            if candidate not in (None, ""):
                return candidate
        return default

    return ServiceForm(
        name=getattr(args, "rename", None) or args.name,
        host=pick(args.host, preset and preset.host_for(args.region), base and base.host),
        port=pick(args.port, preset and preset.port, base and base.port, 587),
        security=pick(
            args.security, preset and preset.security, base and base.security, "starttls"
        ),
        username=pick(args.username, preset and preset.fixed_username, base and base.username),
        password=read_password_stdin() if args.password_stdin else None,
        preset=args.preset or (base.preset if base else "custom"),
        spf_include=args.spf_include
        if args.spf_include is not None
        else (None if args.preset or not base else base.spf_include),
        spf_extra=list(base.spf_extra) if base else [],
        make_default=args.default,
    )


def run_add(args: argparse.Namespace) -> int:
    from postdesk.core import services

    form = _form(args)
    check = services.validate_form(form)
    for message in check.warnings.values():
        print(f"Note: {message}")
    if not args.password_stdin:
        raise UserError(
            "service.password",
            "A service needs its password or API key.",
            "Pipe it in and add --password-stdin.",
        )
    service = services.add_service(_store(), form)
    if args.json:
        print_json(service_dict(service))
    else:
        print(f"Added {service.name} ({service.host}:{service.port}, {service.security}).")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from postdesk.core.store.lite import read_or_none

    views = read_or_none(lambda lite: lite.services())
    if views is None:  # not a SQLite workspace at the newest schema: the store opens it
        from postdesk.core import services

        views = services.list_services(_store())
    rows = [service_dict(s) for s in views]
    if args.json:
        print_json({"services": rows})
        return 0
    if not rows:
        print(
            "No SMTP services yet. Add one with: postdesk service add NAME --preset sendgrid "
            "--password-stdin"
        )
        return 0
    print_table(
        ["NAME", "HOST:PORT", "SECURITY", "USERNAME", "DEFAULT", "LAST TEST"],
        [
            [
                r["name"],
                f"{r['host']}:{r['port']}",
                r["security"],
                r["username"],
                "yes" if r["default"] else "",
                _last_test(r["last_test"]),
            ]
            for r in rows
        ],
    )
    return 0


def _last_test(last: object) -> str:
    if not isinstance(last, dict):
        return "never"
    return "ok" if last["ok"] else f"failed ({last['category']})"


def run_edit(args: argparse.Namespace) -> int:
    from postdesk.core import services

    store = _store()
    current = services.get_service(store, args.name)
    service = services.edit_service(store, args.name, _form(args, current))
    if args.json:
        print_json(service_dict(service))
    else:
        print(f"Saved {service.name}.")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from postdesk.core import services

    services.remove_service(_store(), args.name)
    print(f"Removed {args.name} and its stored password.")
    return 0


def run_test(args: argparse.Namespace) -> int:
    import asyncio

    from postdesk.cli.testsend import print_result
    from postdesk.core import sending

    result = asyncio.run(sending.test_service_connection(_store(), args.name))
    print_result(result, as_json=args.json)
    return 0 if result.ok else 1


def run_pin(args: argparse.Namespace) -> int:
    from postdesk.core import services
    from postdesk.core.smtptest import normalize_pin

    fingerprint = normalize_pin(args.sha256)
    services.pin_certificate(_store(), args.name, fingerprint)
    print(f"{args.name} now trusts the certificate with SHA-256 {fingerprint}.")
    print("Remove it with: postdesk service unpin " + args.name)
    return 0


def run_unpin(args: argparse.Namespace) -> int:
    from postdesk.core import services

    services.pin_certificate(_store(), args.name, None)
    print(f"{args.name} no longer trusts a pinned certificate.")
    return 0


def run_presets(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from postdesk.core.presets import PRESETS

    if args.json:
        print_json({"presets": [asdict(p) for p in PRESETS.values()]})
        return 0
    print_table(
        ["PRESET", "PROVIDER", "HOST", "PORT", "SECURITY", "USERNAME", "SPF INCLUDE"],
        [
            [p.key, p.label, p.host, p.port, p.security, p.username_hint, p.spf_include or ""]
            for p in PRESETS.values()
        ],
    )
    return 0
