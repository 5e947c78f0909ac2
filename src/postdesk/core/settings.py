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


# What a user may change (the rest is Postdesk's own bookkeeping), each with its check.
EDITABLE: dict[str, Any] = {
    "relay_host": str,
    "relay_port": int,
    "relay_security": ("starttls", "tls", "none"),
    "relay_max_message_mb": int,
    "return_path_target": str,
    "tracking_target": str,
    "mx_target": str,
    "dmarc_rua": str,
    "tracking_delay_minutes": int,
    "blocklists": list,
}


# Settings that name a host, and the one that is a mailbox: checked like any other input.
_HOSTS = ("relay_host", "return_path_target", "tracking_target", "mx_target")


def change(session: Session, key: str, value: Any) -> None:
    """Change an editable setting after checking its value; None goes back to the default."""
    from postdesk.core.errors import UserError

    if value is None:
        row = session.get(Setting, key)
        if row is not None:
            session.delete(row)
        return
    kind = EDITABLE[key]
    ok = value in kind if isinstance(kind, tuple) else isinstance(value, kind)
    if kind is int and isinstance(value, int):
        ok = ok and 0 < value < (65536 if key == "relay_port" else 10**6)
    if kind is list:
        ok = ok and all(isinstance(item, str) and item for item in value)
    if not ok:
        wanted = (
            " / ".join(kind)
            if isinstance(kind, tuple)
            else {
                int: "a positive whole number",
                str: "text",
                list: 'a JSON list of names, e.g. ["a"]',
            }[kind]
        )
        raise UserError(
            "settings.bad_value", f"'{value}' is not a valid value for {key}.", f"Give {wanted}."
        )
    put(session, key, check_value(key, value))


def check_value(key: str, value: Any) -> Any:
    """A host name, address or list of them in its stored form, or a UserError saying what to
    type instead (the Settings dialog checks each field with it before saving)."""
    from postdesk.core.validation import check_hostname, normalize_email

    if key in _HOSTS:
        return check_hostname(value)
    if key == "dmarc_rua":
        return normalize_email(value)
    if key == "blocklists":
        return [_blocklist(zone) for zone in value]
    return value


def _blocklist(zone: str) -> str:
    from postdesk.core.errors import UserError
    from postdesk.core.validation import check_hostname

    try:
        return check_hostname(zone, allow_ip=False)
    except UserError:
        raise UserError(
            "settings.blocklist",
            f"'{zone.strip()}' is not a blocklist name.",
            "Type one name per line, e.g. zen.spamhaus.org.",
        ) from None


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
