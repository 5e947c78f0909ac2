"""Workspace settings kept in the database, each with a default."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from postdesk.core.store.models import Setting

DEFAULTS: dict[str, Any] = {
    # Host names of this workspace's relay, used in the records users publish and in the
    # connection details an app needs.
    "relay_host": "localhost",
    "relay_port": 2525,
    "relay_security": "starttls",
    "return_path_target": None,
    "tracking_target": None,
    "mx_target": None,
    "dmarc_rua": None,
    "tracking_delay_minutes": 15,
    "daily_limit": 1500,
    "relay_max_message_mb": 25,
    "orphan_secret_refs": [],
    "blocklists": ["zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org"],
}


def get(session: Session, key: str) -> Any:
    """The value of a setting, or its default."""
    row = session.get(Setting, key)
    return DEFAULTS.get(key) if row is None else row.value


def put(session: Session, key: str, value: Any) -> None:
    """Change a setting (in the caller's transaction)."""
    if key not in DEFAULTS:
        raise KeyError(key)
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=value))
    else:
        row.value = value
