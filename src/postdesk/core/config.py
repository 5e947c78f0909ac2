"""Where Postdesk keeps its data, and which database it uses, from the environment."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

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
