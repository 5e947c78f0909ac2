"""The secrets gateway against the real Secret Service (gnome-keyring), and without any keyring."""

from __future__ import annotations

import subprocess
import sys
import threading
from contextlib import closing

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


def test_keyring_checks_at_the_same_moment_never_read_each_others_test_value(
    secret_service: str,
) -> None:
    """The relay forwarding two messages at once (threads), or the relay and a command (two
    processes), each prove the keyring: neither may be refused for the other's test value."""
    import secretstorage

    failures: list[Exception] = []

    def prove() -> None:
        for _ in range(5):
            try:
                secrets.check_backend()
            except secrets.SecretsUnavailable as exc:
                failures.append(exc)

    threads = [threading.Thread(target=prove) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    with closing(secretstorage.dbus_init()) as bus:
        left = [
            item.get_attributes().get("username", "")
            for item in secretstorage.get_default_collection(bus).get_all_items()
        ]
    assert not [name for name in left if name.startswith("keyring-probe")]  # none left behind


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


def test_missing_data_key_is_never_replaced_while_sealed_keys_exist(
    secret_service: str, postdesk_home
) -> None:
    import keyring

    secrets.store_secret("dkim:a", "a" * 3000)
    keyring.delete_password(secrets.SERVICE, secrets.DATA_KEY_NAME)  # e.g. a keyring reset

    with pytest.raises(UserError) as reading:
        secrets.read_secret("dkim:a")
    with pytest.raises(UserError) as sealing:
        secrets.store_secret("dkim:b", "b" * 3000)
    for caught in (reading, sealing):
        assert caught.value.code == "secrets.data_key_missing"
        assert "1 sealed private key" in caught.value.message
        assert str(postdesk_home / "vault") in caught.value.message
        assert "DKIM key" in caught.value.hint
    assert keyring.get_password(secrets.SERVICE, secrets.DATA_KEY_NAME) is None
    assert len(list((postdesk_home / "vault").iterdir())) == 1  # nothing new sealed

    # The way out the message describes: the unreadable keys moved aside, new keys work again.
    (postdesk_home / "vault").rename(postdesk_home / "vault-unreadable")
    secrets.store_secret("dkim:b", "b" * 3000)
    assert secrets.read_secret("dkim:b") == "b" * 3000
    secrets.delete_secret("dkim:b")
    keyring.delete_password(secrets.SERVICE, "dkim:a")


def test_sealed_key_that_cannot_be_written_leaves_nothing_behind(
    secret_service: str, postdesk_home
) -> None:
    import keyring

    postdesk_home.mkdir(parents=True, exist_ok=True)
    (postdesk_home / "vault").write_text("not a folder")  # the vault cannot be created
    with pytest.raises(UserError) as caught:
        secrets.store_secret("dkim:c", "c" * 3000)
    assert caught.value.code.startswith("store.")
    assert str(postdesk_home / "vault") in caught.value.message
    assert "c" * 20 not in str(caught.value)
    assert keyring.get_password(secrets.SERVICE, "dkim:c") is None


@pytest.mark.parametrize(
    ("backend", "words"),
    [
        ("keyring.backends.null.Keyring", "throws away"),
        ("keyring.backends.fail.Keyring", "No secure password storage"),
        ("nosuch.module.Keyring", "could not be loaded"),
    ],
)
def test_require_storage_refuses_backends_that_do_not_store(
    backend: str, words: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", backend)
    secrets.reset_backend()
    try:
        with pytest.raises(secrets.SecretsUnavailable) as caught:
            secrets.require_storage()
        assert words in caught.value.message
        assert "PYTHON_KEYRING_BACKEND" in caught.value.hint
    finally:
        secrets.reset_backend()
