"""Reading a secret straight from the Secret Service, without importing the ``keyring`` package.

When ``PYTHON_KEYRING_BACKEND`` names keyring's Secret Service backend, keyring would only hand
the read to ``secretstorage`` — after importing itself and its helpers (~0.2 s, a large part of a
command-line test send). This reads the item keyring's backend reads: in the default collection
(unlocked first, as keyring does), the item whose attributes are keyring's default scheme
(``service`` and ``username``), its secret decoded as UTF-8. Writes and deletes still go through
keyring, so items carry exactly keyring's label and attributes.

The usual read (an unlocked default collection and item, a daemon that offers the encrypted
transfer) speaks D-Bus through ``jeepney`` itself: two round trips after the connection's
greeting instead of secretstorage's nine, no import of secretstorage or of cryptography's
OpenSSL backend object, and a Diffie-Hellman exchange with a shorter private exponent (see
``_EXPONENT_BYTES``). Anything else
(a locked collection that needs the unlock prompt, no default collection yet, a daemon without
the encrypted transfer) is read through ``secretstorage`` exactly as keyring's backend reads it.
"""

from __future__ import annotations

import hmac
import os
from contextlib import closing
from hashlib import sha256
from typing import Any

_BUS_NAME = "org.freedesktop.secrets"
_SERVICE_PATH = "/org/freedesktop/secrets"
_DEFAULT_COLLECTION = "/org/freedesktop/secrets/aliases/default"
_IFACE = "org.freedesktop.Secret."
_ALGORITHM = "dh-ietf1024-sha256-aes128-cbc-pkcs7"
# The 1024-bit MODP group of RFC 2409 (section 6.2), the one the algorithm above names.
_PRIME = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A087"
    "98E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637E"
    "D6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF",
    16,
)
# The group gives about 80 bits of security; a private exponent of 2 × that strength or more
# (NIST SP 800-56A, key pairs for safe-prime groups) loses none of it. 256 random bits keep the
# best attack on a short exponent at 2^128 work and make the two modular exponentiations, done
# in Python, about four times cheaper than secretstorage's 1024-bit exponent.
_EXPONENT_BYTES = 32


class Unreachable(Exception):
    """The session bus or the Secret Service daemon cannot be reached (keyring would refuse to
    load its backend); ``reason`` names what failed, never a secret."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Unusual(Exception):
    """Something the direct read leaves to secretstorage (a prompt, a collection to create)."""


def get_password(service: str, username: str) -> str | None:
    """The secret keyring's Secret Service backend stores for (service, username), or None.

    Raises ``Unreachable`` when there is no Secret Service, ``secretstorage``'s
    ``LockedException`` when the collection or item stays locked, and its other exceptions as
    they come (the secrets gateway turns them into messages).
    """
    import importlib.util

    # keyring's backend is not viable without secretstorage, so neither is this read.
    if importlib.util.find_spec("secretstorage") is None:
        raise Unreachable("ModuleNotFoundError")
    try:
        from jeepney.io.blocking import open_dbus_connection
    except ImportError as exc:
        raise Unreachable(type(exc).__name__) from None
    try:
        bus = open_dbus_connection(bus="SESSION")
    except (KeyError, ConnectionError, ValueError):  # as secretstorage.dbus_init reports them
        raise Unreachable("SecretServiceNotAvailableException") from None
    except Exception as exc:
        raise Unreachable(type(exc).__name__) from None
    with closing(bus):
        try:
            return _read_directly(bus, {"username": username, "service": service})
        except _Unusual:
            pass
    return _read_through_secretstorage(service, username)


def _read_directly(bus: Any, attributes: dict[str, str]) -> str | None:
    """The usual read in two round trips: the questions that do not depend on each other are
    sent together (D-Bus answers them in order). Raises ``_Unusual`` for anything else."""
    private = int.from_bytes(os.urandom(_EXPONENT_BYTES), "big")
    public = pow(2, private, _PRIME).to_bytes(128, "big")
    locked, found, opened = _calls(
        bus,
        _call(
            _DEFAULT_COLLECTION,
            "org.freedesktop.DBus.Properties",
            "Get",
            "ss",
            _IFACE + "Collection",
            "Locked",
        ),
        _call(_DEFAULT_COLLECTION, _IFACE + "Collection", "SearchItems", "a{ss}", attributes),
        _call(_SERVICE_PATH, _IFACE + "Service", "OpenSession", "sv", _ALGORITHM, ("ay", public)),
    )
    if locked[0][1]:  # keyring unlocks it first (a prompt): left to secretstorage
        raise _Unusual("locked collection")
    (paths,) = found
    if not paths:
        return None
    (_, theirs), session = opened
    # A locked item answers GetSecret with an error, and secretstorage then asks to unlock it.
    get_secret = _call(paths[0], _IFACE + "Item", "GetSecret", "o", session)
    (((_, iv, value, _),),) = _calls(bus, get_secret)
    key = _session_key(private, int.from_bytes(bytes(theirs), "big"))
    return _decrypt(key, bytes(iv), bytes(value)).decode("utf-8")


def _call(path: str, interface: str, method: str, signature: str, *body: Any) -> Any:
    from jeepney import DBusAddress, new_method_call

    address = DBusAddress(path, bus_name=_BUS_NAME, interface=interface)
    return new_method_call(address, method, signature, body)


def _calls(bus: Any, *messages: Any) -> list[Any]:
    """Send every message, then wait for all their replies; their bodies, in the same order."""
    from jeepney import HeaderFields, MessageType

    serials = []
    for message in messages:
        serial = next(bus.outgoing_serial)
        bus.send(message, serial=serial)
        serials.append(serial)
    replies: dict[int, Any] = {}
    while len(replies) < len(serials):
        reply = bus.receive()
        answered = reply.header.fields.get(HeaderFields.reply_serial, -1)
        if answered in serials:
            replies[answered] = reply
    if any(r.header.message_type is MessageType.error for r in replies.values()):
        raise _Unusual("an error reply")  # no such collection, no encrypted transfer, locked…
    return [replies[serial].body for serial in serials]


def _session_key(private: int, peer: int) -> bytes:
    """The AES key both sides derive from the Diffie-Hellman exchange."""
    if not 1 < peer < _PRIME - 1:  # a degenerate value would fix the shared secret
        raise _Unusual("bad public value")
    shared = pow(peer, private, _PRIME).to_bytes(128, "big")
    # HKDF-SHA256 with no salt and no info, 128 bits out (the algorithm's definition).
    pseudo_random_key = hmac.new(b"\0" * 32, shared, sha256).digest()
    return hmac.new(pseudo_random_key, b"\x01", sha256).digest()[:16]


def _decrypt(key: bytes, iv: bytes, value: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(value) + decryptor.finalize()
    return padded[: -padded[-1]]  # PKCS #7 padding, removed as secretstorage removes it


def _read_through_secretstorage(service: str, username: str) -> str | None:
    """The read as keyring's backend does it, prompts and a new default collection included."""
    import secretstorage
    from secretstorage.exceptions import LockedException, SecretServiceNotAvailableException

    try:
        bus = secretstorage.dbus_init()
    except Exception as exc:  # no bus at its address, a refused socket, no address at all
        raise Unreachable(type(exc).__name__) from None
    with closing(bus):
        try:
            collection = secretstorage.get_default_collection(bus)
        except SecretServiceNotAvailableException:
            raise Unreachable("SecretServiceNotAvailableException") from None
        if collection.is_locked():
            collection.unlock()
            if collection.is_locked():  # the user dismissed the prompt
                raise LockedException("The collection is locked.")
        for item in collection.search_items({"username": username, "service": service}):
            if item.is_locked():
                item.unlock()
                if item.is_locked():
                    raise LockedException("The item is locked.")
            return item.get_secret().decode("utf-8")
    return None
