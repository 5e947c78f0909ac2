"""``postdesk doctor``: what Postdesk sees — paths, database, keyring, Qt — for support tickets."""

from __future__ import annotations

import argparse
import os
import platform
import sys

from postdesk import __version__
from postdesk.cli.output import print_json
from postdesk.core.errors import UserError

DEPENDENCIES = (
    "PySide6",
    "qasync",
    "aiosmtplib",
    "dnspython",
    "keyring",
    "SQLAlchemy",
    "alembic",
    "platformdirs",
    "cryptography",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("doctor", help="show paths, database, keyring and Qt details")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=run)


def collect() -> dict[str, object]:
    """Everything doctor reports, as plain data (no secrets)."""
    from postdesk.core import config

    return {
        "version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "frozen": bool(getattr(sys, "frozen", False)),
        "data_dir": str(config.data_dir()),
        "log_dir": str(config.log_dir()),
        "database": _database(config.database_url()),
        "keyring": _keyring(),
        "qt_platform": os.environ.get("QT_QPA_PLATFORM") or "default (chosen by Qt at start)",
        "display": _display(),
        "dependencies": {name: _version(name) for name in DEPENDENCIES},
    }


def _version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _database(url: str) -> dict[str, object]:
    from postdesk.core.config import redact_url

    info: dict[str, object] = {"url": redact_url(url)}
    try:
        from postdesk.core.store import open_store
        from postdesk.core.store.database import current_revision

        store = open_store(url)
        info.update(ok=True, dialect=store.dialect, revision=current_revision(store.engine))
        store.close()
    except UserError as exc:
        info.update(ok=False, problem=str(exc))
    return info


def _keyring() -> dict[str, object]:
    from postdesk.core import secrets

    try:
        return {"backend": secrets.check_backend(), "ok": True}
    except UserError as exc:
        return {"backend": secrets.backend_name(), "ok": False, "problem": str(exc)}


def _display() -> str:
    """Whether the window could open here (the command line works either way)."""
    from postdesk.cli.gui import display_problem

    problem = display_problem(os.environ, sys.platform)
    return "OK" if problem is None else f"PROBLEM — {problem}"


def run(args: argparse.Namespace) -> int:
    report = collect()
    if args.json:
        print_json(report)
    else:
        _print(report)
    database, keyring_info = report["database"], report["keyring"]
    assert isinstance(database, dict) and isinstance(keyring_info, dict)
    return 0 if database["ok"] and keyring_info["ok"] else 1


def _print(report: dict[str, object]) -> None:
    database, keyring_info, deps = report["database"], report["keyring"], report["dependencies"]
    assert isinstance(database, dict) and isinstance(keyring_info, dict) and isinstance(deps, dict)
    lines = [
        ("Postdesk", f"{report['version']} (Python {report['python']}, {report['platform']})"),
        ("Data folder", report["data_dir"]),
        ("Log folder", report["log_dir"]),
        ("Database", database["url"]),
        ("", _status(database, f"{database.get('dialect')}, schema {database.get('revision')}")),
        ("Keyring", keyring_info["backend"]),
        ("", _status(keyring_info, "works")),
        ("Qt platform", report["qt_platform"]),
        ("Window", report["display"]),
        ("Dependencies", ", ".join(f"{k} {v}" for k, v in deps.items())),
    ]
    for label, value in lines:
        print(f"{label:<13} {value}")


def _status(info: dict[str, object], ok_text: str) -> str:
    return f"OK — {ok_text}" if info["ok"] else f"PROBLEM — {info['problem']}"
