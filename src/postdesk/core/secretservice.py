"""Reading a secret straight from the Secret Service, without importing the ``keyring`` package.

When ``PYTHON_KEYRING_BACKEND`` names keyring's Secret Service backend, keyring would only hand
the read to ``secretstorage`` — after importing itself and its helpers (~0.2 s, a large part of a
command-line test send). This reads the item keyring's backend reads: in the default collection
(unlocked first, as keyring does), the item whose attributes are keyring's default scheme
(``service`` and ``username``), its secret decoded as UTF-8. Writes and deletes still go through
keyring, so items carry exactly keyring's label and attributes.
"""

from __future__ import annotations

from contextlib import closing


class Unreachable(Exception):
    """The session bus or the Secret Service daemon cannot be reached (keyring would refuse to
    load its backend); ``reason`` names what failed, never a secret."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def get_password(service: str, username: str) -> str | None:
    """The secret keyring's Secret Service backend stores for (service, username), or None.

    Raises ``Unreachable`` when there is no Secret Service, ``secretstorage``'s
    ``LockedException`` when the collection or item stays locked, and its other exceptions as
    they come (the secrets gateway turns them into messages).
    """
    try:
        import secretstorage
        from secretstorage.exceptions import LockedException, SecretServiceNotAvailableException
    except ImportError as exc:  # keyring's backend needs it too (installed with keyring on Linux)
        raise Unreachable(type(exc).__name__) from None

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
