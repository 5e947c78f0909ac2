"""The secrets gateway against the real Secret Service (gnome-keyring), and without any keyring."""

from __future__ import annotations

import subprocess
import sys

import pytest

from postdesk.core import secrets
from postdesk.core.errors import UserError


def test_round_trip_short_secret(secret_service: str) -> None:
    secrets.store_secret("service:test-1", "s3cret-api-key")
    assert secrets.read_secret("service:test-1") == "s3cret-api-key"
    assert secrets.delete_secret("service:test-1") is True
    assert secrets.read_secret("service:test-1") is None
    assert secrets.delete_secret("service:test-1") is False


def test_long_secret_is_sealed_and_never_stored_in_the_keyring_as_plain_text(
    secret_service: str, postdesk_home
) -> None:
    import keyring

    private_key = "-----BEGIN PRIVATE KEY-----\n" + "A" * 1900 + "\n-----END PRIVATE KEY-----"
    assert len(private_key) > 1950
    secrets.store_secret("dkim:example.com:pd1", private_key)

    in_keyring = keyring.get_password(secrets.SERVICE, "dkim:example.com:pd1")
    assert in_keyring is not None and len(in_keyring) < 100  # fits Windows Credential Manager
    assert "PRIVATE KEY" not in in_keyring
    vault = list((postdesk_home / "vault").iterdir())
    assert len(vault) == 1 and b"PRIVATE KEY" not in vault[0].read_bytes()

    assert secrets.read_secret("dkim:example.com:pd1") == private_key
    secrets.delete_secret("dkim:example.com:pd1")
    assert not list((postdesk_home / "vault").iterdir())


def test_check_backend_names_the_secret_service(secret_service: str) -> None:
    assert "SecretService" in secrets.check_backend()


def test_tampered_sealed_value_is_refused_with_a_message(
    secret_service: str, postdesk_home
) -> None:
    secrets.store_secret("dkim:x", "k" * 3000)
    (vault_file,) = (postdesk_home / "vault").iterdir()
    vault_file.write_bytes(b"\0" * 64)
    with pytest.raises(UserError) as caught:
        secrets.read_secret("dkim:x")
    assert caught.value.code == "secrets.sealed_changed"
    assert "k" * 20 not in str(caught.value)


def test_no_backend_gives_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    secrets.reset_backend()
    try:
        with pytest.raises(secrets.SecretsUnavailable) as caught:
            secrets.store_secret("service:1", "never-written")
        assert "No secure password storage" in caught.value.message
        assert "keyring" in caught.value.hint.lower()
    finally:
        secrets.reset_backend()


def test_plain_text_backend_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    secrets.reset_backend()
    try:
        # The null backend stores nothing; the round trip proves it unusable.
        with pytest.raises(secrets.SecretsUnavailable):
            secrets.check_backend()
    finally:
        secrets.reset_backend()


def test_cli_without_keyring_says_how_to_fix_it(postdesk_home) -> None:
    env = {
        "POSTDESK_HOME": str(postdesk_home),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-m", "postdesk", "doctor"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "No secure password storage" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_locked_collection_is_reported_not_hidden(locked_secret_service: str) -> None:
    with pytest.raises(secrets.SecretsUnavailable) as caught:
        secrets.store_secret("service:locked", "value-that-must-not-leak")
    assert "value-that-must-not-leak" not in str(caught.value)
