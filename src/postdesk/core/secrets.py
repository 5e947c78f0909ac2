"""The secrets gateway: every password, API key and private key passes through here.

Secrets live in the OS keyring (service name ``postdesk``) through the ``keyring`` library. Values
too long for some keyrings (Windows Credential Manager holds ~1,280 characters) are encrypted with
AES-GCM under a data key that itself lives in the keyring; the ciphertext is kept in the data
directory. Nothing is ever written in plain text as a fallback: without a usable keyring every call
raises :class:`SecretsUnavailable`, whose text names the problem and the fix but never a secret.
When ``PYTHON_KEYRING_BACKEND`` names keyring's Secret Service backend, reads go straight to the
Secret Service (``secretservice``, the same item keyring reads) without importing keyring, whose
import costs a command-line test send ~0.2 s; writes and deletes always go through keyring.

A keyring is usable once a test value has made a write-read-delete round trip through it
(:func:`require_storage`, once per process): backends that accept values and keep none are caught
before a workflow writes anything. The data key is created only while no sealed value exists.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets as _random
import sys
import threading
from pathlib import Path

from postdesk.core.config import data_dir, folder_problem
from postdesk.core.errors import UserError

SERVICE = "postdesk"
INLINE_LIMIT = 1000
DATA_KEY_NAME = "data-key"
_SEALED_PREFIX = "sealed:v1:"
_PROBE_NAME = "keyring-probe"
_checking = threading.Lock()

_backend = None
_verified: str | None = None  # the backend whose round trip passed in this process
_BACKEND_ENV = "PYTHON_KEYRING_BACKEND"
_SECRET_SERVICE = "keyring.backends.SecretService.Keyring"  # read without keyring (secretservice)
_SHOWN_NAME_LIMIT = 80


class SecretsUnavailable(UserError):
    """No usable OS keyring: nothing can be stored safely."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__("secrets.unavailable", message, hint)


def _unusable_backend_hint() -> str:
    """What to do about a backend that cannot store: often one chosen in the environment."""
    if os.environ.get(_BACKEND_ENV, "").strip():
        return (
            f"Unset {_BACKEND_ENV} (it chooses this backend) so the OS keyring is used, "
            "or name a backend that really stores, such as keyring.backends.SecretService.Keyring."
        )
    return _fix_hint()


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
    global _backend, _verified
    _backend = None
    _verified = None
    core = sys.modules.get("keyring.core")  # never imported just to be reset
    if core is not None:
        core._keyring_backend = None  # type: ignore[attr-defined]  # keyring caches its choice


def _shown(text: str) -> str:
    """User-supplied text fit for a one-line message: no control characters, bounded."""
    clean = "".join(c if c.isprintable() else "?" for c in text)
    if len(clean) > _SHOWN_NAME_LIMIT:
        clean = clean[: _SHOWN_NAME_LIMIT - 1] + "…"
    return clean


def _load_backend():  # type: ignore[no-untyped-def]
    """keyring's choice of backend; a backend named in the environment that cannot load is a
    clear message, not keyring's import traceback."""
    import keyring

    try:
        return keyring.get_keyring()
    except Exception as exc:
        named = os.environ.get(_BACKEND_ENV, "").strip()
        if named:
            raise _not_loaded(named, type(exc).__name__) from None
        raise SecretsUnavailable(
            f"The OS keyring could not be started ({type(exc).__name__}).", _fix_hint()
        ) from None


def _not_loaded(named: str, reason: str) -> SecretsUnavailable:
    return SecretsUnavailable(
        f"The keyring backend '{_shown(named)}' named in {_BACKEND_ENV} could not be "
        f"loaded ({reason}).",
        f"Unset {_BACKEND_ENV}, or name an installed backend such as "
        "keyring.backends.SecretService.Keyring.",
    )


def _refusal(backend: object) -> SecretsUnavailable | None:
    """Why this backend can never hold a secret, judged by its kind alone (None: try it)."""
    import keyring.backends.chainer
    import keyring.backends.fail
    import keyring.backends.null

    name = backend_name(backend)
    if isinstance(backend, keyring.backends.fail.Keyring):
        return SecretsUnavailable(
            "No secure password storage (OS keyring) was found on this computer.",
            _unusable_backend_hint(),
        )
    if isinstance(backend, keyring.backends.null.Keyring):
        return SecretsUnavailable(
            f"The keyring backend '{name}' throws away everything stored in it, "
            "which Postdesk refuses to use.",
            _unusable_backend_hint(),
        )
    if isinstance(backend, keyring.backends.chainer.ChainerBackend) and not backend.backends:
        return SecretsUnavailable(
            "No secure password storage (OS keyring) was found on this computer "
            "(the keyring chain has no usable backend).",
            _unusable_backend_hint(),
        )
    kind = type(backend)
    if "plaintext" in kind.__name__.lower() or "keyrings.alt" in kind.__module__:
        return SecretsUnavailable(
            f"The keyring backend '{name}' stores passwords in plain text, "
            "which Postdesk refuses to use.",
            _unusable_backend_hint(),
        )
    return None


def _keyring():  # type: ignore[no-untyped-def]
    global _backend
    if _backend is None:
        backend = _load_backend()
        refusal = _refusal(backend)
        if refusal is not None:
            raise refusal
        _backend = backend
    return _backend


def backend_name(backend: object | None = None) -> str:
    """A readable name of the keyring backend in use (``module.Class``)."""
    if backend is None:
        try:
            backend = _keyring()
        except SecretsUnavailable:
            try:
                backend = _load_backend()
            except SecretsUnavailable:
                return _shown(os.environ.get(_BACKEND_ENV, "").strip() or "none")
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
    """Prove the keyring works with a write-read-delete round trip; returns the backend name.

    Each round trip uses an item of its own: two threads (or the relay and a command) proving
    the keyring at the same moment must not read each other's test value."""
    global _verified
    backend = _keyring()
    token = _random.token_hex(8)
    probe = f"{_PROBE_NAME}:{token}"
    _call("store a test value", backend.set_password, SERVICE, probe, token)
    read = _call("read a test value", backend.get_password, SERVICE, probe)
    if read != token:
        with contextlib.suppress(Exception):  # leave no test item behind
            backend.delete_password(SERVICE, probe)
        raise SecretsUnavailable(
            f"The keyring backend '{backend_name(backend)}' did not give back a test value "
            "stored in it, so it cannot keep Postdesk's passwords and keys.",
            _unusable_backend_hint(),
        )
    _call("remove a test value", backend.delete_password, SERVICE, probe)
    _verified = backend_name(backend)
    return _verified


def require_storage() -> str:
    """Refuse, before anything is written, unless the keyring really stores (checked once).

    Workflows that will store a secret call this first, so an unusable keyring stops them before
    their first database row or DNS query; the round trip runs once per process.
    """
    if _verified is not None and _backend is not None:
        return _verified
    with _checking:  # threads that arrive together share one round trip
        if _verified is not None and _backend is not None:
            return _verified
        return check_backend()


def check_kind() -> str:
    """The keyring backend secrets will go to, refused by its kind alone (none, one that keeps
    nothing, one that keeps plain text); returns its name.

    Nothing is stored or read: the window checks this at start without waiting on (or unlocking)
    the keyring; :func:`require_storage` makes the round trip once a secret is to be stored.
    """
    return backend_name(_keyring())


def new_secret_ref(prefix: str) -> str:
    """A fresh, meaningless name under which a secret is stored (``prefix:random``)."""
    return f"{prefix}:{_random.token_hex(12)}"


def store_secret(name: str, value: str) -> None:
    """Store ``value`` under ``name``, sealing values longer than the inline limit."""
    require_storage()
    backend = _keyring()
    if len(value) <= INLINE_LIMIT:
        _call("save a secret", backend.set_password, SERVICE, name, value)
        return
    sealed = _seal(name, value)
    try:
        _call("save a secret", backend.set_password, SERVICE, name, sealed)
    except BaseException:
        _vault_file(name).unlink(missing_ok=True)  # no sealed part without its keyring item
        raise


def read_secret(name: str) -> str | None:
    """The secret stored under ``name``, or None when there is none."""
    stored = _get_password("read a secret", name)
    if stored is not None and stored.startswith(_SEALED_PREFIX):
        return _unseal(name, stored)
    return stored


def _get_password(action: str, name: str) -> str | None:
    """One keyring read; straight from the Secret Service when the environment names keyring's
    backend for it (the same item keyring would read, without importing keyring)."""
    if os.environ.get(_BACKEND_ENV, "").strip() != _SECRET_SERVICE:
        return _call(action, _keyring().get_password, SERVICE, name)  # type: ignore[no-any-return]
    from postdesk.core import secretservice

    def read() -> str | None:
        try:
            return secretservice.get_password(SERVICE, name)
        except secretservice.Unreachable as exc:  # where keyring would refuse to load it
            raise _not_loaded(_SECRET_SERVICE, exc.reason) from None

    return _call(action, read)  # type: ignore[no-any-return]


def delete_secret(name: str) -> bool:
    """Remove the secret under ``name``; returns False when there was nothing to remove."""
    backend = _keyring()
    stored = _call("read a secret", backend.get_password, SERVICE, name)
    if stored is None:
        return False
    _call("remove a secret", backend.delete_password, SERVICE, name)
    if stored.startswith(_SEALED_PREFIX):
        try:
            _vault_file(name).unlink(missing_ok=True)
        except OSError as exc:
            raise folder_problem(exc, "remove a sealed key", _vault_dir()) from None
    return True


# --- sealed values ----------------------------------------------------------------------------


def _vault_dir() -> Path:
    return data_dir() / "vault"


def _vault_file(name: str) -> Path:
    digest = hashlib.sha256(name.encode()).hexdigest()[:32]
    return _vault_dir() / f"{digest}.sealed"


def _sealed_on_disk() -> int:
    """How many sealed values the data folder holds (they all depend on the one data key)."""
    try:
        return sum(1 for _ in _vault_dir().glob("*.sealed"))
    except OSError:
        return 0


def _data_key_missing(count: int) -> UserError:
    vault = _vault_dir()
    return UserError(
        "secrets.data_key_missing",
        f"Postdesk's data key is missing from the OS keyring, so the {count} sealed private "
        f"key(s) (DKIM keys) in {vault} can no longer be decrypted.",
        "If the keyring was replaced or reset, bring the old one back. Otherwise move that folder "
        "aside and give each domain a new DKIM key (Domain Settings → Generate new key, or "
        "remove the domain and add it again).",
    )


def _data_key(*, create: bool) -> bytes:
    """The key that seals long values; made on first use only.

    A new key is never made while sealed values exist: they would stay unreadable for good, and
    a keyring that merely hid the old key for a moment would lose it to the new one.
    """
    stored = _get_password("read the data key", DATA_KEY_NAME)
    if stored is None:
        count = _sealed_on_disk()
        if count or not create:
            raise _data_key_missing(count)
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        stored = base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()
        _call("save the data key", _keyring().set_password, SERVICE, DATA_KEY_NAME, stored)
    return base64.b64decode(stored)


def _seal(name: str, value: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    blob = nonce + AESGCM(_data_key(create=True)).encrypt(nonce, value.encode(), name.encode())
    path = _vault_file(name)
    tmp = path.with_suffix(".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp.write_bytes(blob)
        os.chmod(tmp, 0o600)
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)  # never leave half a sealed value behind
        raise folder_problem(exc, "save a sealed key", path.parent) from None
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
    except OSError as exc:
        raise folder_problem(exc, "read a sealed key", path.parent) from None
    if hashlib.sha256(blob).hexdigest() != stored.removeprefix(_SEALED_PREFIX):
        raise UserError(
            "secrets.sealed_changed",
            "A stored key's encrypted part does not match what the keyring expects.",
            "Create the key again (for a DKIM key: Generate new key in Domain Settings).",
        )
    try:
        return AESGCM(_data_key(create=False)).decrypt(blob[:12], blob[12:], name.encode()).decode()
    except InvalidTag:
        raise UserError(
            "secrets.sealed_unreadable",
            "A stored key could not be decrypted with this keyring's data key.",
            "Create the key again (for a DKIM key: Generate new key in Domain Settings).",
        ) from None
