"""DKIM signing keys: making a new RSA key pair, choosing a selector, and the DKIM TXT value.

The private key is handed back to the caller, who keeps it through the secrets gateway; this
module never writes a key anywhere.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from postdesk.core.errors import UserError

if TYPE_CHECKING:
    # Loaded by the functions that use them: listing domains or showing the window needs no
    # cryptography (~0.1 s to import).
    from cryptography.hazmat.primitives.asymmetric import rsa

DEFAULT_KEY_BITS = 2048
# 1024 is the least receivers still accept (RFC 8301); past 4096 many DNS hosts reject the TXT.
ALLOWED_KEY_BITS = (1024, 2048, 3072, 4096)
SELECTOR_PREFIX = "pd"
_SELECTOR = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


@dataclass(frozen=True)
class DkimKey:
    """A new DKIM key pair; ``private_pem`` is secret and is left out of ``repr``."""

    selector: str
    public_b64: str
    bits: int
    created_at: datetime
    private_pem: str = field(repr=False)

    @property
    def txt_value(self) -> str:
        """The TXT value to publish at ``<selector>._domainkey.<domain>``."""
        return dkim_txt_value(self.public_b64)


def new_selector(existing: Collection[str] = (), *, now: datetime | None = None) -> str:
    """A fresh selector such as ``pd202405a1b2``, different from every one in ``existing``."""
    month = (now or datetime.now(UTC)).strftime("%Y%m")
    taken = {name.lower() for name in existing}
    nbytes = 2
    while True:
        # The month tells a user which key is newer; the random part keeps two rotations in
        # the same month apart. Grow it if (improbably) all short values are taken.
        for _ in range(32):
            selector = f"{SELECTOR_PREFIX}{month}{secrets.token_hex(nbytes)}"
            if selector not in taken:
                return selector
        nbytes += 1


def generate_dkim_key(
    bits: int = DEFAULT_KEY_BITS,
    *,
    selector: str | None = None,
    existing_selectors: Collection[str] = (),
    now: datetime | None = None,
) -> DkimKey:
    """Make a new RSA key pair for DKIM signing, with a new selector unless one is given."""
    if bits not in ALLOWED_KEY_BITS:
        raise ValueError(f"DKIM key size must be one of {ALLOWED_KEY_BITS}, not {bits}")
    created_at = now or datetime.now(UTC)
    if selector is None:
        selector = new_selector(existing_selectors, now=created_at)
    elif not _SELECTOR.fullmatch(selector):
        raise ValueError(f"not a valid DKIM selector: {selector!r}")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return DkimKey(
        selector=selector,
        public_b64=_public_b64(key.public_key()),
        bits=bits,
        created_at=created_at,
        private_pem=private_pem,
    )


def public_b64_from_private(private_pem: str) -> str:
    """The ``p=`` value that belongs to a stored private key (to check a key pair matches)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = serialization.load_pem_private_key(private_pem.encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the stored DKIM key is not an RSA key")
    return _public_b64(key.public_key())


def dkim_txt_value(public_b64: str) -> str:
    """The DKIM TXT record value for an RSA public key: ``v=DKIM1; k=rsa; p=...``."""
    return f"v=DKIM1; k=rsa; p={''.join(public_b64.split())}"


def public_key_bits(p_b64: str) -> int:
    """The size in bits of the RSA key in a DKIM ``p=`` value (SubjectPublicKeyInfo or PKCS#1)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        der = base64.b64decode("".join(p_b64.split()), validate=True)
        key = serialization.load_der_public_key(der)
    except (binascii.Error, ValueError) as err:
        raise _unreadable_key() from err
    if not isinstance(key, rsa.RSAPublicKey):
        raise _unreadable_key()
    return key.key_size


def _public_b64(key: rsa.RSAPublicKey) -> str:
    from cryptography.hazmat.primitives import serialization

    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def _unreadable_key() -> UserError:
    return UserError(
        "dkim.bad_public_key",
        "The DKIM public key (the part after p=) can't be read as an RSA key.",
        "Copy the DKIM record again exactly as Postdesk shows it, in one piece.",
    )
