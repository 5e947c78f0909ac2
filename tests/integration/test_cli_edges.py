"""Input at the edges of the command line: each bad value is refused by the real CLI in a
subprocess with one short line on stderr, a non-zero exit, no traceback and nothing stored.

Typed secrets are never echoed: only a password Postdesk generated is shown, once.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from postdesk.core import services
from postdesk.core.services import ServiceForm
from support.cli import postdesk
from support.workspace import add_verified_domain

LONG = "a" * 10_000
LONG_LOCAL = "a" * 65 + "@shop.test"
LONG_ADDRESS = "abcdefghij@" + ".".join(["a" * 63] * 3) + "." + "b" * 50 + ".test"  # 258
SERVICE = ("--host", "smtp.mailer.test", "--username", "u", "--password-stdin")
# The longest line a refusal may take: what was typed is echoed at most ~60 characters.
MAX_LINE = 400


def snapshot(home: Path) -> dict[str, object]:
    """Every row of every table and Postdesk's keyring items: what a refusal must not change."""
    import secretstorage

    with sqlite3.connect(home / "postdesk.db") as db:
        tables = [
            name
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if name != "alembic_version"
        ]
        rows = {t: db.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall() for t in tables}
    connection = secretstorage.dbus_init()
    try:
        collection = secretstorage.get_default_collection(connection)
        items = sorted(
            item.get_attributes()["username"]
            for item in collection.search_items({"service": "postdesk"})
        )
    finally:
        connection.close()
    return {"rows": rows, "keyring": items}


@pytest.fixture
def workspace(store, secret_service, postdesk_home: Path) -> Path:
    """A workspace with one service and one verified domain, so edits and lookups have targets."""
    services.add_service(
        store,
        ServiceForm(
            name="Mailer",
            host="smtp.mailer.test",
            port=587,
            security="starttls",
            username="u",
            password="service-password-1",
            spf_include="spf.mailer.test",
        ),
    )
    add_verified_domain(store, "shop.test")
    return postdesk_home


EDGES = [
    # settings: booleans are not numbers; ports and sizes stay in range
    ("settings-port-true", ["settings", "relay_port", "true"], "relay_port"),
    ("settings-port-zero", ["settings", "relay_port", "0"], "relay_port"),
    ("settings-port-high", ["settings", "relay_port", "65536"], "relay_port"),
    ("settings-port-empty", ["settings", "relay_port", ""], "relay_port"),
    ("settings-size-true", ["settings", "relay_max_message_mb", "true"], "relay_max_message_mb"),
    ("settings-delay-fraction", ["settings", "tracking_delay_minutes", "2.5"], "whole number"),
    ("settings-host-crlf", ["settings", "relay_host", "relay.test\r\nx"], "line break"),
    ("settings-unknown-crlf", ["settings", "no\r\nsuch", "1"], "no\\r\\nsuch"),
    # service: SPF include, name and field limits, host and port as typed
    ("spf-include-words", ["service", "add", "X", *SERVICE, "--spf-include", "not a domain"],
     "domain name"),
    ("spf-include-crlf",
     ["service", "add", "X", *SERVICE, "--spf-include", "sendgrid.net\r\ninclude:evil.test"],
     "line break"),
    ("edit-spf-include", ["service", "edit", "Mailer", "--spf-include", "not a domain"],
     "domain name"),
    ("service-name-long", ["service", "add", "S" * 1000, *SERVICE], "at most 64"),
    ("service-host-bracket", ["service", "add", "X", *SERVICE[2:], "--host", "[::1"], "bracket"),
    ("service-host-long", ["service", "add", "X", *SERVICE[2:], "--host", LONG], "server name"),
    ("service-host-crlf", ["service", "add", "X", *SERVICE[2:], "--host", "a.test\r\nb"],
     "line break"),
    ("service-port-empty", ["service", "add", "X", *SERVICE, "--port", ""], "port"),
    ("edit-port-empty", ["service", "edit", "Mailer", "--port", ""], "port"),
    ("service-unknown-long", ["service", "remove", LONG], "…"),
    # dedicated IPs
    ("ip-zone-id", ["ip", "add", "2001:db8::1%eth0"], "network interface"),
    ("ip-label-long", ["ip", "add", "203.0.113.5", "--label", "x" * 10_000], "at most 100"),
    ("ip-crlf", ["ip", "add", "203.0.113.5\r\n"], "line break"),
    ("ip-long", ["ip", "add", LONG], "…"),
    # domains typed anywhere are echoed short and on one line
    ("domain-add-long", ["domain", "add", LONG], "at most 63"),
    ("domain-add-crlf", ["domain", "add", "shop\r\nevil.test"], "shop\\r\\nevil.test"),
    ("domain-verify-long", ["domain", "verify", LONG], "…"),
    ("smtp-user-list-long", ["smtp-user", "list", LONG], "…"),
    ("tracking-long", ["tracking", LONG, "--open", "off"], "…"),
    ("smtp-user-login-crlf", ["smtp-user", "create", "shop.test", "shop\r\nx"], "line break"),
    ("smtp-user-login-long", ["smtp-user", "create", "shop.test", "x" * 1000], "login name"),
    # test-send addresses are checked before anything connects
    ("from-leading-dot", ["test-send", "--service", "Mailer", "--from", ".alice@shop.test",
                          "--to", "bob@example.org"], "before @"),
    ("from-double-dot", ["test-send", "--service", "Mailer", "--from", "alice..b@shop.test",
                         "--to", "bob@example.org"], "before @"),
    ("from-long-local", ["test-send", "--service", "Mailer", "--from", LONG_LOCAL,
                         "--to", "bob@example.org"], "64"),
    ("to-long-address", ["test-send", "--service", "Mailer", "--from", "alice@shop.test",
                         "--to", LONG_ADDRESS], "254"),
    ("to-crlf", ["test-send", "--service", "Mailer", "--from", "alice@shop.test",
                 "--to", "bob@example.org\r\nBcc: x@evil.test"], "line break"),
    ("smtp-user-crlf", ["test-send", "--smtp-user", "shop.test/sh\r\nop", "--from",
                        "alice@shop.test", "--to", "bob@example.org"], "sh\\r\\nop"),
    # the relay's own options
    ("relay-listen-bracket", ["relay", "--listen", "[::1:2525"], "HOST:PORT"),
    ("relay-listen-crlf", ["relay", "--listen", "127.0.0.1\r\n:2525"], "HOST:PORT"),
    ("relay-lease-nan", ["relay", "--lease", "nan"], "seconds"),
    ("relay-retry-negative", ["relay", "--retry-after", "-5"], "seconds"),
    ("usage-days-zero", ["usage", "--days", "0"], "--days"),
]  # fmt: skip


# Mistakes argparse itself finds: the usage-error status 2, in the same one line.
USAGE_EDGES = [
    ("days-not-a-number", ["usage", "--days", "abc"], "invalid int value"),
    ("days-huge-crlf", ["usage", "--days", "9" * 5000 + "\r\n"], "…"),
    ("tracking-on-off", ["tracking", "shop.test", "--open", "maybe"], "'on' or 'off'"),
    ("security-choice-crlf", ["service", "add", "X", "--security", "ssl\r\nx"], "ssl\\r\\nx"),
    ("records-format", ["domain", "records", "shop.test", "--format", "xml"], "invalid choice"),
    ("unknown-command", ["sendmail"], "invalid choice"),
    ("missing-argument", ["smtp-user", "create", "shop.test"], "required: login"),
]  # fmt: skip


def refused_in_one_line(home: Path, argv: list[str], words: str, code: int) -> None:
    """Run the CLI with bad input: exit ``code``, one short line naming ``words``, no change."""
    before = snapshot(home)
    done = postdesk(*argv, stdin="a-password-1\n")
    assert done.returncode == code, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stdout == ""
    line = done.stderr.rstrip("\n")
    assert "\n" not in line and "\r" not in line, line
    assert line.startswith("postdesk")
    assert len(line) < MAX_LINE, line
    assert words in line
    assert snapshot(home) == before


@pytest.mark.parametrize(("argv", "words"), [pytest.param(a, w, id=i) for i, a, w in EDGES])
def test_bad_input_is_one_clear_line_and_stores_nothing(
    workspace: Path, argv: list[str], words: str
) -> None:
    refused_in_one_line(workspace, argv, words, 1)


@pytest.mark.parametrize(("argv", "words"), [pytest.param(a, w, id=i) for i, a, w in USAGE_EDGES])
def test_a_usage_mistake_is_one_line_with_status_2(
    workspace: Path, argv: list[str], words: str
) -> None:
    refused_in_one_line(workspace, argv, words, 2)


# --- typed secrets are never echoed ------------------------------------------------------------

TYPED = "Typed-Password-4242"


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_a_typed_smtp_password_is_never_printed(workspace: Path, as_json: bool) -> None:
    json_flag = ["--json"] if as_json else []
    created = postdesk(
        "smtp-user", "create", "shop.test", "shop", "--password-stdin", *json_flag, stdin=TYPED
    )
    reset = postdesk(
        "smtp-user",
        "reset-password",
        "shop.test",
        "shop",
        "--password-stdin",
        *json_flag,
        stdin="Other-Typed-Pass-77\n",
    )
    for done in (created, reset):
        assert done.returncode == 0, done.stderr
        assert "shop@shop.test" in done.stdout
        assert TYPED not in done.stdout + done.stderr
        assert "Other-Typed-Pass-77" not in done.stdout + done.stderr
        if as_json:
            data = json.loads(done.stdout)
            assert data["password_generated"] is False and "password" not in data


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_a_generated_smtp_password_is_shown_once(workspace: Path, as_json: bool) -> None:
    from postdesk.core import credentials
    from postdesk.core.store import open_store

    json_flag = ["--json"] if as_json else []
    for argv in (["create"], ["reset-password"]):
        done = postdesk("smtp-user", *argv, "shop.test", "shop", *json_flag)
        assert done.returncode == 0, done.stderr
        store = open_store()
        try:
            password = credentials.smtp_user_password(store, "shop.test", "shop")
        finally:
            store.close()
        assert password and done.stdout.count(password) == 1
        if as_json:
            assert json.loads(done.stdout)["password"] == password


def test_a_service_password_is_never_printed(workspace: Path) -> None:
    secret = "SG.typed-service-key-9"
    outputs = [
        postdesk("service", "add", "Second", *SERVICE, stdin=secret),
        postdesk("service", "add", "Third", *SERVICE, "--json", stdin=secret),
        postdesk("service", "edit", "Second", "--password-stdin", stdin=secret),
        postdesk("service", "edit", "Third", "--password-stdin", "--json", stdin=secret),
        postdesk("service", "list", "--json"),
        postdesk("service", "list"),
    ]
    for done in outputs:
        assert done.returncode == 0, done.stderr
        assert secret not in done.stdout + done.stderr
