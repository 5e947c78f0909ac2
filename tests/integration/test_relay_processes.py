"""``postdesk relay`` as real processes: killed mid-traffic, and two sharing one PostgreSQL."""

from __future__ import annotations

import asyncio
import smtplib
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from postdesk.core import usage
from postdesk.core.relay import RelayOptions, queue
from postdesk.core.store import open_store
from support.relay import RelayWorld, build_world, close_world, message, submit, wait_until
from support.services import free_port

pytestmark = [pytest.mark.keyring, pytest.mark.nsd]


class Sender(threading.Thread):
    """Sends numbered messages one per connection, retrying refused connections, and keeps
    the subjects (and recipient counts) that got a 250."""

    def __init__(self, world: RelayWorld, ports: list[int], name: str, count: int) -> None:
        super().__init__(daemon=True)
        self.world, self.ports, self.prefix, self.count = world, ports, name, count
        self.accepted: dict[str, int] = {}
        self.deadline = time.monotonic() + 60

    def run(self) -> None:
        i = 0
        while i < self.count and time.monotonic() < self.deadline:
            subject = f"{self.prefix}-{i}"
            rcpts = [f"r{j}@client.test" for j in range(1 + i % 3)]
            port = self.ports[i % len(self.ports)]
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
                    client.starttls()
                    client.login(self.world.username, self.world.password)
                    code, _ = submit(client, message(subject), rcpts)
            except (OSError, smtplib.SMTPException):
                time.sleep(0.05)  # the relay is down: try the same message again
                continue
            if code == 250:
                self.accepted[subject] = len(rcpts)
                i += 1


def _subjects(world: RelayWorld) -> list[str]:
    return [
        env.content.split(b"\r\nSubject: ")[1].split(b"\r\n")[0].decode()
        for env in world.sink.messages
    ]


async def test_killed_relay_loses_nothing_it_accepted(relay_world):
    world = relay_world
    port = free_port()
    relay = await asyncio.to_thread(world.start_process, port)
    senders = [Sender(world, [port], f"s{n}", 15) for n in range(3)]
    for sender in senders:
        sender.start()
    while sum(len(s.accepted) for s in senders) < 12:
        await asyncio.sleep(0.02)
    relay.kill()  # SIGKILL: no clean-up at all
    await asyncio.sleep(0.3)
    relay = await asyncio.to_thread(world.start_process, port)
    for sender in senders:
        await asyncio.to_thread(sender.join, 90)
    accepted = {subject for s in senders for subject in s.accepted}
    assert len(accepted) == 45
    # A duplicate arrives as a 46th message: wait for every subject, not for a count.
    deadline = time.monotonic() + 60
    while not accepted <= set(_subjects(world)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    got = Counter(_subjects(world))
    assert set(got) == accepted
    # A message may be delivered twice only if its upstream 250 arrived just before the kill,
    # before the queue recorded it: at most two per upstream connection (see relay/worker.py).
    assert sum(n - 1 for n in got.values()) <= 2 * RelayOptions().max_connections
    assert relay.terminate() == 0
    console = relay.output.read_text()
    assert "Relay listening on 127.0.0.1:" in console
    # Dozens of logins, and not one of aiosmtpd's notices about choices made on purpose.
    assert "auth_require_tls" not in console and "login_data" not in console


@pytest_asyncio.fixture
async def pg_world(
    secret_service, nsd, postdesk_home: Path, postgres_url: str, monkeypatch
) -> AsyncIterator[RelayWorld]:
    monkeypatch.setenv("POSTDESK_DATABASE_URL", postgres_url)
    store = open_store()
    world = await build_world(store, nsd, postdesk_home)
    try:
        yield world
    finally:
        await close_world(world)
        store.close()


@pytest.mark.postgres
async def test_two_relays_on_one_postgres_count_exactly_and_deliver_once(pg_world):
    world = pg_world
    ports = [free_port(), free_port()]
    for port in ports:
        await asyncio.to_thread(world.start_process, port)
    senders = [Sender(world, ports, f"p{n}", 12) for n in range(4)]
    for sender in senders:
        sender.start()
    for sender in senders:
        await asyncio.to_thread(sender.join, 90)
    accepted = {k: v for s in senders for k, v in s.accepted.items()}
    assert len(accepted) == 48
    assert usage.today(world.store).sent == sum(accepted.values())
    await world.sink.await_for(len(accepted), timeout=60)
    assert sorted(_subjects(world)) == sorted(accepted)  # each once: no double claims
    # Each is marked sent once its upstream 250 is recorded, a moment after the sink has it.
    await wait_until(lambda: queue.counts(world.store)["sent"] == len(accepted))
