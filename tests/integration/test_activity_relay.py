"""Message activity through the real relay: an aiosmtpd upstream answers the way providers do
(acceptance with their queue ids, greylisting then acceptance, refusals, one recipient refused),
and each message's timeline, classes and the provider's id come out right."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from postdesk.core import activity, sending
from postdesk.core.activity import ActivityQuery
from postdesk.core.relay import queue
from postdesk.core.store.models import QueuedMessage
from support.relay import SinkHandler, message, wait_until

pytestmark = [pytest.mark.keyring, pytest.mark.nsd]

CUSTOMER = "customer@client.test"


class ProviderSink(SinkHandler):
    """An upstream that answers DATA with scripted replies and refuses chosen recipients."""

    def __init__(self) -> None:
        super().__init__()
        self.data_replies: list[str] = []
        self.rcpt_refusals: dict[str, str] = {}
        self.refuse_once: dict[str, str] = {}  # refused at the first try only

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.rcpt_refusals:
            return self.rcpt_refusals[address]
        if address in self.refuse_once:
            return self.refuse_once.pop(address)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = self.data_replies.pop(0) if self.data_replies else "250 2.0.0 Ok"
        if reply.startswith("250"):
            with self.lock:
                self.messages.append(envelope)
        return reply


def _provider_sink(world: Any) -> ProviderSink:
    world.sink.stop()
    world.sink.handler = ProviderSink()
    world.sink.start()
    return world.sink.handler


def _finished(store: Any, count: int) -> bool:
    counts = queue.counts(store)
    return counts["sent"] + counts["bounced"] == count


def _kinds(detail: activity.ActivityDetail) -> list[tuple[str, str | None]]:
    return [(e.kind, e.recipient) for e in detail.timeline]


async def _send(
    world: Any, port: int, subject: str, rcpts: list[str] | None = None, **kw: Any
) -> None:
    code, _ = await asyncio.to_thread(world.send, port, message(subject, **kw), rcpts=rcpts)
    assert code == 250


# The replies providers give when they take a message, and the id each names.
ACCEPTED = [
    ("250 2.0.0 Ok: queued as 4B5C21F8A3", "4B5C21F8A3"),  # Postfix
    ("250 Ok: queued as lCSA3tWqRzWdf-6I1UvW8g", "lCSA3tWqRzWdf-6I1UvW8g"),  # SendGrid
    (
        "250 Ok 0100018b9f3c4d5e-6f7a8b9c-1111-2222-3333-444455556666-000000",
        "0100018b9f3c4d5e-6f7a8b9c-1111-2222-3333-444455556666-000000",
    ),  # Amazon SES
    (
        "250 2.6.0 <AM0PR01MB1234@AM0PR01MB1234.eurprd01.prod.exchangelabs.com> "
        "[InternalId=12345678901234, Hostname=AM0PR01MB1234.eurprd01.prod.exchangelabs.com] "
        "1543 bytes in 0.084, 17.936 KB/sec Queued mail for delivery",
        "AM0PR01MB1234@AM0PR01MB1234.eurprd01.prod.exchangelabs.com",
    ),  # Microsoft 365
    ("250 Great success", None),  # Mailgun
]


async def test_each_handover_keeps_the_providers_id_and_a_timeline_in_order(relay_world):
    world = relay_world
    sink = _provider_sink(world)
    sink.data_replies = [reply for reply, _ in ACCEPTED]
    relay = await world.start_relay()
    for number in range(len(ACCEPTED)):
        # One at a time, so each message meets its scripted reply.
        headers = {"X-Postdesk-Critical": "1"} if number == 0 else None
        await _send(world, relay.port, f"order {number}", headers=headers)
        await wait_until(lambda n=number: _finished(world.store, n + 1))
    rows = activity.search(world.store, ActivityQuery())
    assert [r.subject for r in rows] == [f"order {n}" for n in reversed(range(len(ACCEPTED)))]
    for row, (reply, provider_id) in zip(reversed(rows), ACCEPTED, strict=True):
        detail = activity.message_detail(world.store, row.id)
        assert detail.provider_message_id == provider_id
        assert _kinds(detail) == [
            ("accepted", None),
            ("signed", None),
            ("handed_over", CUSTOMER),
        ]
        assert detail.timeline[-1].detail == reply
        assert "shop@example.com" in detail.timeline[0].detail
        assert detail.timeline[1].detail.endswith(world.selector)
        assert row.status == "sent"
    # The critical mark is kept by Postdesk, never sent on.
    first = activity.message_detail(world.store, rows[-1].id)
    assert first.row.critical and not rows[0].critical
    assert all(b"X-Postdesk-Critical" not in e.content for e in world.sink.messages)
    assert all(name.lower() != "x-postdesk-critical" for name, _ in first.headers)
    # Found again by the provider's id, as a webhook or a support ticket names it.
    assert activity.message_detail(world.store, "4B5C21F8A3").row.id == rows[-1].id


async def test_greylisting_then_acceptance_and_a_refusal_get_their_classes(relay_world):
    world = relay_world
    sink = _provider_sink(world)
    sink.data_replies = [
        "451 4.7.1 <customer@client.test>: Recipient address rejected: Greylisted, "
        "see http://postgrey.schweikert.ch/help/client.test.html",
        "250 2.0.0 Ok: queued as 9F8E7D6C5B",
        "550 5.1.1 The email account that you tried to reach does not exist. Please try "
        "double-checking the recipient's email address for typos or unnecessary spaces.",
    ]
    relay = await world.start_relay()
    await _send(world, relay.port, "greylisted")
    await wait_until(lambda: _finished(world.store, 1))
    await _send(world, relay.port, "to nobody", to="nobody@client.test")
    await wait_until(lambda: _finished(world.store, 2))

    later, first = activity.search(world.store, ActivityQuery())
    detail = activity.message_detail(world.store, first.id)
    assert _kinds(detail) == [
        ("accepted", None),
        ("signed", None),
        ("deferred", CUSTOMER),
        ("handed_over", CUSTOMER),
    ]
    deferred = next(e for e in detail.timeline if e.kind == "deferred")
    assert deferred.bounce_class == "soft.greylisted" and "Greylisted" in deferred.detail
    assert detail.provider_message_id == "9F8E7D6C5B"
    assert first.status == "sent" and first.bounce_class is None

    bounced = activity.message_detail(world.store, later.id)
    assert bounced.timeline[-1].kind == "bounced"
    assert bounced.timeline[-1].bounce_class == "hard.unknown_user"
    assert later.bounce_class == "hard.unknown_user" and later.status == "bounced"
    assert later.recipients[0].reason  # the plain-language reason is kept with the recipient
    found = activity.search(world.store, ActivityQuery(status="bounced"))
    assert [r.id for r in found] == [later.id]


async def test_a_message_partly_refused_is_delivered_to_the_others(relay_world):
    world = relay_world
    sink = _provider_sink(world)
    ghost = "ghost@client.test"
    sink.rcpt_refusals = {
        ghost: "550 5.1.1 <ghost@client.test>: Recipient address rejected: User unknown in "
        "virtual mailbox table"
    }
    sink.data_replies = ["250 2.0.0 Ok: queued as 1A2B3C4D5E"]
    relay = await world.start_relay()
    await _send(world, relay.port, "two", rcpts=[CUSTOMER, ghost])
    await wait_until(lambda: _finished(world.store, 1))
    (row,) = activity.search(world.store, ActivityQuery())
    statuses = {r.address: (r.status, r.bounce_class) for r in row.recipients}
    assert statuses == {CUSTOMER: ("sent", None), ghost: ("bounced", "hard.unknown_user")}
    assert row.status == "sent/bounced"
    detail = activity.message_detail(world.store, row.id)
    handed = next(e for e in detail.timeline if e.kind == "handed_over")
    assert handed.recipient == CUSTOMER and "refused" not in handed.detail
    assert detail.provider_message_id == "1A2B3C4D5E"
    assert [r.id for r in activity.search(world.store, ActivityQuery(recipient=ghost))] == [row.id]


async def test_a_recipient_told_to_try_later_gets_the_message_when_the_others_already_have(
    relay_world,
):
    world = relay_world
    sink = _provider_sink(world)
    busy = "busy@client.test"
    sink.refuse_once = {busy: "452 4.2.2 <busy@client.test>: Mailbox full, try again later"}
    relay = await world.start_relay()
    await _send(world, relay.port, "two, one busy", rcpts=[CUSTOMER, busy])
    await wait_until(lambda: _finished(world.store, 1))
    assert [e.rcpt_tos for e in sink.messages] == [[CUSTOMER], [busy]]  # once each
    (row,) = activity.search(world.store, ActivityQuery())
    assert {r.address: r.status for r in row.recipients} == {CUSTOMER: "sent", busy: "sent"}
    detail = activity.message_detail(world.store, row.id)
    assert [(e.kind, e.bounce_class) for e in detail.timeline if e.recipient == busy] == [
        ("deferred", "soft.mailbox_full"),
        ("handed_over", None),
    ]


def _postfix_dsn(original_id: str, recipient: str) -> bytes:
    """A bounce as Postfix writes it, about a message the relay handed over."""
    return (
        "From: MAILER-DAEMON@mx.client.test (Mail Delivery System)\r\n"
        "To: shop@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.client.test\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.2.2\r\n"
        f"Diagnostic-Code: smtp; 552 5.2.2 <{recipient}>: Mailbox full\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: shop@example.com\r\nTo: {recipient}\r\nMessage-ID: {original_id}\r\n\r\n"
        "--B--\r\n"
    ).encode()


async def test_a_bounce_that_arrives_later_by_mail_lands_on_the_message(relay_world):
    world = relay_world
    relay = await world.start_relay()
    await _send(world, relay.port, "handed over, bounced later")
    await wait_until(lambda: _finished(world.store, 1))
    (row,) = activity.search(world.store, ActivityQuery())
    with world.store.session() as s:
        assert activity.apply_dsn(s, _postfix_dsn(row.message_id_header, CUSTOMER))
    detail = activity.message_detail(world.store, row.id)
    last = detail.timeline[-1]
    assert (last.kind, last.source, last.bounce_class) == ("bounced", "dsn", "soft.mailbox_full")
    assert detail.row.recipients[0].status == "bounced"


async def test_a_test_send_is_kept_in_the_activity_and_never_queued(relay_world):
    world = relay_world
    relay = await world.start_relay()
    email = sending.TestEmail(from_addr="shop@example.com", to_addr=CUSTOMER)
    result = await sending.send_through_service(world.store, "Sink", email)
    assert result.ok
    (row,) = activity.search(world.store, ActivityQuery())
    assert (row.source, row.critical, row.status) == ("test", True, "sent")
    detail = activity.message_detail(world.store, row.id)
    assert [e.kind for e in detail.timeline] == ["accepted", "handed_over"]
    assert detail.timeline[-1].detail.startswith("250")
    relay.wake()
    await asyncio.sleep(0.5)  # the worker had its chance to claim it: it must not
    with world.store.session() as s:
        stored = s.scalar(select(QueuedMessage).where(QueuedMessage.id == row.id))
        assert stored is not None and stored.attempts == 1 and stored.status == "sent"
    assert not queue.retry_now(world.store, row.id)
    assert len(world.sink.messages) == 1  # only the test send itself
