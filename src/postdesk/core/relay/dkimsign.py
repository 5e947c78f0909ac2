"""DKIM-signing outgoing mail with the domain's active key (rsa-sha256, relaxed/relaxed).

dkimpy parses the message and canonicalizes it; the RSA signature itself is made by
``cryptography`` (OpenSSL), which is about twenty times faster than dkimpy's pure-Python RSA and
releases the GIL. Loading and checking a key takes longer than signing, so a loaded key is kept
in memory for a few minutes (never written anywhere).
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import time
from dataclasses import dataclass

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from dkim.canonicalization import Relaxed

SIGNED_HEADERS = (
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "reply-to",
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


def load_key(domain: str, selector: str, private_pem: str) -> SigningKey:
    """Parse and check a PEM private key (tens of milliseconds: call it in a thread)."""
    key = serialization.load_pem_private_key(private_pem.encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the DKIM key is not an RSA key")
    return SigningKey(domain, selector, key)


class KeyCache:
    """Loaded keys per (domain, selector) for a short time: the keyring is not asked per batch."""

    def __init__(self, ttl: float = KEY_TTL) -> None:
        self.ttl = ttl
        self._keys: dict[tuple[str, str], tuple[float, SigningKey]] = {}
        self._lock = threading.Lock()

    def get(self, domain: str, selector: str) -> SigningKey | None:
        """The cached key, or None when there is none or it is too old."""
        with self._lock:
            found = self._keys.get((domain, selector))
            if found is None or found[0] < time.monotonic():
                self._keys.pop((domain, selector), None)
                return None
            return found[1]

    def put(self, key: SigningKey) -> None:
        with self._lock:
            self._keys[(key.domain, key.selector)] = (time.monotonic() + self.ttl, key)

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()


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
