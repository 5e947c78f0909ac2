"""How many connections the relay opens to a service: more while messages wait (up to
``max_connections``), and no more than a service that limits its connections takes."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from postdesk.core.relay import queue
from support.relay import _sink_auth, message, wait_until

pytestmark = [pytest.mark.keyring, pytest.mark.nsd]

SLOW_DATA = 0.1  # seconds the service takes for each message: a backlog forms


class _Sessions:
    """Sessions open at once at the service, the most seen, and how many it turned away."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.open = 0
        self.most = 0
        self.refused = 0
        self.lock = threading.Lock()


class _LimitedSMTP(SMTP):
    def __init__(self, handler: Any, sessions: _Sessions, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.sessions = sessions
        self.counted = False

    async def _handle_client(self) -> None:
        sessions = self.sessions
        with sessions.lock:
            full = sessions.limit is not None and sessions.open >= sessions.limit
            if full:
                sessions.refused += 1
            else:
                sessions.open += 1
                sessions.most = max(sessions.most, sessions.open)
                self.counted = True
        if full:
            await self.push("421 4.7.0 Too many connections from your address")
            if self.transport is not None:
                self.transport.close()
            return
        await super()._handle_client()

    def connection_lost(self, error: Exception | None) -> None:
        if self.counted:
            with self.sessions.lock:
                self.sessions.open -= 1
            self.counted = False
        super().connection_lost(error)


class _LimitedController(Controller):
    def __init__(self, handler: Any, sessions: _Sessions, **kwargs: Any) -> None:
        self.sessions = sessions
        super().__init__(handler, **kwargs)

    def factory(self) -> SMTP:
        return _LimitedSMTP(self.handler, self.sessions, **self.SMTP_kwargs)


def _slow_sink(world: Any, limit: int | None) -> _Sessions:
    """Replace the world's sink (same port) with a slow one that takes ``limit`` sessions."""
    world.sink.stop()
    handler = world.sink.handler
    original = handler.handle_DATA

    async def handle_DATA(server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(SLOW_DATA)
        return await original(server, session, envelope)

    handler.handle_DATA = handle_DATA
    sessions = _Sessions(limit)
    world.sink.controller = _LimitedController(
        handler,
        sessions,
        hostname="127.0.0.1",
        port=world.sink.port,
        server_hostname="sink.test",
        ready_timeout=10,
        authenticator=_sink_auth,
        auth_require_tls=False,
    )
    world.sink.controller.start()
    with sessions.lock:  # the controller's own readiness probe
        sessions.most = 0
    return sessions


def _send_burst(world: Any, port: int, subjects: list[str]) -> None:
    import smtplib

    from support.relay import submit

    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.login(world.username, world.password)
        for subject in subjects:
            assert submit(client, message(subject))[0] == 250


async def test_a_backlog_gets_more_connections_up_to_the_most_allowed(relay_world):
    world = relay_world
    sessions = _slow_sink(world, limit=None)
    relay = await world.start_relay()
    subjects = [f"newsletter {i}" for i in range(60)]
    await asyncio.to_thread(_send_burst, world, relay.port, subjects)
    await world.sink.await_for(len(subjects), timeout=60)
    options = world.options()
    # More than it starts with while 60 messages wait, never more than the most allowed.
    assert options.concurrency < sessions.most <= options.max_connections
    assert sorted(_subject(e) for e in world.sink.messages) == sorted(subjects)


async def test_a_service_that_takes_two_connections_gets_two(relay_world):
    world = relay_world
    sessions = _slow_sink(world, limit=2)
    relay = await world.start_relay()
    subjects = [f"invoice {i}" for i in range(30)]
    await asyncio.to_thread(_send_burst, world, relay.port, subjects)
    await world.sink.await_for(len(subjects), timeout=60)
    await wait_until(lambda: queue.counts(world.store)["sent"] == len(subjects))
    assert sorted(_subject(e) for e in world.sink.messages) == sorted(subjects)  # each once
    # The refusals teach the relay the service's limit: a few, not one per message or claim.
    assert 1 <= sessions.refused <= 4
    assert sessions.most == 2


def _subject(envelope: Any) -> str:
    return envelope.content.split(b"\r\nSubject: ")[1].split(b"\r\n")[0].decode()
