"""The light read-only path gives exactly what the store gives, or steps aside.

Each workspace is filled through the normal core functions; the light reader and the ORM path
must then return equal views. A workspace the light path cannot read as-is (another database, an
older schema, no file yet) gets None, and the listing commands print the same either way.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest

from postdesk.cli import main
from postdesk.core import credentials, domains, ips, routing, services, settings, usage
from postdesk.core.errors import UserError
from postdesk.core.presets import PRESETS
from postdesk.core.services import ServiceForm
from postdesk.core.store import Store, lite, open_store
from postdesk.core.store.models import DedicatedDomain, DedicatedIp
from support.workspace import add_verified_domain

NOON = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def _reader() -> lite.LiteReader:
    reader = lite.open_readonly()
    assert reader is not None, "an up-to-date SQLite workspace is read on the light path"
    return reader


def _service(name: str, *, preset: str = "sendgrid", default: bool = False) -> ServiceForm:
    known = PRESETS[preset]
    return ServiceForm(
        name=name,
        host=known.host or "smtp.example.net",
        port=known.port,
        security=known.security,
        username="apikey",
        password="secret-key-123",
        preset=preset,
        spf_include=known.spf_include,
        make_default=default,
    )


def _same_everywhere(store: Store, domain_names: list[str]) -> None:
    reader = _reader()
    try:
        assert reader.services() == services.list_services(store)
        assert reader.domains() == domains.list_domains(store)
        assert reader.ips() == ips.list_ips(store)
        for name in domain_names:
            assert reader.smtp_users(name) == credentials.list_smtp_users(store, name)
        for at in (NOON, NOON + dt.timedelta(days=3), None):
            assert reader.today(at) == usage.today(store, at)
        end = NOON.date() + dt.timedelta(days=2)
        assert reader.daily_series(14, end=end) == usage.daily_series(store, 14, end=end)
        assert reader.daily_series(1) == usage.daily_series(store, 1)
    finally:
        reader.close()


def test_an_empty_workspace_reads_the_same(store: Store) -> None:
    _same_everywhere(store, [])
    assert _reader().services() == []


def test_a_filled_workspace_reads_the_same(store: Store, secret_service) -> None:
    sendgrid = services.add_service(store, _service("SendGrid", default=True))
    services.add_service(store, _service("Relay", preset="custom"))  # nulls: no SPF, never tested
    services.record_test(store, "SendGrid", False, "auth", "535 bad key")
    services.pin_certificate(store, "SendGrid", "AB:CD")
    # One service used by two domains (one of them with a Unicode name), one domain with none.
    add_verified_domain(store, "shop.example", sendgrid.id)
    add_verified_domain(store, "xn--bcher-kva.example", sendgrid.id)
    with store.session() as s:
        s.add(DedicatedDomain(name="new.example", ownership_token="t", reply_to="a@new.example"))
    made = [credentials.create_smtp_user(store, "shop.example", f"app{i}") for i in range(3)]
    routing.set_user_service(store, "shop.example", "app1", "Relay")
    credentials.delete_smtp_user(store, "shop.example", "app2")  # deleted users are not listed
    credentials.create_smtp_user(store, "bücher.example", "news")
    users = credentials.list_smtp_users(store, "shop.example")
    assert [u.login for u in users] == ["app0", "app1"]
    for day in range(5):
        usage.record_sent(
            store,
            recipients=day + 1,
            smtp_user_id=users[0].id,
            domain_id=users[0].domain_id,
            at=NOON + dt.timedelta(days=day),
        )
    usage.record_sent(store, recipients=7, service_id=sendgrid.id, at=NOON)
    ips.add_ip(store, "203.0.113.25", "main")
    ips.add_ip(store, "2001:db8::25")
    with store.session() as s:
        settings.put(s, "daily_limit", 2000)
        row = s.get_one(DedicatedIp, 1)
        row.last_checked_at, row.last_status = NOON, "listed"
        row.last_report = {"ip": "203.0.113.25", "blocklists": [{"zone": "bl.test"}]}
    assert made[0].username == "app0@shop.example"

    _same_everywhere(store, ["shop.example", "bücher.example", "xn--bcher-kva.example"])
    reader = _reader()
    try:
        assert reader.today(NOON).sent == 8 and reader.today(NOON).limit == 2000
        assert [d.service for d in reader.domains()] == [None, "SendGrid", "SendGrid"]
        assert reader.services()[0].last_test_at is not None
        assert reader.services()[0].last_test_at.tzinfo is dt.UTC
    finally:
        reader.close()


def test_an_unknown_domain_is_the_same_one_line_error(store: Store) -> None:
    add_verified_domain(store, "shop.example")
    for typed in ("other.example", "https://shop.example/"):
        with pytest.raises(UserError) as normal:
            credentials.list_smtp_users(store, typed)
        reader = _reader()
        try:
            with pytest.raises(UserError) as light:
                reader.smtp_users(typed)
        finally:
            reader.close()
        assert (light.value.code, light.value.message) == (normal.value.code, normal.value.message)


def test_a_workspace_at_an_older_revision_takes_the_normal_path(postdesk_home: Path) -> None:
    open_store().close()
    database = postdesk_home / "postdesk.db"
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    conn.close()
    assert lite.open_readonly() is None


def test_no_file_or_an_empty_file_takes_the_normal_path(postdesk_home: Path) -> None:
    assert lite.open_readonly() is None
    assert not (postdesk_home / "postdesk.db").exists()  # nothing created on the light path
    postdesk_home.mkdir(parents=True)
    (postdesk_home / "postdesk.db").write_bytes(b"")
    assert lite.open_readonly() is None


def test_postgresql_takes_the_normal_path(postdesk_home, postgres_url, monkeypatch, capsys):
    monkeypatch.setenv("POSTDESK_DATABASE_URL", postgres_url)
    store = open_store()
    add_verified_domain(store, "shop.example")
    store.close()
    assert lite.open_readonly() is None
    assert main(["domain", "list", "--json"]) == 0
    assert [d["domain"] for d in json.loads(capsys.readouterr().out)["domains"]] == ["shop.example"]


def test_the_limits_match_the_stores(store: Store) -> None:
    assert settings.DEFAULTS["daily_limit"] == lite.DEFAULT_DAILY_LIMIT
    assert lite.MAX_USERS_PER_DOMAIN == credentials.MAX_USERS_PER_DOMAIN


LISTINGS = [
    ["service", "list"],
    ["service", "list", "--json"],
    ["domain", "list"],
    ["domain", "list", "--json"],
    ["smtp-user", "list", "shop.example"],
    ["smtp-user", "list", "shop.example", "--json"],
    ["ip", "list"],
    ["ip", "list", "--json"],
    ["usage", "--days", "3"],
    ["usage", "--json"],
    ["usage", "--csv"],
]


def test_listings_print_the_same_on_both_paths(store, secret_service, monkeypatch, capsys):
    sendgrid = services.add_service(store, _service("SendGrid", default=True))
    add_verified_domain(store, "shop.example", sendgrid.id)
    made = credentials.create_smtp_user(store, "shop.example", "app")
    (user,) = credentials.list_smtp_users(store, "shop.example")
    usage.record_sent(store, recipients=3, smtp_user_id=user.id, domain_id=user.domain_id)
    ips.add_ip(store, "203.0.113.25", "main")
    assert made.login == "app"

    def outputs() -> list[str]:
        printed = []
        for argv in LISTINGS:
            assert main(argv) == 0
            printed.append(capsys.readouterr().out)
        return printed

    light = outputs()
    monkeypatch.setattr(lite, "open_readonly", lambda url=None: None)
    assert outputs() == light
    assert "SendGrid" in light[0] and "app@shop.example" in light[5]
