"""Test sends and connection tests against real aiosmtpd servers: each failure gets its verdict."""

from __future__ import annotations

import asyncio
import json

import pytest

from postdesk.core.smtptest import SmtpEndpoint, TestResult, build_test_message, run_test
from support.services import free_port
from support.smtpd import APP_PASSWORD_USER, SMTP_PASSWORD, endpoint_for


def _message():
    return build_test_message(
        "Shop <hello@shop.example.com>",
        "owner@example.org",
        "Postdesk test",
        "It works.",
        "<p>It works.</p>",
    )


def _texts(result: TestResult, direction: str | None = None) -> list[str]:
    return [line.text for line in result.transcript if direction in (None, line.direction)]


def _assert_no_password(result: TestResult, password: str = SMTP_PASSWORD) -> None:
    assert password not in json.dumps(result.as_dict())
    assert password not in result.transcript_text()


# --- success ---------------------------------------------------------------------------------


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_test_send_delivers_the_message_and_shows_every_step(smtp_server, security) -> None:
    server = smtp_server(security=security)
    result = await run_test(endpoint_for(server), _message())

    assert (result.ok, result.category, result.stage) == (True, "ok", "done")
    assert len(server.handler.messages) == 1
    delivered = server.handler.messages[0]
    assert delivered.mail_from == "hello@shop.example.com"
    assert delivered.rcpt_tos == ["owner@example.org"]
    assert b"Subject: Postdesk test" in delivered.original_content

    client = _texts(result, "client")
    assert client[0].startswith("EHLO ")
    assert "AUTH PLAIN ********" in client
    assert "MAIL FROM:<hello@shop.example.com>" in client
    assert "RCPT TO:<owner@example.org>" in client
    assert any(t.startswith("DATA: ") and "2 parts, subject 'Postdesk test'" in t for t in client)
    assert client[-1] == "QUIT"
    assert ("STARTTLS" in client) == (security == "starttls")
    assert any(t.startswith("250-AUTH") for t in _texts(result, "server"))
    assert not any("It works." in t for t in _texts(result))  # the body is summarised only

    assert result.tls is not None
    assert result.tls["verified"] is True and result.tls["hostname_matched"] is True
    assert result.tls["protocol"].startswith("TLSv1.")
    assert result.tls["sha256"] == server.fingerprint
    assert "localhost" in result.tls["names"] and "127.0.0.1" in result.tls["names"]
    assert "Postdesk Test CA" in result.tls["issuer"]
    assert {"connect_ms", "tls_ms", "auth_ms", "total_ms"} <= set(result.timings)
    _assert_no_password(result)


async def test_as_dict_is_plain_json(smtp_server) -> None:
    result = await run_test(endpoint_for(smtp_server()), _message())
    data = json.loads(json.dumps(result.as_dict()))
    assert {"ok", "category", "advice", "stage", "transcript", "tls", "timings"} <= set(data)
    assert set(data["transcript"][0]) == {"direction", "ms", "text"}
    directions = {line["direction"] for line in data["transcript"]}
    assert directions == {"server", "client", "info"}


async def test_connection_test_logs_in_but_sends_nothing(smtp_server) -> None:
    server = smtp_server()
    result = await run_test(endpoint_for(server))
    assert (result.ok, result.category) == (True, "ok")
    assert server.handler.messages == []
    client = _texts(result, "client")
    assert "AUTH PLAIN ********" in client
    assert not any(t.startswith(("MAIL", "RCPT", "DATA")) for t in client)
    assert client[-1] == "QUIT"


async def test_ip_address_host_matches_the_certificates_ip_name(smtp_server) -> None:
    server = smtp_server(security="tls")
    result = await run_test(endpoint_for(server, host="127.0.0.1"), _message())
    assert result.ok, result.advice
    assert result.tls["hostname_matched"] is True


async def test_plaintext_without_login_sends_when_security_is_none(smtp_server) -> None:
    server = smtp_server(security="none", auth=False)
    result = await run_test(endpoint_for(server, username=None, password=None), _message())
    assert result.ok, result.advice
    assert result.tls is None
    assert len(server.handler.messages) == 1


async def test_on_line_receives_each_line_in_order_as_it_happens(smtp_server) -> None:
    seen = []
    result = await run_test(endpoint_for(smtp_server()), _message(), on_line=seen.append)
    assert seen == result.transcript
    assert [line.ms for line in seen] == sorted(line.ms for line in seen)


async def test_ehlo_name_is_used(smtp_server) -> None:
    result = await run_test(endpoint_for(smtp_server()), ehlo_name="desk.shop.example.com")
    assert "EHLO desk.shop.example.com" in _texts(result, "client")


async def test_a_server_offering_starttls_stays_unencrypted_when_security_is_none(
    smtp_server,
) -> None:
    server = smtp_server(security="starttls", auth=False)
    result = await run_test(
        endpoint_for(server, security="none", username=None, password=None), _message()
    )
    assert result.ok
    assert "STARTTLS" not in _texts(result, "client")
    assert any("stays unencrypted" in t for t in _texts(result, "info"))


# --- login -----------------------------------------------------------------------------------


async def test_wrong_password_is_auth_failed_and_never_shown(smtp_server) -> None:
    server = smtp_server()
    result = await run_test(endpoint_for(server, password="wrong-pass-123"), _message())
    assert (result.ok, result.category, result.stage) == (False, "auth_failed", "auth")
    assert result.reply_code == 535
    assert server.handler.messages == []
    _assert_no_password(result, "wrong-pass-123")


async def test_login_method_falls_back_to_login_and_hides_both_steps(smtp_server) -> None:
    # A wrong user on LOGIN still shows the step-by-step exchange without secrets.
    server = smtp_server()
    endpoint = endpoint_for(server, password="another-secret")
    from postdesk.core.smtptest import auth

    original = auth.MECHANISMS
    auth.MECHANISMS = ("login",)
    try:
        result = await run_test(endpoint)
    finally:
        auth.MECHANISMS = original
    assert result.category == "auth_failed"
    assert "AUTH LOGIN ********" in _texts(result, "client")
    assert "********" in _texts(result, "client")
    _assert_no_password(result, "another-secret")


async def test_app_password_reply_gets_its_own_verdict(smtp_server) -> None:
    result = await run_test(endpoint_for(smtp_server(), username=APP_PASSWORD_USER))
    assert (result.category, result.reply_code) == ("auth_app_password", 534)
    assert "app password" in result.advice


async def test_server_without_auth_is_auth_unavailable(smtp_server) -> None:
    result = await run_test(endpoint_for(smtp_server(auth=False)), _message())
    assert (result.category, result.stage) == ("auth_unavailable", "auth")
    assert not any(t.startswith("AUTH") for t in _texts(result, "client"))


async def test_plaintext_server_that_offers_auth_only_after_starttls(smtp_server) -> None:
    server = smtp_server(security="starttls")
    result = await run_test(endpoint_for(server, security="none"), _message())
    assert result.category == "auth_unavailable"
    assert "STARTTLS" in result.advice
    assert not any(t.startswith("AUTH") for t in _texts(result, "client"))


async def test_sending_without_login_to_a_server_that_requires_it(smtp_server) -> None:
    result = await run_test(endpoint_for(smtp_server(), username=None, password=None), _message())
    assert (result.category, result.stage, result.reply_code) == ("sender_refused", "mail", 530)
    assert "username and password" in result.advice


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "reply", "category", "stage"),
    [
        ("mail_reply", "550 5.1.0 Sender address rejected", "sender_refused", "mail"),
        ("rcpt_reply", "550 5.7.1 Relaying denied", "recipient_refused", "rcpt"),
        (
            "data_reply",
            "550 5.7.26 Unauthenticated email is not accepted due to the domain's DMARC policy",
            "data_refused",
            "data",
        ),
        ("rcpt_reply", "451 4.7.1 Greylisted, please try again later", "temporary", "rcpt"),
        ("mail_reply", "421 4.3.2 Service shutting down", "temporary", "mail"),
    ],
)
async def test_server_refusals_get_their_verdict(smtp_server, option, reply, category, stage):
    server = smtp_server(**{option: reply})
    result = await run_test(endpoint_for(server), _message())
    assert (result.ok, result.category, result.stage) == (False, category, stage)
    assert result.reply_code == int(reply[:3])
    assert reply[4:] in result.reply_text
    assert reply[:3] in result.advice
    assert server.handler.messages == []
    assert _texts(result, "server")[-1] == reply


async def test_temporary_refusal_says_it_is_not_a_settings_problem(smtp_server) -> None:
    server = smtp_server(rcpt_reply="450 4.2.0 Mailbox busy")
    result = await run_test(endpoint_for(server), _message())
    assert result.category == "temporary"
    assert "not a problem with your settings" in result.advice


async def test_server_hanging_up_mid_session_is_disconnected(smtp_server) -> None:
    result = await run_test(endpoint_for(smtp_server(close_at_rcpt=True)), _message())
    assert (result.category, result.stage) == ("disconnected", "rcpt")


async def test_server_going_silent_after_a_command_is_no_reply_not_disconnected(
    smtp_server,
) -> None:
    result = await run_test(endpoint_for(smtp_server(hang_at_rcpt=True), timeout=0.5), _message())
    assert (result.category, result.stage) == ("no_reply", "rcpt")
    assert "stopped answering" in result.advice
    assert "closed" not in result.advice


# --- reaching the server ---------------------------------------------------------------------


async def test_nothing_listening_is_refused() -> None:
    endpoint = SmtpEndpoint("127.0.0.1", free_port(), "starttls", timeout=2)
    result = await run_test(endpoint)
    assert (result.category, result.stage) == ("refused", "connect")
    assert "port" in result.advice


async def test_unknown_host_is_dns() -> None:
    result = await run_test(SmtpEndpoint("smtp.nowhere.invalid", 587, "starttls", timeout=2))
    assert (result.category, result.stage) == ("dns", "connect")
    assert "smtp.nowhere.invalid" in result.advice


async def test_full_accept_queue_is_connect_timeout(blackhole_port) -> None:
    endpoint = SmtpEndpoint("127.0.0.1", blackhole_port, "starttls", timeout=0.5)
    result = await run_test(endpoint)
    assert (result.category, result.stage) == ("connect_timeout", "connect")


@pytest.mark.parametrize("security", ["starttls", "none"])
async def test_silent_server_is_banner_timeout_suggesting_tls(silent_server, security) -> None:
    endpoint = SmtpEndpoint("127.0.0.1", silent_server.port, security, timeout=0.5)
    result = await run_test(endpoint)
    assert (result.category, result.stage) == ("banner_timeout", "banner")
    assert "“TLS”" in result.advice


async def test_starttls_against_an_implicit_tls_port_is_banner_timeout(smtp_server) -> None:
    server = smtp_server(security="tls")
    result = await run_test(endpoint_for(server, security="starttls", timeout=0.5), _message())
    assert (result.category, result.stage) == ("banner_timeout", "banner")
    assert "“TLS”" in result.advice
    assert server.handler.messages == []


async def test_silent_server_with_implicit_tls_is_banner_timeout_at_tls(silent_server) -> None:
    endpoint = SmtpEndpoint("127.0.0.1", silent_server.port, "tls", timeout=0.5)
    result = await run_test(endpoint)
    assert (result.category, result.stage) == ("banner_timeout", "tls")


async def test_implicit_tls_against_a_starttls_port_is_a_mode_mismatch(smtp_server) -> None:
    server = smtp_server(security="starttls")
    result = await run_test(endpoint_for(server, security="tls"), _message())
    assert (result.category, result.stage) == ("tls_mode_mismatch", "tls")
    assert "STARTTLS" in result.advice
    assert not any(t.startswith("AUTH") for t in _texts(result, "client"))


async def test_starttls_against_a_plaintext_only_server_never_falls_back(smtp_server) -> None:
    server = smtp_server(security="none", auth=False)
    result = await run_test(endpoint_for(server, security="starttls"), _message())
    assert (result.category, result.stage) == ("starttls_unavailable", "starttls")
    assert not any(t.startswith(("AUTH", "MAIL")) for t in _texts(result, "client"))
    assert server.handler.messages == []


# --- cancelling ------------------------------------------------------------------------------


async def test_cancelling_closes_the_connection_and_propagates(silent_server) -> None:
    waiting = asyncio.Event()

    def on_line(line) -> None:
        if line.text.startswith("Waiting for the greeting"):
            waiting.set()

    endpoint = SmtpEndpoint("127.0.0.1", silent_server.port, "starttls", timeout=30)
    task = asyncio.create_task(run_test(endpoint, on_line=on_line))
    await asyncio.wait_for(waiting.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(silent_server.closed.wait(), 10)
    assert silent_server.accepted == 1
    assert silent_server.open_connections == 0
