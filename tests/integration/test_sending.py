"""Test sends and connection tests through a stored service, against a real aiosmtpd server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from postdesk.core import sending, services, usage
from postdesk.core.errors import UserError
from postdesk.core.services import ServiceForm
from support.smtpd import SMTP_PASSWORD, SMTP_USER
from support.workspace import add_verified_domain


def _add(store, server, name: str = "Local") -> None:
    services.add_service(
        store,
        ServiceForm(
            name=name,
            host="localhost",
            port=server.port,
            security=server.security,
            username=SMTP_USER,
            password=SMTP_PASSWORD,
        ),
    )


async def test_an_untrusted_certificate_is_refused_until_pinned(
    store, secret_service, smtp_server
) -> None:
    server = smtp_server(security="starttls")  # signed by a test CA this machine does not trust
    _add(store, server)
    first = await sending.test_service_connection(store, "Local")
    assert (first.ok, first.category) == (False, "cert_untrusted")
    assert first.tls is not None and first.tls["sha256"] == server.fingerprint
    assert services.get_service(store, "Local").last_test_category == "cert_untrusted"

    services.pin_certificate(store, "Local", first.tls["sha256"])
    second = await sending.test_service_connection(store, "Local")
    assert second.ok, second.advice
    assert server.handler.messages == []  # a connection test sends nothing
    assert services.get_service(store, "Local").last_test_ok is True


async def test_a_missing_service_password_is_named_and_nothing_connects(
    store, secret_service, smtp_server
) -> None:
    from postdesk.core import secrets

    server = smtp_server(security="starttls")
    _add(store, server)
    add_verified_domain(store, "shop.example")
    services.pin_certificate(store, "Local", server.fingerprint)
    secrets.delete_secret(services.get_service(store, "Local").secret_ref)

    with pytest.raises(UserError) as raised:
        await sending.test_service_connection(store, "Local")
    assert raised.value.code == "service.password_missing"
    assert "missing from the keyring" in raised.value.message
    email = sending.TestEmail("hello@shop.example", "owner@example.org")
    with pytest.raises(UserError):
        await sending.send_through_service(store, "Local", email)
    assert server.handler.messages == []  # never sent without logging in


async def test_a_successful_test_send_counts_as_one_email(store, secret_service, smtp_server):
    server = smtp_server(security="starttls")
    _add(store, server)
    add_verified_domain(store, "shop.example")
    services.pin_certificate(store, "Local", server.fingerprint)
    email = sending.TestEmail("hello@shop.example", "owner@example.org")
    lines = []
    result = await sending.send_through_service(store, "Local", email, on_line=lines.append)
    assert result.ok, result.advice
    assert len(server.handler.messages) == 1
    assert lines and lines[-1].text == result.transcript[-1].text  # filled in live
    assert usage.today(store).sent == 1


async def test_a_failed_send_does_not_count(store, secret_service, smtp_server) -> None:
    server = smtp_server(security="starttls", rcpt_reply="550 5.7.1 Relaying denied")
    _add(store, server)
    add_verified_domain(store, "shop.example")
    services.pin_certificate(store, "Local", server.fingerprint)
    email = sending.TestEmail("hello@shop.example", "owner@example.org")
    result = await sending.send_through_service(store, "Local", email)
    assert result.category == "recipient_refused"
    assert usage.today(store).sent == 0


async def test_header_injection_and_foreign_senders_are_refused(store, secret_service, smtp_server):
    server = smtp_server(security="starttls")
    _add(store, server)
    add_verified_domain(store, "shop.example")
    with pytest.raises(UserError):
        await sending.send_through_service(
            store, "Local", sending.TestEmail("hello@shop.example", "a@b.example\r\nBcc: x@y.z")
        )
    with pytest.raises(UserError, match="not on one of your dedicated domains"):
        await sending.send_through_service(
            store, "Local", sending.TestEmail("ceo@bank.example", "owner@example.org")
        )
    assert server.handler.messages == []


def test_cli_test_send_json_and_exit_status(store, secret_service, smtp_server, postdesk_home):
    server = smtp_server(security="starttls")
    _add(store, server)
    add_verified_domain(store, "shop.example")
    env = {**os.environ, "POSTDESK_HOME": str(postdesk_home)}
    argv = [
        sys.executable,
        "-m",
        "postdesk",
        "test-send",
        "--service",
        "Local",
        "--from",
        "hello@shop.example",
        "--to",
        "owner@example.org",
        "--json",
    ]
    refused = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    verdict = json.loads(refused.stdout)
    assert verdict["category"] == "cert_untrusted" and verdict["ok"] is False
    assert {"ok", "category", "advice", "stage", "transcript", "tls", "timings"} <= set(verdict)
    pin = [sys.executable, "-m", "postdesk", "service", "pin", "Local", verdict["tls"]["sha256"]]
    assert subprocess.run(pin, env=env, capture_output=True, timeout=60).returncode == 0
    assert services.get_service(store, "Local").pinned_sha256 == server.fingerprint
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True
    assert SMTP_PASSWORD not in refused.stdout + done.stdout + done.stderr
