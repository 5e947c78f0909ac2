"""Replying from a conversation: the reply leaves through the relay DKIM-signed, threaded with
In-Reply-To/References, quoting the message it answers; it is counted and shown in the thread.

Real parts: the relay and its worker, the aiosmtpd upstream, NSD publishing the domain's key.
"""

from __future__ import annotations

import asyncio
import email
import io
import json
import sys
from email import policy

import pytest
from sqlalchemy import select

from postdesk.cli import main
from postdesk.core import conversations, replies, senders, usage
from postdesk.core.errors import UserError
from postdesk.core.relay import queue
from postdesk.core.store.models import InboundMessage, QueuedMessage

pytestmark = [pytest.mark.keyring, pytest.mark.nsd]

RECEIVED = (
    b"Authentication-Results: relay.test; spf=pass smtp.mailfrom=client.test\r\n"
    b"From: Carol Customer <carol@client.test>\r\n"
    b"Reply-To: carol.replies@client.test\r\n"
    b"To: info@example.com\r\n"
    b"Subject: RE: Re: Where is my parcel?\r\n"
    b"Date: Sun, 29 Nov 2026 10:00:00 +0000\r\n"
    b"Message-ID: <second@client.test>\r\n"
    b"In-Reply-To: <first@example.com>\r\n"
    b"References: <first@example.com>\r\n"
    b"\r\n"
    b"Hello,\r\nit has not arrived yet.\r\n> an older quote\r\n"
)


def _thread(world) -> int:  # type: ignore[no-untyped-def]
    with world.store.session() as s:
        inbound_id = conversations.file_inbound(
            s,
            domain_id=1,
            raw=RECEIVED,
            mail_from="carol@client.test",
            rcpt_tos=["info@example.com"],
            remote_ip="192.0.2.7",
            helo="mx.client.test",
            verdicts={"spf": "pass", "dkim": "none", "dmarc": "none"},
            auth_results="",
        )
        s.flush()
        thread_id = s.get(InboundMessage, inbound_id).thread_id
    assert thread_id is not None
    return thread_id


async def test_a_reply_goes_out_signed_threaded_quoted_and_appears_in_the_thread(relay_world):
    world = relay_world
    thread_id = await asyncio.to_thread(_thread, world)
    sent = await asyncio.to_thread(
        replies.send_reply, world.store, thread_id, "info@example.com", "It ships today.\n"
    )
    assert sent.to == "carol.replies@client.test"  # Reply-To wins over From
    relay = await world.start_relay()
    (envelope,) = await world.sink.await_for(1)

    assert envelope.mail_from == "info@example.com"
    assert envelope.rcpt_tos == ["carol.replies@client.test"]
    assert world.dkim_valid(envelope.content)
    msg = email.message_from_bytes(envelope.content, policy=policy.default)
    assert msg["Subject"] == "Re: Where is my parcel?"
    assert msg["In-Reply-To"] == "<second@client.test>"
    assert msg["References"].split() == ["<first@example.com>", "<second@client.test>"]
    body = msg.get_content().replace("\r\n", "\n")
    assert body.startswith("It ships today.\n")
    assert (
        "\n\nOn Sun, 29 Nov 2026 at 10:00 +0000, Carol Customer <carol@client.test> wrote:\n"
        in body
    )
    assert "> Hello,\n> it has not arrived yet.\n>> an older quote\n" in body

    with world.store.session() as s:
        rows = s.scalars(
            select(InboundMessage)
            .where(InboundMessage.thread_id == thread_id)
            .order_by(InboundMessage.id)
        ).all()
        assert [r.direction for r in rows] == ["in", "out"]
        assert rows[1].message_id_header == sent.message_id_header
        assert s.get(QueuedMessage, sent.queue_id).source == "reply"
    assert usage.today(world.store).sent == 1
    await relay.stop()
    world.relays.remove(relay)


async def test_a_reply_from_an_address_it_may_not_use_is_refused(relay_world):
    world = relay_world
    thread_id = await asyncio.to_thread(_thread, world)
    with pytest.raises(UserError) as off:
        replies.send_reply(world.store, thread_id, "me@elsewhere.test", "Hi")
    assert off.value.code == "reply.sender_domain"
    senders.set_policy(world.store, "example.com", "listed")
    with pytest.raises(UserError) as unconfirmed:
        replies.send_reply(world.store, thread_id, "info@example.com", "Hi")
    assert unconfirmed.value.code == "reply.sender_unconfirmed"
    with pytest.raises(UserError) as empty:
        replies.send_reply(world.store, thread_id, "info@example.com", "  \n")
    assert empty.value.code == "reply.empty"
    assert queue.list_messages(world.store) == []
    assert usage.today(world.store).sent == 0


async def test_reply_command_reads_the_text_from_stdin(relay_world, monkeypatch, capsys):
    world = relay_world
    thread_id = _thread(world)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("Merci, à bientôt\n".encode())))
    status = main(["reply", str(thread_id), "--from", "info@example.com", "--body-stdin", "--json"])
    assert status == 0
    out = json.loads(capsys.readouterr().out)
    assert out["to"] == "carol.replies@client.test" and out["subject"] == "Re: Where is my parcel?"
    (queued,) = queue.list_messages(world.store)
    with world.store.session() as s:
        raw = s.get(QueuedMessage, queued.id).raw
    text = email.message_from_bytes(raw, policy=policy.default).get_content()
    assert text.replace("\r\n", "\n").startswith("Merci, à bientôt\n")

    # Without --json: the command to follow the reply, and that command finds it.
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"One more thing\n")))
    assert main(["reply", str(thread_id), "--from", "info@example.com", "--body-stdin"]) == 0
    follow = capsys.readouterr().out.splitlines()[-1]
    assert follow.startswith("Follow its delivery with: postdesk activity show ")
    assert main(follow.split("postdesk ", 1)[1].split()) == 0
    assert "Subject:      Re: Where is my parcel?" in capsys.readouterr().out

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"Hello\n")))
    assert main(["reply", "999", "--from", "info@example.com", "--body-stdin"]) == 1
    assert "no conversation 999" in capsys.readouterr().err
