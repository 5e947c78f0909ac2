"""Verdict categories and their advice, including servers that refuse at the greeting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from postdesk.core.smtptest import CATEGORIES, SmtpEndpoint, run_test
from postdesk.core.smtptest.verdicts import Situation, advice, auth_reply_category


def _situation(**overrides) -> Situation:
    values = {"host": "smtp.example.com", "port": 587, "security": "starttls", "stage": "connect"}
    values.update(overrides)
    return Situation(**values)


@pytest.mark.parametrize("category", sorted(CATEGORIES))
def test_every_category_has_advice_that_names_no_internals(category: str) -> None:
    text = advice(category, _situation(reply_code=550, reply_text="5.7.1 No"))
    assert len(text) > 40
    assert "Traceback" not in text and "Error(" not in text


def test_connect_timeout_on_port_25_points_to_the_submission_ports() -> None:
    on_25 = advice("connect_timeout", _situation(port=25, security="none"))
    on_587 = advice("connect_timeout", _situation(port=587))
    assert "587" in on_25 and "465" in on_25 and "port 25" in on_25
    assert "port 25" not in on_587


def test_banner_timeout_suggests_tls_only_when_tls_is_not_already_chosen() -> None:
    assert "“TLS”" in advice("banner_timeout", _situation(port=465, security="starttls"))
    assert "“TLS”" not in advice("banner_timeout", _situation(port=465, security="tls"))


@pytest.mark.parametrize(
    ("code", "text", "category"),
    [
        (535, "5.7.8 Authentication credentials invalid", "auth_failed"),
        (534, "5.7.9 Application-specific password required.", "auth_app_password"),
        (534, "5.7.14 Please log in with your web browser", "auth_app_password"),
        (534, "5.7.0 Mechanism too weak", "auth_failed"),
        (454, "4.7.0 Temporary authentication failure", "temporary"),
        (538, "5.7.11 Encryption required", "auth_unavailable"),
    ],
)
def test_auth_replies(code: int, text: str, category: str) -> None:
    assert auth_reply_category(code, text) == category


@pytest_asyncio.fixture
async def greeting_server() -> AsyncIterator:
    """A server that sends one fixed greeting (or hangs up at once if it is empty)."""
    servers = []

    async def start(greeting: bytes) -> int:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if greeting:
                writer.write(greeting)
                await writer.drain()
                await reader.read()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(server)
        return server.sockets[0].getsockname()[1]

    yield start
    for server in servers:
        server.close()


@pytest.mark.parametrize(
    ("greeting", "category"),
    [
        (b"554 5.7.1 This network is blocked\r\n", "refused"),
        (b"421 4.3.2 Too many connections, try later\r\n", "temporary"),
        (b"SSH-2.0-OpenSSH_9.6\r\n", "unexpected_reply"),
        (b"", "disconnected"),  # hangs up without a greeting
    ],
)
async def test_greeting_refusals(greeting_server, greeting: bytes, category: str) -> None:
    port = await greeting_server(greeting)
    result = await run_test(SmtpEndpoint("127.0.0.1", port, "starttls", timeout=2))
    assert (result.category, result.stage) == (category, "banner")
    assert not any(line.direction == "client" for line in result.transcript)


async def test_blocked_greeting_advice_quotes_the_server(greeting_server) -> None:
    port = await greeting_server(b"554 5.7.1 This network is blocked\r\n")
    result = await run_test(SmtpEndpoint("127.0.0.1", port, "starttls", timeout=2))
    assert "554 5.7.1 This network is blocked" in result.advice
    assert result.transcript[-2].text == "554 5.7.1 This network is blocked"


@pytest_asyncio.fixture
async def scripted_server() -> AsyncIterator:
    """A server that greets, offers STARTTLS, and answers it with ``starttls_reply``; after a
    220 it goes silent, like a broken TLS set-up."""
    servers = []

    async def start(starttls_reply: bytes) -> int:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"220 scripted.test.example ESMTP\r\n")
            while line := await reader.readline():
                if line.upper().startswith(b"EHLO"):
                    writer.write(b"250-scripted.test.example\r\n250 STARTTLS\r\n")
                elif line.upper().startswith(b"STARTTLS"):
                    writer.write(starttls_reply)
                    if starttls_reply.startswith(b"220"):
                        await writer.drain()
                        await reader.read()  # swallow the TLS handshake, answer nothing
                        break
                else:
                    writer.write(b"500 5.5.1 Unknown command\r\n")
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(server)
        return server.sockets[0].getsockname()[1]

    yield start
    for server in servers:
        server.close()


async def test_silence_after_starttls_is_a_failed_handshake(scripted_server) -> None:
    port = await scripted_server(b"220 2.0.0 Ready to start TLS\r\n")
    result = await run_test(SmtpEndpoint("127.0.0.1", port, "starttls", timeout=0.5))
    assert (result.category, result.stage) == ("tls_handshake", "tls")
    assert "“TLS”" not in result.advice  # STARTTLS was right; the handshake broke


async def test_starttls_refused_for_now_is_temporary(scripted_server) -> None:
    port = await scripted_server(b"454 4.7.0 TLS not available due to temporary reason\r\n")
    result = await run_test(SmtpEndpoint("127.0.0.1", port, "starttls", timeout=2))
    assert (result.category, result.stage, result.reply_code) == ("temporary", "starttls", 454)
