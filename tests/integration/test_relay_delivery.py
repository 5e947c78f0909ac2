"""Delivery from the queue: retries while the upstream is away, bounces, TLS upstreams."""

from __future__ import annotations

import asyncio

import pytest

from postdesk.core.relay import queue
from support.relay import build_world, close_world, message, wait_until

pytestmark = [pytest.mark.keyring, pytest.mark.nsd]


async def test_upstream_down_then_back_delivers_everything_once(relay_world):
    world = relay_world
    world.sink.stop()
    relay = await world.start_relay()
    subjects = [f"order {i}" for i in range(6)]
    for subject in subjects:
        code, _ = await asyncio.to_thread(world.send, relay.port, message(subject))
        assert code == 250

    def all_tried() -> bool:
        waiting = queue.list_messages(world.store, status="pending")
        return len(waiting) == len(subjects) and all(m.attempts >= 1 for m in waiting)

    await wait_until(all_tried)
    for waiting in queue.list_messages(world.store, status="pending"):
        assert "Could not connect to the SMTP service 'Sink'" in (waiting.last_reply or "")

    world.sink.start()
    received = await world.sink.await_for(len(subjects))
    await wait_until(lambda: queue.counts(world.store)["sent"] == len(subjects))
    assert sorted(_subject(e) for e in world.sink.messages) == subjects  # each exactly once
    assert all(world.dkim_valid(e.content) for e in received)


async def test_permanent_refusal_bounces_with_the_upstream_reply(relay_world):
    world = relay_world
    world.sink.handler.reply = "554 5.7.1 Sender blocked by policy"
    relay = await world.start_relay()
    code, _ = await asyncio.to_thread(world.send, relay.port, message("refused"))
    assert code == 250
    await wait_until(lambda: queue.counts(world.store)["bounced"] == 1)
    (bounced,) = queue.list_messages(world.store, status="bounced")
    assert "554" in (bounced.last_reply or "") and "Sender blocked" in (bounced.last_reply or "")

    world.sink.handler.reply = None
    assert queue.retry_now(world.store, bounced.id)
    relay.wake()
    await world.sink.await_for(1)
    await wait_until(lambda: queue.counts(world.store)["sent"] == 1)


async def test_temporary_refusal_retries_and_expires_into_a_bounce(relay_world):
    world = relay_world
    world.sink.handler.reply = "451 4.3.0 Try again later"
    relay = await world.start_relay(max_age=3.0)
    await asyncio.to_thread(world.send, relay.port, message("never"))
    await wait_until(lambda: queue.counts(world.store)["bounced"] == 1)
    (bounced,) = queue.list_messages(world.store, status="bounced")
    assert bounced.attempts >= 2
    assert "gave up" in (bounced.last_reply or "") and "451" in (bounced.last_reply or "")
    assert queue.delete_message(world.store, bounced.id)
    assert queue.counts(world.store)["bounced"] == 0


async def test_starttls_upstream_with_a_pinned_certificate(
    secret_service, store, nsd, postdesk_home, smtp_pki
):
    world = await build_world(
        store,
        nsd,
        postdesk_home,
        tls_context=smtp_pki.server_context("self_signed"),
        pin=smtp_pki.fingerprints["self_signed"],
    )
    try:
        relay = await world.start_relay()
        await asyncio.to_thread(world.send, relay.port, message("over tls"))
        (env,) = await world.sink.await_for(1)
        assert world.dkim_valid(env.content)
    finally:
        await close_world(world)


def _subject(envelope) -> str:  # type: ignore[no-untyped-def]
    return envelope.content.split(b"\r\nSubject: ")[1].split(b"\r\n")[0].decode()


def _watch_sink(world, refuse_once: str | None = None) -> list[tuple[str, object]]:  # type: ignore[no-untyped-def]
    """Record (subject, client address) of every message the sink takes; optionally answer
    451 the first time a given subject arrives."""
    seen: list[tuple[str, object]] = []
    refused: set[str] = set()
    handler = world.sink.handler
    original = handler.handle_DATA

    async def handle_DATA(server, session, envelope):  # type: ignore[no-untyped-def]
        subject = envelope.content.split(b"\r\nSubject: ")[1].split(b"\r\n")[0].decode()
        if subject == refuse_once and subject not in refused:
            refused.add(subject)
            return "451 4.3.0 Try again later"
        reply = await original(server, session, envelope)
        seen.append((subject, tuple(session.peer)))
        return reply

    handler.handle_DATA = handle_DATA
    return seen


def _send_all(world, port: int, subjects: list[str]) -> None:  # type: ignore[no-untyped-def]
    import smtplib

    from support.relay import submit

    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.starttls()
        client.login(world.username, world.password)
        for subject in subjects:
            assert submit(client, message(subject))[0] == 250


async def test_many_messages_share_a_few_upstream_connections(relay_world):
    world = relay_world
    seen = _watch_sink(world)
    relay = await world.start_relay()
    subjects = [f"receipt {i}" for i in range(12)]
    await asyncio.to_thread(_send_all, world, relay.port, subjects)
    received = await world.sink.await_for(len(subjects))
    assert sorted(subject for subject, _ in seen) == sorted(subjects)
    # A few logged-in connections carry them all, not one per message.
    assert len({peer for _, peer in seen}) <= world.options().max_connections
    assert all(world.dkim_valid(e.content) for e in received)


async def test_a_refusal_retries_that_message_alone(relay_world):
    world = relay_world
    seen = _watch_sink(world, refuse_once="order 2")
    relay = await world.start_relay()
    subjects = [f"order {i}" for i in range(6)]
    await asyncio.to_thread(_send_all, world, relay.port, subjects)
    await world.sink.await_for(len(subjects))
    assert sorted(subject for subject, _ in seen) == subjects
    await wait_until(lambda: queue.counts(world.store)["sent"] == len(subjects))
    attempts = {m.subject: m.attempts for m in queue.list_messages(world.store)}
    assert attempts == {s: 2 if s == "order 2" else 1 for s in subjects}


async def test_a_stuck_message_never_holds_back_the_others(relay_world):
    world = relay_world
    handler = world.sink.handler

    async def handle_RCPT(server, session, envelope, address, options):  # type: ignore[no-untyped-def]
        if address.startswith("full@"):
            return "451 4.2.2 Mailbox full"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    handler.handle_RCPT = handle_RCPT
    relay = await world.start_relay()
    code, _ = await asyncio.to_thread(
        world.send, relay.port, message("stuck", to="full@client.test")
    )
    assert code == 250
    subjects = [f"after {i}" for i in range(20)]
    await asyncio.to_thread(_send_all, world, relay.port, subjects)

    await world.sink.await_for(len(subjects))
    await wait_until(lambda: queue.counts(world.store)["sent"] == len(subjects))
    assert sorted(_subject(e) for e in world.sink.messages) == sorted(subjects)

    def retried() -> bool:
        (stuck,) = queue.list_messages(world.store, status="pending")
        return stuck.attempts >= 2

    await wait_until(retried)  # still trying, on its own schedule
    (stuck,) = queue.list_messages(world.store, status="pending")
    assert stuck.subject == "stuck"
    assert "451 4.2.2 Mailbox full" in (stuck.last_reply or "")


async def test_a_dropped_upstream_connection_is_replaced_without_a_retry(relay_world):
    world = relay_world
    relay = await world.start_relay()
    await asyncio.to_thread(_send_all, world, relay.port, ["before"])
    await world.sink.await_for(1)
    await wait_until(lambda: queue.counts(world.store)["sent"] == 1)
    world.sink.stop()  # closes the connection the relay keeps open
    world.sink.start()
    await asyncio.to_thread(_send_all, world, relay.port, ["after"])
    await world.sink.await_for(2)
    await wait_until(lambda: queue.counts(world.store)["sent"] == 2)
    assert [m.attempts for m in queue.list_messages(world.store)] == [1, 1]
