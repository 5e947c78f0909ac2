"""The suppression list at the relay: a hard bounce upstream stops the next message at RCPT,
removing the address lets mail through again, and a refused recipient shows in the activity."""

from __future__ import annotations

import asyncio
import smtplib

import pytest
from sqlalchemy import select

from postdesk.core import audit, suppression
from postdesk.core.relay import queue
from postdesk.core.store.models import MessageEvent, MessageRecipient
from support.relay import message, wait_until

pytestmark = [pytest.mark.keyring, pytest.mark.nsd]

GONE = "gone@client.test"
# Gmail's wording for an address that does not exist.
GMAIL_NO_SUCH_USER = (
    "550 5.1.1 The email account that you tried to reach does not exist. Please try "
    "double-checking the recipient's email address for typos or unnecessary spaces."
)


def _rcpt_reply(world, port: int, rcpt: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.starttls()
        client.login(world.username, world.password)
        client.mail("shop@example.com")
        code, text = client.rcpt(rcpt)
        client.rset()
    return code, text.decode()


def _suppressed(store, address: str) -> bool:  # type: ignore[no-untyped-def]
    with store.session() as s:
        return suppression.is_suppressed(s, address, "example.com") is not None


async def test_a_hard_bounce_refuses_the_next_message_at_rcpt_until_removed(relay_world):
    world = relay_world
    world.sink.handler.reply = GMAIL_NO_SUCH_USER
    relay = await world.start_relay()
    code, _ = await asyncio.to_thread(world.send, relay.port, message("order 1", to=GONE))
    assert code == 250
    await wait_until(lambda: queue.counts(world.store)["bounced"] == 1)
    await wait_until(lambda: _suppressed(world.store, GONE))

    world.sink.handler.reply = None
    code, text = await asyncio.to_thread(_rcpt_reply, world, relay.port, GONE.upper())
    assert code == 550
    assert f"<{GONE.upper()}> is on this workspace's suppression list (hard bounce on " in text
    assert "does not exist" in text
    assert "remove it in Postdesk to send again" in text
    assert world.sink.messages == []

    assert await asyncio.to_thread(suppression.remove, world.store, GONE, by="test")
    code, _ = await asyncio.to_thread(world.send, relay.port, message("order 2", to=GONE))
    assert code == 250
    (received,) = await world.sink.await_for(1)
    assert received.rcpt_tos == [GONE]
    with world.store.session() as s:
        (removed,) = [e for e in audit.recent(s) if e.action == "suppression.removed"]
        assert removed.subject == GONE and removed.detail["reason"] == "hard_bounce"


async def test_a_soft_bounce_suppresses_nobody(relay_world):
    world = relay_world
    world.sink.handler.reply = "452 4.2.2 The email account that you tried to reach is over quota."
    relay = await world.start_relay(max_age=1.0)
    await asyncio.to_thread(world.send, relay.port, message("full", to="full@client.test"))
    await wait_until(lambda: queue.counts(world.store)["bounced"] == 1)
    assert not _suppressed(world.store, "full@client.test")


async def test_a_suppressed_recipient_is_dropped_and_shown_the_others_get_the_message(relay_world):
    world = relay_world
    with world.store.session() as s:
        suppression.suppress(s, "spam-clicker@client.test", "complaint", detail="via Yahoo FBL")
    relay = await world.start_relay()

    def send() -> dict[str, tuple[int, bytes]]:
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
            client.starttls()
            client.login(world.username, world.password)
            msg = message("news", to="fan@client.test")
            return client.sendmail(
                "shop@example.com",
                ["fan@client.test", "spam-clicker@client.test"],
                msg.as_bytes(),
            )

    refused = await asyncio.to_thread(send)
    code, text = refused["spam-clicker@client.test"]
    assert code == 550 and b"spam complaint on " in text and b"via Yahoo FBL" in text
    (received,) = await world.sink.await_for(1)
    assert received.rcpt_tos == ["fan@client.test"]

    with world.store.session() as s:
        status = s.scalars(
            select(MessageRecipient.status).where(
                MessageRecipient.address == "spam-clicker@client.test"
            )
        ).one()
        event = s.scalars(select(MessageEvent).where(MessageEvent.kind == "suppressed")).one()
    assert status == "suppressed"
    assert event.recipient == "spam-clicker@client.test" and "suppression list" in event.detail
