"""SMTP users: at most five per verified domain, passwords in the keyring and as scrypt hashes."""

from __future__ import annotations

import keyring
import pytest
from sqlalchemy import select

from postdesk.core import credentials, secrets
from postdesk.core.errors import UserError
from postdesk.core.store.models import AuditEvent, DedicatedDomain, SmtpUser


def _stored(store, user_id: int) -> SmtpUser:
    """The database row behind a listed user (the list itself carries no secret reference)."""
    with store.session() as s:
        return s.get_one(SmtpUser, user_id)


def test_unverified_domain_cannot_have_users(store, secret_service) -> None:
    with store.session() as s:
        s.add(DedicatedDomain(name="new.example", ownership_token="t"))
    with pytest.raises(UserError) as caught:
        credentials.create_smtp_user(store, "new.example", "shop")
    assert "Verify Now" in caught.value.hint
    assert credentials.can_create(store, "new.example") is not None


def test_five_users_then_the_sixth_is_refused(store, verified_domain, secret_service) -> None:
    made = [credentials.create_smtp_user(store, verified_domain, f"app{i}") for i in range(5)]
    assert len({m.password for m in made}) == 5
    assert credentials.can_create(store, verified_domain) is not None
    with pytest.raises(UserError) as caught:
        credentials.create_smtp_user(store, verified_domain, "app6")
    assert caught.value.code == "smtp_user.limit"
    assert len(credentials.list_smtp_users(store, verified_domain)) == 5


def test_password_is_in_keyring_and_hashed_in_database(store, verified_domain, secret_service):
    made = credentials.create_smtp_user(store, verified_domain, "Shop")
    assert made.username == "shop@example.com"
    (listed,) = credentials.list_smtp_users(store, verified_domain)
    assert listed.username == "shop@example.com"
    user = _stored(store, listed.id)
    assert keyring.get_password(secrets.SERVICE, user.secret_ref) == made.password
    assert made.password not in user.password_hash
    with store.session() as s:
        assert credentials.authenticate(s, "shop@example.com", made.password) is not None
        assert credentials.authenticate(s, "shop@example.com", made.password + "x") is None


def test_typed_password_is_checked_for_strength(store, verified_domain, secret_service) -> None:
    with pytest.raises(UserError, match="too short"):
        credentials.create_smtp_user(store, verified_domain, "shop", "abc123")
    with pytest.raises(UserError, match="login"):
        credentials.create_smtp_user(store, verified_domain, "shop", "shop-shop-12345")
    made = credentials.create_smtp_user(store, verified_domain, "shop", "Correct-Horse-42")
    assert made.password == "Correct-Horse-42"


@pytest.mark.parametrize("login", ["", "has space", "a/b", "x" * 70, "-lead", "crm\r\n"])
def test_bad_login_names_are_refused(store, verified_domain, secret_service, login) -> None:
    with pytest.raises(UserError):
        credentials.create_smtp_user(store, verified_domain, login)


def test_reset_password_replaces_the_old_one(store, verified_domain, secret_service) -> None:
    old = credentials.create_smtp_user(store, verified_domain, "shop")
    (listed,) = credentials.list_smtp_users(store, verified_domain)
    before = _stored(store, listed.id)
    new = credentials.reset_password(store, verified_domain, "shop")
    assert new.password != old.password
    assert keyring.get_password(secrets.SERVICE, before.secret_ref) is None
    assert credentials.smtp_user_password(store, verified_domain, "shop") == new.password
    with store.session() as s:
        assert credentials.authenticate(s, "shop@example.com", old.password) is None
        assert credentials.authenticate(s, "shop@example.com", new.password) is not None


def test_delete_stops_login_keeps_history(store, verified_domain, secret_service) -> None:
    made = credentials.create_smtp_user(store, verified_domain, "shop")
    (listed,) = credentials.list_smtp_users(store, verified_domain)
    user = _stored(store, listed.id)
    credentials.delete_smtp_user(store, verified_domain, "shop")
    assert credentials.list_smtp_users(store, verified_domain) == []
    assert keyring.get_password(secrets.SERVICE, user.secret_ref) is None
    with store.session() as s:
        assert credentials.authenticate(s, "shop@example.com", made.password) is None
        kept = s.scalars(select(SmtpUser)).one()
        assert kept.deleted_at is not None
        actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions == ["smtp_user.created", "smtp_user.deleted"]
    credentials.create_smtp_user(store, verified_domain, "shop")  # the name is free again


def test_locked_keyring_leaves_nothing_half_written(store, verified_domain, locked_secret_service):
    with pytest.raises(secrets.SecretsUnavailable):
        credentials.create_smtp_user(store, verified_domain, "shop")
    assert credentials.list_smtp_users(store, verified_domain) == []
