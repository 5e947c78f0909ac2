"""Reading secrets straight from the Secret Service gives what keyring's backend gives.

With ``PYTHON_KEYRING_BACKEND`` naming keyring's Secret Service backend, the gateway reads without
importing keyring; keyring still writes. Against the real gnome-keyring: what one path holds, the
other reads, and the refusals stay the same.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from postdesk.core import secrets, secretservice


def _keyring_backend():  # type: ignore[no-untyped-def]
    from keyring.backends.SecretService import Keyring

    return Keyring()


def test_what_keyring_stores_is_read_directly(secret_service: str) -> None:
    _keyring_backend().set_password(secrets.SERVICE, "service:interop-1", "pässword 1 ✓")
    assert secretservice.get_password(secrets.SERVICE, "service:interop-1") == "pässword 1 ✓"
    assert secrets.read_secret("service:interop-1") == "pässword 1 ✓"
    # Another application's item with the same user name is not Postdesk's.
    _keyring_backend().set_password("another-app", "service:interop-2", "not ours")
    assert secrets.read_secret("service:interop-2") is None


def test_what_the_gateway_stores_is_read_by_keyring_and_directly(
    secret_service: str, postdesk_home
) -> None:
    secrets.store_secret("service:interop-3", "api-key-3")
    secrets.store_secret("dkim:interop.example:pd1", "K" * 3000)  # sealed: data key + vault
    backend = _keyring_backend()
    for name in ("service:interop-3", "dkim:interop.example:pd1", secrets.DATA_KEY_NAME):
        direct = secretservice.get_password(secrets.SERVICE, name)
        assert direct is not None and direct == backend.get_password(secrets.SERVICE, name)
    assert secrets.read_secret("service:interop-3") == "api-key-3"
    assert secrets.read_secret("dkim:interop.example:pd1") == "K" * 3000
    secrets.delete_secret("service:interop-3")
    assert secretservice.get_password(secrets.SERVICE, "service:interop-3") is None
    assert backend.get_password(secrets.SERVICE, "service:interop-3") is None


def test_a_read_in_a_fresh_process_does_not_import_keyring(secret_service: str) -> None:
    secrets.store_secret("service:interop-4", "value-4")
    probe = (
        "import sys\n"
        "from postdesk.core import secrets\n"
        "value = secrets.read_secret('service:interop-4')\n"
        "print(value == 'value-4', 'keyring' in sys.modules, 'secretstorage' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    # The usual read (unlocked collection and item) speaks D-Bus itself, without secretstorage.
    assert done.stdout.split() == ["True", "False", "False"], done.stderr


@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 31, 32, 33, 500])
def test_the_direct_read_decrypts_every_length_as_keyring_does(
    secret_service: str, length: int
) -> None:
    """The transfer is AES-CBC with padding to 16 bytes: lengths around a block's edge."""
    value = ("é✓x" * 200)[:length]
    name = f"service:length-{length}"
    _keyring_backend().set_password(secrets.SERVICE, name, value)
    assert secretservice.get_password(secrets.SERVICE, name) == value
    assert _keyring_backend().get_password(secrets.SERVICE, name) == value


def test_a_locked_collection_is_reported_on_a_direct_read(locked_secret_service: str) -> None:
    with pytest.raises(secrets.SecretsUnavailable) as caught:
        secrets.read_secret("service:locked")
    assert "locked" in caught.value.message


def test_no_secret_service_is_the_same_refusal_as_keyrings(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.SecretService.Keyring")
    secrets.reset_backend()
    try:
        with pytest.raises(secrets.SecretsUnavailable) as read:
            secrets.read_secret("service:any")
        with pytest.raises(secrets.SecretsUnavailable) as stored:
            secrets.store_secret("service:any", "value-that-must-not-leak")
    finally:
        secrets.reset_backend()
    for caught in (read, stored):
        assert "could not be loaded" in caught.value.message
        assert "PYTHON_KEYRING_BACKEND" in caught.value.hint
    assert "value-that-must-not-leak" not in str(stored.value)


def test_without_secretstorage_the_refusal_names_the_backend(monkeypatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.SecretService.Keyring")
    monkeypatch.setitem(sys.modules, "secretstorage", None)  # as if it were not installed
    with pytest.raises(secrets.SecretsUnavailable) as caught:
        secrets.read_secret("service:any")
    assert "could not be loaded" in caught.value.message
