"""SMTP services: validation, presets, the keyring, and refusing to remove a service in use."""

from __future__ import annotations

import keyring
import pytest
from sqlalchemy import select

from postdesk.core import secrets, services
from postdesk.core.errors import UserError
from postdesk.core.presets import PRESETS
from postdesk.core.services import ServiceForm
from postdesk.core.store.models import AuditEvent, SmtpService
from support.workspace import add_verified_domain


def sendgrid(password: str = "SG.key-123", **changes) -> ServiceForm:
    preset = PRESETS["sendgrid"]
    form = ServiceForm(
        name="SendGrid",
        host=preset.host,
        port=preset.port,
        security=preset.security,
        username="apikey",
        password=password,
        preset="sendgrid",
    )
    for key, value in changes.items():
        setattr(form, key, value)
    return form


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"host": "https://smtp.x.com"}, "host", "web address"),
        ({"port": "70000"}, "port", "65535"),
        ({"port": 465, "security": "starttls"}, "security", "implicit TLS"),
        ({"port": 587, "security": "tls"}, "security", "STARTTLS"),
        ({"username": " "}, "username", "username"),
        ({"password": ""}, "password", "password"),
        ({"name": "Send\ngrid"}, "name", "line break"),
        ({"name": "S" * 65}, "name", "at most 64"),
        ({"host": "[::1"}, "host", "bracket"),
        ({"port": ""}, "port", "not a port number"),
        ({"spf_include": "not a domain"}, "spf_include", "not a domain name"),
        ({"spf_include": "sendgrid.net\r\ninclude:evil.test"}, "spf_include", "line break"),
    ],
)
def test_bad_fields_get_an_inline_message(changes, field, words) -> None:
    check = services.validate_form(sendgrid(**changes))
    assert not check.ok
    assert words.lower() in check.errors[field].lower()


def test_port_25_is_a_warning_not_an_error() -> None:
    check = services.validate_form(sendgrid(port=25, security="starttls"))
    assert check.ok
    assert "blocked" in check.warnings["port"]


def test_add_keeps_the_password_in_the_keyring_only(store, secret_service) -> None:
    service = services.add_service(store, sendgrid())
    assert service.is_default  # the first service becomes the default
    assert service.spf_include == "sendgrid.net"
    assert keyring.get_password(secrets.SERVICE, service.secret_ref) == "SG.key-123"
    with store.engine.connect() as conn:
        dump = "\n".join(
            str(row)
            for t in ("smtp_services", "audit_log")
            for row in conn.exec_driver_sql(f"select * from {t}")
        )
    assert "SG.key-123" not in dump


def test_edit_password_only_rewrites_the_keyring_entry(store, secret_service) -> None:
    service = services.add_service(store, sendgrid())
    services.edit_service(store, "SendGrid", sendgrid(password="SG.new-key"))
    again = services.get_service(store, "SendGrid")
    assert again.secret_ref == service.secret_ref
    assert services.service_password(again) == "SG.new-key"
    services.edit_service(store, "SendGrid", sendgrid(password=None, port=2525))
    assert services.service_password(services.get_service(store, "SendGrid")) == "SG.new-key"


def test_remove_is_refused_while_a_domain_sends_through_it(store, secret_service) -> None:
    service = services.add_service(store, sendgrid())
    add_verified_domain(store, "shop.example", service.id)
    with pytest.raises(UserError) as caught:
        services.remove_service(store, "SendGrid")
    assert "shop.example" in caught.value.message
    assert keyring.get_password(secrets.SERVICE, service.secret_ref) == "SG.key-123"


def test_remove_deletes_the_keyring_entry_and_moves_the_default(store, secret_service) -> None:
    first = services.add_service(store, sendgrid())
    services.add_service(store, sendgrid(name="Backup", password="other"))
    services.remove_service(store, "SendGrid")
    assert keyring.get_password(secrets.SERVICE, first.secret_ref) is None
    (left,) = services.list_services(store)
    assert left.name == "Backup" and left.is_default
    with store.session() as s:
        actions = [e.action for e in s.scalars(select(AuditEvent))]
    assert actions.count("service.added") == 2 and "service.removed" in actions


def test_set_default_keeps_one_default(store, secret_service) -> None:
    services.add_service(store, sendgrid())
    services.add_service(store, sendgrid(name="Backup", password="x"))
    services.set_default(store, "Backup")
    defaults = [s.name for s in services.list_services(store) if s.is_default]
    assert defaults == ["Backup"]


def test_duplicate_name_is_refused_without_touching_the_keyring(store, secret_service) -> None:
    services.add_service(store, sendgrid())
    with pytest.raises(UserError, match="already exists"):
        services.add_service(store, sendgrid(password="second"))
    with store.session() as s:
        assert len(s.scalars(select(SmtpService)).all()) == 1


def test_locked_keyring_leaves_no_row(store, locked_secret_service) -> None:
    with pytest.raises(secrets.SecretsUnavailable):
        services.add_service(store, sendgrid())
    assert services.list_services(store) == []


def test_settings_are_checked_and_can_be_reset(store) -> None:
    from postdesk.core import settings

    with store.session() as s:
        settings.change(s, "relay_port", 2600)
        with pytest.raises(UserError, match="whole number"):
            settings.change(s, "relay_port", 70000)
        with pytest.raises(UserError):
            settings.change(s, "relay_security", "ssl")
    with store.session() as s:
        assert settings.get(s, "relay_port") == 2600
        settings.change(s, "relay_port", None)
    with store.session() as s:
        assert settings.get(s, "relay_port") == 2525


def test_host_and_address_settings_are_checked(store) -> None:
    from postdesk.core import settings

    with store.session() as s:
        settings.change(s, "tracking_target", "Track.Mailer.Example.")
        settings.change(s, "blocklists", ["zen.spamhaus.org"])
        with pytest.raises(UserError):
            settings.change(s, "dmarc_rua", "not-an-address")
        with pytest.raises(UserError):
            settings.change(s, "return_path_target", "https://bounce.example.com/")
        with pytest.raises(UserError):
            settings.change(s, "blocklists", ["zen.spamhaus.org", "bad zone"])
    with store.session() as s:
        assert settings.get(s, "tracking_target") == "track.mailer.example"


def test_a_refused_spf_include_never_reaches_a_record(store, secret_service) -> None:
    with pytest.raises(UserError) as caught:
        services.add_service(store, sendgrid(spf_include="not a domain"))
    assert caught.value.code == "service.spf_include"
    assert services.list_services(store) == []
    added = services.add_service(store, sendgrid(spf_include=" Include:SendGrid.NET "))
    assert added.spf_include == "sendgrid.net"


NUMBERS = ("relay_port", "relay_max_message_mb", "tracking_delay_minutes")


@pytest.mark.parametrize("key", NUMBERS)
@pytest.mark.parametrize(
    "value", [True, False, "true", 2.5, "2.5", "", "-1", 0, "0", "1e3", "٥", [1]]
)
def test_a_number_setting_takes_only_whole_numbers(store, key: str, value: object) -> None:
    from postdesk.core import settings

    with store.session() as s, pytest.raises(UserError) as caught:
        settings.change(s, key, value)
    assert caught.value.code == "settings.bad_value"
    assert key in caught.value.message and "whole number" in caught.value.hint
    with store.session() as s:
        assert settings.get(s, key) == settings.DEFAULTS[key]


@pytest.mark.parametrize(
    ("key", "text", "stored"),
    [
        ("relay_port", "2600", 2600),
        ("relay_port", " 65535 ", 65535),
        ("relay_max_message_mb", "40", 40),
        ("tracking_delay_minutes", "1", 1),
        ("relay_security", "tls", "tls"),
        ("relay_host", "Relay.Example.COM", "relay.example.com"),
        ("blocklists", '["zen.spamhaus.org"]', ["zen.spamhaus.org"]),
        ("blocklists", "zen.spamhaus.org, bl.spamcop.net", ["zen.spamhaus.org", "bl.spamcop.net"]),
    ],
)
def test_typed_setting_text_becomes_its_value(store, key: str, text: str, stored: object) -> None:
    from postdesk.core import settings

    with store.session() as s:
        settings.change(s, key, settings.parse_text(key, text))
    with store.session() as s:
        assert settings.get(s, key) == stored


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("relay_port", "true"),
        ("relay_port", "65536"),
        ("relay_port", "0"),
        ("relay_max_message_mb", "true"),
        ("tracking_delay_minutes", "15.5"),
        ("relay_security", "ssl"),
        ("relay_host", "relay\r\nexample.com"),
        ("blocklists", "[1, 2]"),
        ("blocklists", '"zen.spamhaus.org"'),
    ],
)
def test_typed_setting_text_that_does_not_fit_is_refused(store, key: str, text: str) -> None:
    from postdesk.core import settings

    with pytest.raises(UserError) as caught, store.session() as s:
        settings.change(s, key, settings.parse_text(key, text))
    assert "\n" not in str(caught.value)
    with store.session() as s:
        assert settings.get(s, key) == settings.DEFAULTS[key]
