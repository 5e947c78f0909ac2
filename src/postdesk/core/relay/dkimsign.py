"""DKIM-signing outgoing mail with the domain's active key (rsa-sha256, relaxed/relaxed).

dkimpy parses the message and canonicalizes it; the RSA signature itself is made by
``cryptography`` (OpenSSL), about twenty times faster than dkimpy's pure-Python RSA (and
without the GIL from cryptography 47 on, see ``signer``). Loading and checking a key takes
longer than signing, so a loaded key is kept in memory for a few minutes (never written
anywhere).

A domain whose active key cannot be read (its keyring item is gone, the vault is unreadable) has
its mail held, never sent unsigned: :func:`domain_key` raises :class:`KeyUnavailable` with the
reason the queue shows, and :func:`key_available` lets other parts ask before accepting mail.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from dkim.canonicalization import Relaxed

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


SIGNED_HEADERS = (
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "reply-to",
    # RFC 8058: receivers honour one-click unsubscribe only when both are signed.
    "list-unsubscribe",
    "list-unsubscribe-post",
)
KEY_TTL = 300.0  # seconds a loaded key is reused before it is read from the keyring again
_PREHASHED = Prehashed(hashes.SHA256())
_LONE_LF = re.compile(rb"(?<!\r)\n")


@dataclass(frozen=True)
class SigningKey:
    """A loaded private key, ready to sign a domain's mail under one selector."""

    domain: str
    selector: str
    key: rsa.RSAPrivateKey
    # Kept so a signing process can load the same key; never shown, logged or stored.
    private_pem: str = field(default="", repr=False, compare=False)


def load_key(domain: str, selector: str, private_pem: str) -> SigningKey:
    """Parse and check a PEM private key (tens of milliseconds: call it in a thread)."""
    key = serialization.load_pem_private_key(private_pem.encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the DKIM key is not an RSA key")
    return SigningKey(domain, selector, key, private_pem)


class KeyCache:
    """Loaded keys per keyring item for a short time: the keyring is not asked per batch."""

    def __init__(self, ttl: float = KEY_TTL) -> None:
        self.ttl = ttl
        self._keys: dict[str, tuple[float, SigningKey]] = {}
        self._lock = threading.Lock()

    def get(self, secret_ref: str) -> SigningKey | None:
        """The cached key, or None when there is none or it is too old."""
        with self._lock:
            found = self._keys.get(secret_ref)
            if found is None or found[0] < time.monotonic():
                self._keys.pop(secret_ref, None)
                return None
            return found[1]

    def put(self, secret_ref: str, key: SigningKey) -> None:
        with self._lock:
            self._keys[secret_ref] = (time.monotonic() + self.ttl, key)

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


_cache = KeyCache()


def forget_keys() -> None:
    """Drop every loaded key (the next message reads its key from the keyring again)."""
    _cache.clear()


class KeyUnavailable(Exception):
    """A domain's DKIM key cannot be used; ``reason`` says which domain and what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class KeyRef:
    """Which key signs a domain's mail, and where its private half is kept."""

    domain: str
    selector: str
    secret_ref: str


_ACTIVE_KEYS: Any = None  # the query below, built on first use


class SigningDomain(Protocol):
    """What choosing a domain's signing key reads of it: its row, or what the relay read."""

    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def dkim_selector(self) -> str | None: ...


def active_key(session: Session, domain: SigningDomain) -> KeyRef | None:
    """The key that signs the domain's mail: the active one under its selector, else the newest."""
    global _ACTIVE_KEYS
    if _ACTIVE_KEYS is None:
        # Built here, once: a signing process loads this module without the database layer.
        from sqlalchemy import bindparam, select

        from postdesk.core.store.models import DkimKey, table_of

        k = table_of(DkimKey).c
        _ACTIVE_KEYS = (
            select(k.selector, k.secret_ref)
            .where(k.domain_id == bindparam("domain"), k.state == "active")
            .order_by(k.created_at.desc(), k.id.desc())
        )
    keys = session.connection().execute(_ACTIVE_KEYS, {"domain": domain.id}).all()
    key = next((k for k in keys if k.selector == domain.dkim_selector), None)
    key = key or (keys[0] if keys else None)
    return None if key is None else KeyRef(domain.name, key.selector, key.secret_ref)


def domain_key(ref: KeyRef | None, domain: str) -> SigningKey:
    """The loaded private key (keyring on a cache miss: blocking); KeyUnavailable otherwise."""
    hold = f"Postdesk is holding {domain}'s mail rather than send it without a DKIM signature"
    if ref is None:
        raise KeyUnavailable(
            f"{hold}: the domain has no active DKIM key. Generate one in Domain Settings, "
            "publish it and press Verify Now."
        )
    from postdesk.core import secrets
    from postdesk.core.errors import UserError

    cached = _cache.get(ref.secret_ref)
    if cached is not None:
        return cached
    fix = (
        f"Restore the keyring item, or generate a new key for {domain} in Domain Settings, "
        "publish it and press Verify Now."
    )
    try:
        pem = secrets.read_secret(ref.secret_ref)
    except UserError as exc:  # no keyring, or a sealed key whose vault part is unreadable
        raise KeyUnavailable(
            f"{hold}: its DKIM key could not be read ({exc.message}). {fix}"
        ) from None
    if not pem:
        raise KeyUnavailable(
            f"{hold}: its DKIM key (selector {ref.selector}) is missing from the keyring. {fix}"
        )
    try:
        key = load_key(domain, ref.selector, pem)
    except ValueError:
        raise KeyUnavailable(
            f"{hold}: its DKIM key (selector {ref.selector}) in the keyring is damaged. {fix}"
        ) from None
    _cache.put(ref.secret_ref, key)
    return key


def key_problem(session: Session, domain: str) -> str | None:
    """Why the domain's mail cannot be DKIM-signed now (reads the keyring), or None when it can."""
    from postdesk.core.domains import get_domain

    row = get_domain(session, domain)
    try:
        domain_key(active_key(session, row), row.name)
    except KeyUnavailable as exc:
        return exc.reason
    return None


def key_available(session: Session, domain: str) -> bool:
    """Whether the domain's active DKIM key can be read and used to sign (reads the keyring)."""
    return key_problem(session, domain) is None


def _present_headers(headers: list[list[bytes]]) -> list[bytes]:
    names = {name.strip().lower() for name, _ in headers}
    return [h.encode("ascii") for h in SIGNED_HEADERS if h.encode("ascii") in names]


def _fold(tags: list[tuple[bytes, bytes]]) -> bytes:
    """The header value, one tag per line (b= last), so no line gets long."""
    return b";\r\n\t".join(k + b"=" + v for k, v in tags)


def sign_with(message: bytes, key: SigningKey, *, now: float | None = None) -> bytes:
    """The message with a DKIM-Signature header in front (CPU-bound: call it in a thread).

    Only the listed headers that the message has are signed, so a header an upstream adds
    later (e.g. Reply-To) does not break the signature.
    """
    # What goes on the wire is CRLF throughout; sign exactly that.
    message = _LONE_LF.sub(b"\r\n", message)
    headers, body = dkim.rfc822_parse(message)
    include = _present_headers(headers)
    if b"from" not in include:
        raise ValueError("a message to sign needs a From header")
    body_hash = base64.b64encode(hashlib.sha256(Relaxed.canonicalize_body(body)).digest())
    tags = [
        (b"v", b"1"),
        (b"a", b"rsa-sha256"),
        (b"c", b"relaxed/relaxed"),
        (b"d", key.domain.encode("ascii")),
        (b"s", key.selector.encode("ascii")),
        (b"t", str(int(now if now is not None else time.time())).encode("ascii")),
        (b"h", b":".join(include)),
        (b"bh", body_hash),
    ]
    unsigned = _fold([*tags, (b"b", b"")])
    hasher = hashlib.sha256()
    # RFC 6376 5.4.2: the last unused instance of each named header, bottom up.
    for name, value in dkim.select_headers(headers, include):
        ((cname, cvalue),) = Relaxed.canonicalize_headers([(name, value)])
        hasher.update(cname + b":" + cvalue)
    ((cname, cvalue),) = Relaxed.canonicalize_headers([(b"DKIM-Signature", b" " + unsigned)])
    hasher.update(cname + b":" + cvalue.rstrip(b"\r\n"))  # the signature's own line: no CRLF
    signature = key.key.sign(hasher.digest(), padding.PKCS1v15(), _PREHASHED)
    b64 = base64.b64encode(signature)
    folded = b"\r\n ".join(b64[i : i + 72] for i in range(0, len(b64), 72))
    header = b"DKIM-Signature: " + _fold([*tags, (b"b", folded)]) + b"\r\n"
    return header + message


def sign(message: bytes, *, domain: str, selector: str, private_pem: str) -> bytes:
    """Sign with a PEM key (loads it each time: prefer :func:`load_key` and :func:`sign_with`)."""
    return sign_with(message, load_key(domain, selector, private_pem))
