"""The secrets gateway: every password, API key and private key passes through here.

Secrets live in the OS keyring (service name ``postdesk``) through the ``keyring`` library. Values
too long for some keyrings (Windows Credential Manager holds ~1,280 characters) are encrypted with
AES-GCM under a data key that itself lives in the keyring; the ciphertext is kept in the data
directory. Nothing is ever written in plain text as a fallback: without a usable keyring every call
raises :class:`SecretsUnavailable`, whose text names the problem and the fix but never a secret.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets as _random
from pathlib import Path

from postdesk.core.config import data_dir
from postdesk.core.errors import UserError

SERVICE = "postdesk"
INLINE_LIMIT = 1000
DATA_KEY_NAME = "data-key"
_SEALED_PREFIX = "sealed:v1:"
_PROBE_NAME = "keyring-probe"

_backend = None


class SecretsUnavailable(UserError):
    """No usable OS keyring: nothing can be stored safely."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__("secrets.unavailable", message, hint)


def _fix_hint() -> str:
    if os.name == "nt":
        return "Make sure Windows Credential Manager is available for your account, then try again."
    if os.uname().sysname == "Darwin":
        return "Unlock your login keychain in Keychain Access, then try again."
    return (
        "Start your desktop's keyring (GNOME Keyring or KWallet) and unlock it, then try again. "
        "Without a desktop session, run Postdesk inside 'dbus-run-session' with "
        "'gnome-keyring-daemon --unlock' started first."
    )


def reset_backend() -> None:
    """Forget the chosen backend (after the environment changed, e.g. in tests)."""
    global _backend
    _backend = None
    import keyring.core

    keyring.core._keyring_backend = None  # keyring caches its choice; make it choose again


def _keyring():  # type: ignore[no-untyped-def]
    global _backend
    if _backend is None:
        import keyring
        import keyring.backends.fail

        backend = keyring.get_keyring()
        if isinstance(backend, keyring.backends.fail.Keyring):
            raise SecretsUnavailable(
                "No secure password storage (OS keyring) was found on this computer.", _fix_hint()
            )
        if (
            "plaintext" in type(backend).__name__.lower()
            or "keyrings.alt" in type(backend).__module__
        ):
            raise SecretsUnavailable(
                f"The keyring backend '{backend_name(backend)}' stores passwords in plain text, "
                "which Postdesk refuses to use.",
                _fix_hint(),
            )
        _backend = backend
    return _backend


def backend_name(backend: object | None = None) -> str:
    """A readable name of the keyring backend in use (``module.Class``)."""
    if backend is None:
        try:
            backend = _keyring()
        except SecretsUnavailable:
            import keyring

            backend = keyring.get_keyring()
    kind = type(backend)
    return f"{kind.__module__}.{kind.__qualname__}"


def _call(action: str, fn, *args):  # type: ignore[no-untyped-def]
    """Run one keyring call, turning any backend failure into a message without secrets."""
    try:
        return fn(*args)
    except SecretsUnavailable:
        raise
    except Exception as exc:
        reason = type(exc).__name__
        if "locked" in reason.lower() or "locked" in str(exc).lower():
            message = f"The OS keyring is locked, so Postdesk could not {action}."
        else:
            message = f"The OS keyring refused to {action} ({reason})."
        raise SecretsUnavailable(message, _fix_hint()) from None


def check_backend() -> str:
    """Prove the keyring works with a write-read-delete round trip; returns the backend name."""
    backend = _keyring()
    token = _random.token_hex(8)
    _call("store a test value", backend.set_password, SERVICE, _PROBE_NAME, token)
    read = _call("read a test value", backend.get_password, SERVICE, _PROBE_NAME)
    _call("remove a test value", backend.delete_password, SERVICE, _PROBE_NAME)
    if read != token:
        raise SecretsUnavailable(
            "The OS keyring did not return what was stored in it.", _fix_hint()
        )
    return backend_name(backend)


def new_secret_ref(prefix: str) -> str:
    """A fresh, meaningless name under which a secret is stored (``prefix:random``)."""
    return f"{prefix}:{_random.token_hex(12)}"


def store_secret(name: str, value: str) -> None:
    """Store ``value`` under ``name``, sealing values longer than the inline limit."""
    backend = _keyring()
    if len(value) > INLINE_LIMIT:
        value = _seal(name, value)
    _call("save a secret", backend.set_password, SERVICE, name, value)


def read_secret(name: str) -> str | None:
    """The secret stored under ``name``, or None when there is none."""
    stored = _call("read a secret", _keyring().get_password, SERVICE, name)
    if stored is not None and stored.startswith(_SEALED_PREFIX):
        return _unseal(name, stored)
    return stored


def delete_secret(name: str) -> bool:
    """Remove the secret under ``name``; returns False when there was nothing to remove."""
    backend = _keyring()
    stored = _call("read a secret", backend.get_password, SERVICE, name)
    if stored is None:
        return False
    _call("remove a secret", backend.delete_password, SERVICE, name)
    if stored.startswith(_SEALED_PREFIX):
        _vault_file(name).unlink(missing_ok=True)
    return True


# --- sealed values ----------------------------------------------------------------------------


def _vault_file(name: str) -> Path:
    digest = hashlib.sha256(name.encode()).hexdigest()[:32]
    return data_dir() / "vault" / f"{digest}.sealed"


def _data_key() -> bytes:
    backend = _keyring()
    stored = _call("read the data key", backend.get_password, SERVICE, DATA_KEY_NAME)
    if stored is None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        stored = base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()
        _call("save the data key", backend.set_password, SERVICE, DATA_KEY_NAME, stored)
    return base64.b64decode(stored)


def _seal(name: str, value: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    blob = nonce + AESGCM(_data_key()).encrypt(nonce, value.encode(), name.encode())
    path = _vault_file(name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(blob)
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return _SEALED_PREFIX + hashlib.sha256(blob).hexdigest()


def _unseal(name: str, stored: str) -> str:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    path = _vault_file(name)
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise UserError(
            "secrets.sealed_missing",
            "A stored key is incomplete: its encrypted part is missing from the data folder.",
            "Create the key again (for a DKIM key: Generate new key in Domain Settings).",
        ) from None
    if hashlib.sha256(blob).hexdigest() != stored.removeprefix(_SEALED_PREFIX):
        raise UserError(
            "secrets.sealed_changed",
            "A stored key's encrypted part does not match what the keyring expects.",
            "Create the key again (for a DKIM key: Generate new key in Domain Settings).",
        )
    try:
        return AESGCM(_data_key()).decrypt(blob[:12], blob[12:], name.encode()).decode()
    except InvalidTag:
        raise UserError(
            "secrets.sealed_unreadable",
            "A stored key could not be decrypted with this keyring's data key.",
            "Create the key again (for a DKIM key: Generate new key in Domain Settings).",
        ) from None
