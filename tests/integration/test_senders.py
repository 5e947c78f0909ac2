"""Sender addresses: with the "listed" policy the relay refuses an unconfirmed sender with a reply
naming the fix, and accepts it once the code that went out through the relay is entered — or
picked up from Conversations when the code mail is received there.

Real parts: the relay (accepting and delivering), the aiosmtpd upstream that gets the code mail,
the keyring holding the domain's DKIM key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import smtplib

import pytest
from sqlalchemy import select

from postdesk.core import conversations, senders, usage
from postdesk.core.errors import UserError
from postdesk.core.relay import queue
from postdesk.core.store.models import DedicatedDomain, QueuedMessage, SenderAddress
from support.relay import message

pytestmark = [pytest.mark.keyring, pytest.mark.nsd]

REFUSED = (
    "5.7.1 <shop@example.com> is not a confirmed sender address for example.com; "
    "confirm it in Postdesk (Sender addresses)"
)


def _send(world, port: int, sender: str = "shop@example.com") -> tuple[int, str]:  # type: ignore[no-untyped-def]
    try:
        code, reply = world.send(port, message("order", sender=sender))
    except smtplib.SMTPDataError as exc:
        code, reply = exc.smtp_code, exc.smtp_error
    return code, reply.decode()


def _code(content: bytes) -> str:
    found = re.search(rb"confirmation code is (\d{6})", content)
    assert found, content
    return found.group(1).decode()


async def test_listed_policy_refuses_then_accepts_after_confirming(relay_world):
    world = relay_world
    relay = await world.start_relay()
    assert senders.set_policy(world.store, "example.com", "listed") == 0
    code, reply = await asyncio.to_thread(_send, world, relay.port)
    assert (code, reply) == (550, REFUSED)

    view = await asyncio.to_thread(senders.add_sender, world.store, "Shop@Example.com")
    assert (view.address, view.status) == ("shop@example.com", "pending")
    (code_mail,) = await world.sink.await_for(1)
    assert code_mail.rcpt_tos == ["shop@example.com"]
    assert world.dkim_valid(code_mail.content)  # through the domain's service, signed
    (queued,) = queue.list_messages(world.store)
    with world.store.session() as s:
        assert s.get(QueuedMessage, queued.id).source == "confirm"
        row = s.query(SenderAddress).one()
        assert row.code_hash and _code(code_mail.content) not in row.code_hash  # only a hash
    assert usage.today(world.store).sent == 1  # the code mail counts like any other

    with pytest.raises(UserError) as wrong:
        senders.confirm_sender(world.store, "shop@example.com", "000000")
    assert wrong.value.code == "sender.not_confirmed"
    assert (await asyncio.to_thread(_send, world, relay.port))[0] == 550

    good = _code(code_mail.content)
    confirmed = await asyncio.to_thread(
        senders.confirm_sender, world.store, "shop@example.com", good
    )
    assert confirmed.status == "verified"
    code, reply = await asyncio.to_thread(_send, world, relay.port)
    assert code == 250, reply
    # Another address of the domain is still refused, in the From header too.
    code, reply = await asyncio.to_thread(_send, world, relay.port, "sales@example.com")
    assert code == 550 and "<sales@example.com> is not a confirmed sender" in reply

    assert senders.set_policy(world.store, "example.com", "any") == 1
    assert (await asyncio.to_thread(_send, world, relay.port, "sales@example.com"))[0] == 250


async def test_codes_are_rate_limited_expire_and_give_up_after_wrong_tries(relay_world):
    world = relay_world
    start = dt.datetime(2026, 11, 29, 9, 0, tzinfo=dt.UTC)
    senders.add_sender(world.store, "billing@example.com", now=start)
    with pytest.raises(UserError) as soon:
        senders.add_sender(world.store, "billing@example.com", now=start + dt.timedelta(seconds=5))
    assert soon.value.code == "sender.too_soon"

    # A day later the code has expired, even the right one.
    later = start + senders.CODE_LIFETIME + dt.timedelta(minutes=1)
    with pytest.raises(UserError) as expired:
        senders.confirm_sender(world.store, "billing@example.com", "123456", now=later)
    assert "expired" in expired.value.message

    senders.add_sender(world.store, "billing@example.com", now=later)
    for _ in range(senders.MAX_WRONG):
        with pytest.raises(UserError):
            senders.confirm_sender(world.store, "billing@example.com", "999999", now=later)
    with pytest.raises(UserError) as void:
        senders.confirm_sender(world.store, "billing@example.com", "111111", now=later)
    assert "too many wrong codes" in void.value.message

    with pytest.raises(UserError) as outside:
        senders.add_sender(world.store, "someone@elsewhere.test")
    assert outside.value.code == "sender.domain_unknown"
    assert [v.address for v in senders.list_senders(world.store, "example.com")] == [
        "billing@example.com"
    ]
    senders.remove_sender(world.store, "billing@example.com")
    assert senders.list_senders(world.store) == []


async def test_a_code_mail_received_into_conversations_confirms_the_address(relay_world):
    world = relay_world
    relay = await world.start_relay()
    await asyncio.to_thread(senders.add_sender, world.store, "hello@example.com")
    (code_mail,) = await world.sink.await_for(1)

    # The code mail arrives back at the domain (its MX points at the relay) and is filed.
    with world.store.session() as s:
        inbound_id = conversations.file_inbound(
            s,
            domain_id=1,
            raw=code_mail.content,
            mail_from=code_mail.mail_from,
            rcpt_tos=code_mail.rcpt_tos,
            remote_ip="127.0.0.1",
            helo="sink.test",
            verdicts={"spf": "pass", "dkim": "pass", "dmarc": "pass"},
            auth_results="",
        )
    with world.store.session() as s:
        assert senders.pick_up_code(s, inbound_id)
    (view,) = senders.list_senders(world.store)
    assert view.status == "verified"
    senders.set_policy(world.store, "example.com", "listed")
    assert (await asyncio.to_thread(_send, world, relay.port, "hello@example.com"))[0] == 250

    # An ordinary message with a six-digit number confirms nothing and counts as no wrong try.
    await asyncio.to_thread(senders.add_sender, world.store, "orders@example.com")
    ordinary = (
        b"From: a@client.test\r\nTo: orders@example.com\r\nSubject: Order 123456\r\n"
        b"Message-ID: <o1@client.test>\r\n\r\nMy order number is 123456.\r\n"
    )
    with world.store.session() as s:
        other = conversations.file_inbound(
            s,
            domain_id=1,
            raw=ordinary,
            mail_from="a@client.test",
            rcpt_tos=["orders@example.com"],
            remote_ip="192.0.2.9",
            helo="client.test",
            verdicts={},
            auth_results="",
        )
    with world.store.session() as s:
        assert not senders.pick_up_code(s, other)
    statuses = {v.address: v.status for v in senders.list_senders(world.store)}
    assert statuses["orders@example.com"] == "pending"


async def test_the_code_mail_arriving_at_the_inbound_server_confirms_by_itself(relay_world):
    from support.services import free_port

    world = relay_world
    with world.store.session() as s:
        s.scalars(select(DedicatedDomain)).one().reception = True
    inbound_port = free_port()
    relay = await world.start_relay(inbound_host="127.0.0.1", inbound_port=inbound_port)
    await asyncio.to_thread(senders.add_sender, world.store, "hello@example.com")
    (code_mail,) = await world.sink.await_for(1)

    # The domain's MX points at the relay: the provider hands the code mail to it.
    def deliver() -> None:
        with smtplib.SMTP("127.0.0.1", inbound_port, timeout=30) as client:
            client.sendmail(code_mail.mail_from, code_mail.rcpt_tos, code_mail.content)

    await asyncio.to_thread(deliver)
    for _ in range(200):
        (view,) = senders.list_senders(world.store)
        if view.status == "verified":
            break
        await asyncio.sleep(0.05)
    assert view.status == "verified"
    senders.set_policy(world.store, "example.com", "listed")
    assert (await asyncio.to_thread(_send, world, relay.port, "hello@example.com"))[0] == 250
