"""Send test as SMTP user: the test email goes through the real relay, signed and counted once."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from postdesk.core import sending, settings, usage
from postdesk.core.relay import queue
from postdesk.core.relay.tlscert import CERT_NAME, tls_dir
from postdesk.core.smtptest.transcript import REDACTED
from support.relay import DOMAIN, RelayWorld

pytestmark = [pytest.mark.keyring, pytest.mark.nsd]
SRC = Path(__file__).resolve().parents[2] / "src"


async def _relay_in_settings(world: RelayWorld) -> int:
    """Start a relay with its own generated certificate; the settings point apps at it."""
    relay = await world.start_relay(tracking_port=None)
    with world.store.session() as s:
        settings.put(s, "relay_host", "127.0.0.1")
        settings.put(s, "relay_port", relay.port)
        settings.put(s, "relay_security", "starttls")
    assert (tls_dir() / CERT_NAME).exists()  # made on first start, in the data dir
    return int(relay.port)


def _login(world: RelayWorld) -> str:
    return world.username.split("@")[0]


async def test_a_test_send_as_smtp_user_is_delivered_signed_and_counted_once(
    relay_world: RelayWorld,
) -> None:
    world = relay_world
    await _relay_in_settings(world)
    email = sending.TestEmail(f"shop@{DOMAIN}", "owner@client.test", subject="Relay check")
    lines = []

    result = await sending.send_as_smtp_user(
        world.store, DOMAIN, _login(world), email, on_line=lines.append
    )

    assert result.ok, result.advice
    assert result.tls is not None and result.tls["verified"]  # the relay's certificate trusted
    texts = [line.text for line in result.transcript]
    auth = [t for t in texts if t.upper().startswith("AUTH")]
    assert auth and all(REDACTED in t for t in auth)
    assert not any(world.password in t for t in texts)
    assert lines  # the conversation is shown while it runs

    received = await world.sink.await_for(1)
    assert received[0].rcpt_tos == ["owner@client.test"]
    assert received[0].content.startswith(b"DKIM-Signature:")
    assert world.dkim_valid(received[0].content)
    assert b"Subject: Relay check" in received[0].content
    await _wait_sent(world)
    assert usage.today(world.store).sent == 1  # the relay counted it; the test send did not


async def test_a_test_send_as_smtp_user_with_the_relay_stopped_says_so(
    relay_world: RelayWorld,
) -> None:
    from support.services import free_port

    world = relay_world
    with world.store.session() as s:
        settings.put(s, "relay_host", "127.0.0.1")
        settings.put(s, "relay_port", free_port())  # nothing listens: the relay is not running
    email = sending.TestEmail(f"shop@{DOMAIN}", "owner@client.test")

    result = await sending.send_as_smtp_user(world.store, DOMAIN, _login(world), email)

    assert not result.ok
    assert result.category == "relay_stopped"
    assert "built-in relay is not running" in result.advice
    assert "587" not in result.advice  # not the port advice meant for a provider


async def test_a_test_send_through_the_service_is_dkim_signed_like_relay_mail(
    relay_world: RelayWorld,
) -> None:
    world = relay_world
    email = sending.TestEmail(f"shop@{DOMAIN}", "owner@client.test", subject="Signed check")

    result = await sending.send_through_service(world.store, "Sink", email)

    assert result.ok, result.advice
    assert any("Signed the message (DKIM" in line.text for line in result.transcript)
    received = await world.sink.await_for(1)
    assert received[0].content.startswith(b"DKIM-Signature:")
    assert f"d={DOMAIN}".encode() in received[0].content
    assert world.dkim_valid(received[0].content)  # verifies against the key NSD publishes


async def _wait_sent(world: RelayWorld) -> None:
    for _ in range(600):
        if [m.status for m in queue.list_messages(world.store)] == ["sent"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the relay did not mark it sent: {queue.list_messages(world.store)}")


async def test_cli_test_send_as_smtp_user_through_the_relay(
    relay_world: RelayWorld, postdesk_home: Path
) -> None:
    world = relay_world
    await _relay_in_settings(world)
    # The same workspace and the same keyring (the secret_service fixture set its variables).
    env = {
        **os.environ,
        "POSTDESK_HOME": str(postdesk_home),
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    argv = [
        sys.executable,
        "-m",
        "postdesk",
        "test-send",
        "--smtp-user",
        f"{DOMAIN}/{_login(world)}",
        "--from",
        f"shop@{DOMAIN}",
        "--to",
        "owner@client.test",
        "--json",
    ]
    done = await asyncio.to_thread(
        subprocess.run, argv, env=env, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stdout + done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["ok"] is True
    assert world.password not in done.stdout + done.stderr
    received = await world.sink.await_for(1)
    assert world.dkim_valid(received[0].content)
    await _wait_sent(world)
    assert usage.today(world.store).sent == 1
