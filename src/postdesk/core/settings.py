"""Workspace settings kept in the database, each with a default."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from postdesk.core.errors import UserError
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
    # Reception: where the relay also listens for mail to the dedicated domains ("HOST:PORT",
    # port 25 on a server); None: it does not. The size limit for received messages.
    "inbound_listen": None,
    "inbound_max_message_mb": 25,
    # Per remote address: inbound connections open at once, and messages per minute (one big
    # provider sends from few addresses; a flood from one address waits).
    "inbound_connections_per_ip": 20,
    "inbound_messages_per_minute": 600,
    "orphan_secret_refs": [],
    "blocklists": ["zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org"],
    # Provider webhook events taken in, per provider: {"received": n, "unmatched": n}.
    "webhook_counts": {},
    # The keyring names (never the values) of the providers' webhook keys, per workspace.
    "webhook_secret_refs": {},
    # The keyring name (never the value) of the key that signs this workspace's SRS addresses.
    "srs_secret_ref": None,
    # A domain is announced (banner and tray) when the last day's rates pass these (percent).
    "alert_bounce_rate_percent": 5.0,
    "alert_complaint_rate_percent": 0.1,
    # An address goes on the suppression list after this many hard bounces (soft ones never).
    "suppress_after_hard_bounces": 1,
}


# What a user may change (the rest is Postdesk's own bookkeeping), each with the kind of value
# it takes: a whole number in a range, one of a few words, a host name, a mailbox or a list.
@dataclass(frozen=True)
class Number:
    """A whole number from ``low`` to ``high``; what it counts is said in messages."""

    low: int
    high: int
    what: str = "a whole number"


PORT = Number(1, 65535, "a port number")


@dataclass(frozen=True)
class Percent:
    """A percentage from ``low`` to ``high``, decimals allowed (0.1 %)."""

    low: float
    high: float


MAX_NUMBER = 999_999

EDITABLE: dict[str, Any] = {
    "relay_host": str,
    "relay_port": PORT,
    "relay_security": ("starttls", "tls", "none"),
    "relay_max_message_mb": Number(1, MAX_NUMBER, "a size in MB"),
    "inbound_listen": str,
    "inbound_max_message_mb": Number(1, MAX_NUMBER, "a size in MB"),
    "inbound_connections_per_ip": Number(1, 10_000, "a number of connections"),
    "inbound_messages_per_minute": Number(1, MAX_NUMBER, "a number of messages"),
    "return_path_target": str,
    "tracking_target": str,
    "mx_target": str,
    "dmarc_rua": str,
    "tracking_delay_minutes": Number(1, MAX_NUMBER, "a number of minutes"),
    "blocklists": list,
    "alert_bounce_rate_percent": Percent(0.01, 100),
    "alert_complaint_rate_percent": Percent(0.001, 100),
    "suppress_after_hard_bounces": Number(1, 100, "a number of hard bounces"),
}


# Settings that name a host, and the one that is a mailbox: checked like any other input.
_HOSTS = ("relay_host", "return_path_target", "tracking_target", "mx_target")


def parse_text(key: str, text: str) -> Any:
    """Turn what was typed for a setting (plain text or JSON) into its typed value, or a
    UserError; the value still goes through :func:`change` before it is stored."""
    kind = EDITABLE[key]
    if isinstance(kind, Number):
        return _number(key, kind, text)
    if isinstance(kind, Percent):
        return _percent(key, kind, text)
    if kind is list:
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = [line for line in text.replace(",", "\n").splitlines() if line.strip()]
        return value
    return text


def change(session: Session, key: str, value: Any) -> None:
    """Change an editable setting after checking its value; None goes back to the default."""
    if value is None:
        row = session.get(Setting, key)
        if row is not None:
            session.delete(row)
        return
    put(session, key, check_value(key, value))


def check_value(key: str, value: Any) -> Any:
    """A setting's value in its stored form, or a UserError saying what to type instead (the
    Settings dialog checks each field with it before saving)."""
    from postdesk.core.validation import check_hostname, normalize_email

    kind = EDITABLE[key]
    if isinstance(kind, Number):
        return _number(key, kind, value)
    if isinstance(kind, Percent):
        return _percent(key, kind, value)
    if isinstance(kind, tuple):
        if value not in kind:
            raise _refused(key, value, " / ".join(kind))
        return value
    if kind is list:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise _refused(key, value, 'a JSON list of names, e.g. ["zen.spamhaus.org"]')
        return [_blocklist(zone) for zone in value]
    if not isinstance(value, str):
        raise _refused(key, value, "text")
    if key in _HOSTS:
        return check_hostname(value)
    if key == "dmarc_rua":
        return normalize_email(value)
    if key == "inbound_listen":
        return _listen_address(key, value)
    return value


def _listen_address(key: str, value: str) -> str:
    """A ``HOST:PORT`` the inbound server can listen on, as typed (trimmed)."""
    from postdesk.core.relay.options import parse_hostport
    from postdesk.core.validation import check_hostname

    try:
        host, _ = parse_hostport(value)
        check_hostname(host)
    except (ValueError, UserError):
        raise _refused(key, value, "HOST:PORT, e.g. 0.0.0.0:25 or 127.0.0.1:2526") from None
    return value.strip()


def _number(key: str, kind: Number, value: Any) -> int:
    """A whole number in the setting's range. ``True`` is not 1 and ``2.5`` is not 2."""
    wanted = f"{kind.what} from {kind.low} to {kind.high:,}"
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdecimal()):
            raise _refused(key, value, f"a positive whole number: {wanted}")
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refused(key, value, f"a positive whole number: {wanted}")
    if not kind.low <= value <= kind.high:
        raise _refused(key, value, f"a positive whole number: {wanted}")
    return value


def _percent(key: str, kind: Percent, value: Any) -> float:
    """A percentage in the setting's range; "5", "0.1" and "0.1 %" are read, "abc" is not."""
    wanted = f"a percentage from {kind.low:g} to {kind.high:g}, e.g. 5 or 0.1"
    if isinstance(value, str):
        try:
            value = float(value.strip().removesuffix("%").strip())
        except ValueError:
            raise _refused(key, value, wanted) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _refused(key, value, wanted)
    if not kind.low <= value <= kind.high:  # also refuses NaN
        raise _refused(key, value, wanted)
    return float(value)


def _refused(key: str, value: Any, wanted: str) -> UserError:
    from postdesk.core.validation import quote_input

    shown = quote_input(value if isinstance(value, str) else json.dumps(value, default=str))
    return UserError(
        "settings.bad_value", f"{shown} is not a valid value for {key}.", f"Give {wanted}."
    )


def _blocklist(zone: str) -> str:
    from postdesk.core.validation import check_hostname, quote_input

    try:
        return check_hostname(zone, allow_ip=False)
    except UserError:
        raise UserError(
            "settings.blocklist",
            f"{quote_input(zone.strip())} is not a blocklist name.",
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
