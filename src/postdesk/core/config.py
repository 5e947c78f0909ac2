"""Where Postdesk keeps its data, and which database it uses, from the environment."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from postdesk.core.errors import UserError

APP_DIR_NAME = "Postdesk"
DATABASE_FILE = "postdesk.db"


def data_dir() -> Path:
    """The data directory: ``POSTDESK_HOME`` if set, else the platform's user data dir."""
    home = os.environ.get("POSTDESK_HOME")
    if home:
        return Path(home).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_DIR_NAME, appauthor=False))


def log_dir() -> Path:
    """Where log files go (inside the data directory, so one folder holds everything)."""
    return data_dir() / "logs"


def database_url() -> str:
    """The SQLAlchemy URL: ``POSTDESK_DATABASE_URL`` if set, else SQLite in the data directory."""
    url = os.environ.get("POSTDESK_DATABASE_URL", "").strip()
    if url:
        return url
    return f"sqlite:///{data_dir() / DATABASE_FILE}"


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***``, safe to print or log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def folder_problem(exc: OSError, action: str, path: Path | str | None = None) -> UserError:
    """A file-system failure as one line: what failed, where, and what to do about it.

    ``action`` completes "Postdesk could not …" (e.g. "save a sealed key"). The path comes from
    the error itself when not given; nothing else of the exception (never a value) is shown.
    """
    where = Path(path) if path is not None else Path(exc.filename) if exc.filename else None
    at = f" in {where}" if where is not None else ""
    if exc.errno == errno.ENOSPC or exc.errno == errno.EDQUOT:
        return UserError(
            "store.disk_full",
            f"Postdesk could not {action}: the disk is full{at}.",
            "Free some space on that disk, then try again.",
        )
    if exc.errno == errno.EROFS:
        return UserError(
            "store.readonly",
            f"Postdesk could not {action}: the disk{at} is mounted read-only.",
            "Mount it writable, or set POSTDESK_HOME to a folder you can write to.",
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return UserError(
            "store.readonly",
            f"Postdesk could not {action}: writing{at} is not allowed.",
            "Make the folder and its files writable for your user (check permissions and "
            "'lsattr' for the immutable flag), or set POSTDESK_HOME to another folder.",
        )
    return UserError(
        "store.io_error",
        f"Postdesk could not {action}{at}: {exc.strerror or type(exc).__name__}.",
        "Check the disk and the folder, then try again.",
    )
