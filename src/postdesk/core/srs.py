"""The Sender Rewriting Scheme: envelope senders of forwarded mail, and the way back for bounces.

A forwarded copy leaves through the domain's own service, whose servers the original sender's
SPF record does not list; so its envelope sender becomes an address on the forwarding domain
that still carries the original one:

    SRS0=HHHH=TT=orig-domain=orig-local@forwarding-domain

``TT`` is the day it was made (days since 1970, modulo 1024, two base32 characters) and ``HHHH``
an HMAC of the rest, so only Postdesk can make addresses that reverse, and only for a while
(:data:`MAX_AGE_DAYS`). Mail forwarded again (an SRS0 address of another forwarder) becomes SRS1,
pointing back at the first forwarder rather than growing with every hop:

    SRS1=HHHH=first-forwarder==HHHH=TT=orig-domain=orig-local@forwarding-domain

This follows the scheme of libsrs2 / Postfix's postsrsd (case-insensitive hashes over the
lowercased parts), so bounces reversed here behave as users of those know.

The HMAC key is a workspace secret in the keyring (through :mod:`postdesk.core.secrets`); the
functions that make and reverse addresses take it as an argument so they stay pure.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import secrets as _random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from postdesk.core.store import Store

log = logging.getLogger(__name__)

REF_SETTING = "srs_secret_ref"  # the setting naming the keyring item of the HMAC key
MAX_AGE_DAYS = 21  # a bounce to an older address is dropped (libsrs2's default)
HASH_LENGTH = 4
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_PERIOD = 1024  # timestamps wrap around every 1024 days (two base32 characters)


@dataclass(frozen=True)
class Reversed:
    """Where a bounce to an SRS address goes (``address``), or why it goes nowhere."""

    address: str | None
    problem: str = ""


def load_key(store: Store) -> bytes:
    """The workspace's SRS key from the keyring, made on first use (blocking: keyring I/O).

    The keyring item's name is kept in the workspace settings, so two workspaces on one
    computer never share a key.
    """
    from postdesk.core import secrets, settings

    with store.session() as s:
        ref = settings.get(s, REF_SETTING)
    value = secrets.read_secret(ref) if ref else None
    if value:
        return value.encode("ascii")
    if ref:
        # Lost with the keyring: addresses made before no longer reverse (their bounces drop).
        log.warning("the SRS key is missing from the keyring; making a new one")
    secrets.require_storage()
    made = secrets.new_secret_ref("srs")
    secrets.store_secret(made, _random.token_urlsafe(32))
    with store.session() as s:
        current = settings.get(s, REF_SETTING)
        if current and current != ref:  # another process made one meanwhile: use that one
            theirs = secrets.read_secret(current)
            if theirs:
                secrets.delete_secret(made)
                return theirs.encode("ascii")
        settings.put(s, REF_SETTING, made)
    return (secrets.read_secret(made) or "").encode("ascii")


def _day(today: dt.date | None) -> int:
    today = today or dt.datetime.now(dt.UTC).date()
    return (today - dt.date(1970, 1, 1)).days


def _stamp(day: int) -> str:
    day %= _PERIOD
    return _BASE32[day >> 5] + _BASE32[day & 31]


def _stamp_day(stamp: str) -> int | None:
    if len(stamp) != 2:
        return None
    try:
        return (_BASE32.index(stamp[0].upper()) << 5) | _BASE32.index(stamp[1].upper())
    except ValueError:
        return None


def _hash(key: bytes, *parts: str) -> str:
    data = "".join(parts).lower().encode("utf-8")
    digest = hmac.new(key, data, hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")[:HASH_LENGTH]


def _same_hash(key: bytes, given: str, *parts: str) -> bool:
    # Case-insensitive, as libsrs2: some mail systems lowercase the local part.
    return hmac.compare_digest(given.lower(), _hash(key, *parts).lower())


def is_srs(address: str) -> bool:
    """Whether an address is an SRS address (ours or any forwarder's)."""
    local = address.rpartition("@")[0].lower()
    return local.startswith(("srs0=", "srs1=", "srs0+", "srs0-", "srs1+", "srs1-"))


def forward_address(sender: str, domain: str, key: bytes, *, today: dt.date | None = None) -> str:
    """The envelope sender for a copy of mail from ``sender`` forwarded by ``domain``.

    An empty sender (a bounce) stays empty, and a sender already on ``domain`` needs no
    rewriting: SPF passes for it as it is.
    """
    if not sender or "@" not in sender:
        return sender
    local, _, host = sender.rpartition("@")
    if host.lower() == domain.lower() or host.lower().endswith("." + domain.lower()):
        return sender
    upper = local[:5].upper()
    if upper.startswith("SRS1") and len(local) > 5:
        # Already forwarded twice: keep the first forwarder, re-sign for this hop.
        first, sep, rest = local[5:].partition("==")
        first_host = first.partition("=")[2]
        if sep and first_host:
            return f"SRS1={_hash(key, first_host, '=' + rest)}={first_host}=={rest}@{domain}"
    if upper.startswith("SRS0") and len(local) > 5:
        rest = local[4:]  # "=HHHH=TT=domain=local", kept as the first forwarder wrote it
        return f"SRS1={_hash(key, host, rest)}={host}={rest}@{domain}"
    stamp = _stamp(_day(today))
    return f"SRS0={_hash(key, stamp, host, local)}={stamp}={host}={local}@{domain}"


def reverse(address: str, key: bytes, *, today: dt.date | None = None) -> Reversed:
    """The original sender a bounce to an SRS address of ours goes back to.

    Only an address this workspace made (the hash matches) and made recently (the timestamp is
    at most :data:`MAX_AGE_DAYS` old) reverses: anything else would let anyone use the domain
    to send mail to addresses of their choosing.
    """
    local = address.rpartition("@")[0]
    kind, separator, rest = local[:4].upper(), local[4:5], local[5:]
    if separator not in ("=", "+", "-"):
        return Reversed(None, "not an SRS address")
    if kind == "SRS0" and len(local) > 5:
        parts = rest.split("=", 3)
        if len(parts) != 4 or not all(parts):
            return Reversed(None, "not a complete SRS0 address")
        given, stamp, host, orig_local = parts
        if not _same_hash(key, given, stamp, host, orig_local):
            return Reversed(None, "its hash does not match: not made by this workspace")
        made = _stamp_day(stamp)
        if made is None:
            return Reversed(None, "its timestamp is not valid")
        age = (_day(today) - made) % _PERIOD
        if age > MAX_AGE_DAYS:
            return Reversed(None, f"it is {age} days old (at most {MAX_AGE_DAYS} are honoured)")
        return Reversed(f"{orig_local}@{host}")
    if kind == "SRS1" and len(local) > 5:
        given, _, tail = rest.partition("=")
        first_host, sep, srs0_rest = tail.partition("==")
        if not (given and first_host and sep and srs0_rest):
            return Reversed(None, "not a complete SRS1 address")
        if not _same_hash(key, given, first_host, "=" + srs0_rest):
            return Reversed(None, "its hash does not match: not made by this workspace")
        # Back to the first forwarder, who checks its own hash and age.
        return Reversed(f"SRS0={srs0_rest}@{first_host}")
    return Reversed(None, "not an SRS address")
