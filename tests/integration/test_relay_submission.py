"""The relay with real clients (swaks, smtplib, aiosmtplib): login, checks, DKIM, the limit."""

from __future__ import annotations

import asyncio
import smtplib
import subprocess
import time

import aiosmtplib
import pytest

from postdesk.core import credentials, settings, usage
from postdesk.core.relay import queue
from support.relay import DOMAIN, message, submit

pytestmark = [pytest.mark.keyring, pytest.mark.nsd]


async def test_swaks_smtplib_and_aiosmtplib_deliver_dkim_signed_mail(relay_world, swaks):
    world = relay_world
    relay = await world.start_relay()
    swaks_run = await asyncio.to_thread(
        subprocess.run,
        [
            swaks,
            "--server", f"127.0.0.1:{relay.port}",
            "--tls",
            "--auth", "PLAIN",
            "--auth-user", world.username,
            "--auth-password", world.password,
            "--from", f"shop@{DOMAIN}",
            "--to", "alice@client.test",
            "--header", "Subject: from swaks",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert swaks_run.returncode == 0, swaks_run.stdout + swaks_run.stderr
    assert "250 2.0.0 Queued as" in swaks_run.stdout

    def with_login() -> tuple[int, bytes]:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
            client.starttls()
            client.esmtp_features["auth"] = "LOGIN"  # use AUTH LOGIN, not PLAIN
            client.login(world.username, world.password)
            return submit(client, message("from smtplib", to="bob@client.test"))

    code, _ = await asyncio.to_thread(with_login)
    assert code == 250
    # What another part of Postdesk (the test send) does: a plain aiosmtplib client.
    await aiosmtplib.send(
        message("from aiosmtplib", sender=f"news@mail.{DOMAIN}", to="carol@client.test"),
        hostname="127.0.0.1",
        port=relay.port,
        username=world.username,
        password=world.password,
        start_tls=True,
        validate_certs=False,
    )

    received = await world.sink.await_for(3)
    by_rcpt = {env.rcpt_tos[0]: env for env in received}
    assert set(by_rcpt) == {"alice@client.test", "bob@client.test", "carol@client.test"}
    for env in received:
        assert env.content.startswith(b"DKIM-Signature:")
        assert world.dkim_valid(env.content), env.content[:400]
        assert b"\r\nmessage-id: " in env.content.lower()
        assert b"\r\ndate: " in env.content.lower()
    assert by_rcpt["carol@client.test"].mail_from == f"news@mail.{DOMAIN}"
    assert usage.today(world.store).sent == 3
    # The queue records "sent" just after the upstream's answer: give it that moment.
    deadline = time.monotonic() + 10
    while queue.counts(world.store)["sent"] < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    sent = queue.list_messages(world.store, status="sent")
    assert {m.subject for m in sent} == {"from swaks", "from smtplib", "from aiosmtplib"}


def login_code(port: int, username: str, password: str) -> int:
    """The relay's answer to a fresh login after STARTTLS (235 when it is accepted)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.starttls()
        try:
            client.login(username, password)
        except smtplib.SMTPAuthenticationError as exc:
            return exc.smtp_code
        return 235


async def test_no_relaying_without_login_or_for_foreign_senders(relay_world):
    world = relay_world
    relay = await world.start_relay(max_message_bytes=20_000)

    def conversation() -> dict[str, tuple[int, bytes]]:
        seen = {}
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
            client.ehlo()
            seen["mail_before_auth"] = client.mail(f"shop@{DOMAIN}")
            seen["rcpt_before_auth"] = client.rcpt("victim@client.test")
            client.starttls()
            client.ehlo()
            assert "SIZE 20000" in client.ehlo_resp.decode()
            try:
                client.login(world.username, "not the password")
            except smtplib.SMTPAuthenticationError as exc:
                seen["wrong_password"] = (exc.smtp_code, exc.smtp_error)
            client.login(world.username, world.password)
            seen["foreign_envelope"] = client.mail("shop@other.test")
            client.rset()
            seen["lookalike_envelope"] = client.mail(f"shop@not{DOMAIN}")
            client.rset()
            seen["foreign_from"] = submit(
                client, message("x", sender="ceo@other.test"), envelope_from=f"shop@{DOMAIN}"
            )
            big = message("big")
            big.set_content(("x" * 70 + "\n") * 500)
            try:
                seen["oversize"] = submit(client, big)
            except smtplib.SMTPServerDisconnected:
                seen["oversize"] = (0, b"disconnected")
            seen["size_declared"] = client.mail(f"shop@{DOMAIN}", ["SIZE=50000"])
        return seen

    seen = await asyncio.to_thread(conversation)
    assert seen["mail_before_auth"] == (530, b"5.7.0 Authentication required")
    assert seen["rcpt_before_auth"][0] == 530
    assert seen["wrong_password"][0] == 535
    assert seen["foreign_envelope"][0] == 553
    assert b"5.7.1" in seen["foreign_envelope"][1]
    assert b"not on example.com" in seen["foreign_envelope"][1]
    assert seen["lookalike_envelope"][0] == 553
    assert seen["foreign_from"][0] == 553
    assert b"From address <ceo@other.test>" in seen["foreign_from"][1]
    assert seen["oversize"][0] == 552, seen["oversize"]
    assert seen["oversize"][1].startswith(b"5.3.4")
    assert seen["size_declared"][0] == 552
    assert queue.counts(world.store)["pending"] + len(world.sink.messages) == 0
    assert usage.today(world.store).sent == 0


async def test_deleted_user_cannot_log_in_and_open_session_cannot_send(relay_world):
    world = relay_world
    relay = await world.start_relay()

    def scenario() -> dict[str, object]:
        seen: dict[str, object] = {}
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
            client.starttls()
            client.login(world.username, world.password)
            seen["before"] = submit(client, message("before"))
            credentials.delete_smtp_user(world.store, DOMAIN, "shop")
            seen["after"] = submit(client, message("after"))
        seen["login"] = login_code(relay.port, world.username, world.password)
        return seen

    seen = await asyncio.to_thread(scenario)
    assert seen["before"][0] == 250  # type: ignore[index]
    assert seen["after"][0] == 550  # type: ignore[index]
    assert b"deleted" in seen["after"][1]  # type: ignore[index]
    assert seen["login"] == 535
    await world.sink.await_for(1)
    assert [m.subject for m in queue.list_messages(world.store)] == ["before"]


async def test_crossing_the_daily_limit_deletes_every_login(relay_world):
    world = relay_world
    with world.store.session() as s:
        settings.put(s, "daily_limit", 3)
    relay = await world.start_relay()
    two = ["a@client.test", "b@client.test"]

    def scenario() -> dict[str, object]:
        seen: dict[str, object] = {}
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
            client.starttls()
            client.login(world.username, world.password)
            seen["first"] = submit(client, message("first"), two)  # 2 of 3
            seen["crossing"] = submit(client, message("crossing"), two)  # 4 of 3: the rule fires
            seen["next"] = submit(client, message("next"))
        seen["login"] = login_code(relay.port, world.username, world.password)
        return seen

    seen = await asyncio.to_thread(scenario)
    assert seen["first"][0] == 250  # type: ignore[index]
    assert seen["crossing"][0] == 250  # type: ignore[index]
    assert seen["next"][0] == 550  # type: ignore[index]
    assert b"daily sending limit was exceeded" in seen["next"][1]  # type: ignore[index]
    assert seen["login"] == 535
    assert credentials.list_smtp_users(world.store, DOMAIN) == []
    assert usage.today(world.store).sent == 4
    await world.sink.await_for(2)


async def test_at_the_limit_mail_is_refused_with_the_reset_time(relay_world):
    world = relay_world
    with world.store.session() as s:
        settings.put(s, "daily_limit", 5)
    usage.record_sent(world.store, recipients=5, service_id=1)  # e.g. test sends used the day
    relay = await world.start_relay()
    code, text = await asyncio.to_thread(world.send, relay.port, message("one too many"))
    assert code == 550
    assert text == b"5.7.0 Daily sending limit of 5 emails reached; resets at 00:00 UTC"
    assert credentials.list_smtp_users(world.store, DOMAIN) != []  # not exceeded: logins stay


async def test_repeated_failed_logins_are_slowed_then_refused(relay_world):
    world = relay_world
    relay = await world.start_relay(ban_after=3, ban_seconds=600)

    def scenario() -> dict[str, object]:
        seen: dict[str, object] = {}
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
            client.starttls()
            client.ehlo()
            client.esmtp_features["auth"] = "PLAIN"  # one attempt per login() call
            codes = []
            for _ in range(4):
                try:
                    client.login(world.username, "guess")
                except smtplib.SMTPAuthenticationError as exc:
                    codes.append(exc.smtp_code)
            seen["guesses"] = codes
            try:
                client.login(world.username, world.password)
                seen["right_password"] = 235
            except smtplib.SMTPAuthenticationError as exc:
                seen["right_password"] = exc.smtp_code
        try:
            with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
                seen["reconnect"] = client.ehlo()[0]
        except smtplib.SMTPConnectError as exc:
            seen["reconnect"] = exc.smtp_code
        return seen

    seen = await asyncio.to_thread(scenario)
    assert seen["guesses"] == [535, 535, 535, 454]
    assert seen["right_password"] == 454  # refused for a while, even with the right password
    assert seen["reconnect"] == 421


async def test_a_busy_tracking_port_is_named_and_nothing_keeps_listening(store) -> None:
    import socket

    from postdesk.core.errors import UserError
    from postdesk.core.relay import Relay, RelayOptions
    from support.services import free_port

    smtp_port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        tracking_port = busy.getsockname()[1]
        relay = Relay(store, RelayOptions(listen_port=smtp_port, tracking_port=tracking_port))
        with pytest.raises(UserError) as caught:
            await relay.start()
    assert caught.value.code == "relay.tracking_cannot_listen"
    assert str(tracking_port) in caught.value.message
    with socket.socket() as probe:  # the SMTP listener was closed again
        probe.bind(("127.0.0.1", smtp_port))


async def test_auth_is_offered_only_after_starttls_when_not_on_loopback(relay_world) -> None:
    # Tests may only listen on loopback; the option applies the rule a non-loopback listener gets.
    relay = await relay_world.start_relay(auth_without_tls=False)
    assert relay.status.auth_without_tls is False

    def conversation() -> tuple[bool, tuple[int, bytes], bool]:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
            client.ehlo()
            offered_plain = client.has_extn("auth")
            refused = client.docmd("AUTH", "PLAIN AGZvbwBiYXI=")
            client.starttls()
            client.ehlo()
            offered_tls = client.has_extn("auth")
            client.login(relay_world.username, relay_world.password)
        return offered_plain, refused, offered_tls

    offered_plain, refused, offered_tls = await asyncio.to_thread(conversation)
    assert offered_plain is False
    assert refused[0] == 538  # 5.7.11 encryption required for this mechanism
    assert offered_tls is True
