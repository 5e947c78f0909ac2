"""Delivery in a process of its own (what ``postdesk relay`` does by default): it delivers and
reports the queue, stops with the relay, is started again when it dies, and never outlives a
relay that is killed."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from pathlib import Path

import pytest

from postdesk.cli import relay as relay_cli
from postdesk.core.relay import queue
from support.relay import message, wait_until
from support.services import free_port

pytestmark = [pytest.mark.keyring, pytest.mark.nsd]


def _alive(pid: int) -> bool:
    """Whether a process runs (a zombie awaiting its parent counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _delivery_children(pid: int) -> set[int]:
    """The processes ``pid`` started with multiprocessing's spawn (not its resource tracker)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(OSError):
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.add(int(child))
    return found


async def test_delivery_process_delivers_signed_reports_counts_and_stops_with_the_relay(
    relay_world,
):
    world = relay_world
    relay = await world.start_relay(delivery_process=True)
    pid = relay._delivery.pid
    assert pid is not None and pid != os.getpid()
    subjects = [f"order {i}" for i in range(5)]
    for subject in subjects:
        code, _ = await asyncio.to_thread(world.send, relay.port, message(subject))
        assert code == 250
    received = await world.sink.await_for(len(subjects))
    assert all(world.dkim_valid(e.content) for e in received)
    # The status (what the status bar and CLI show) hears the queue from the other process.
    await wait_until(lambda: relay.status.queue.get("sent") == len(subjects))

    await relay.stop()
    assert not _alive(pid)
    assert queue.counts(world.store)["sending"] == 0  # nothing left claimed by it


async def test_a_delivery_process_that_dies_is_started_again(relay_world):
    world = relay_world
    relay = await world.start_relay(delivery_process=True)
    first = relay._delivery.pid
    os.kill(first, signal.SIGKILL)
    await wait_until(
        lambda: relay._delivery.started == 2 and relay._delivery.pid not in (None, first)
    )
    code, _ = await asyncio.to_thread(world.send, relay.port, message("after the restart"))
    assert code == 250
    (received,) = await world.sink.await_for(1)
    assert b"after the restart" in received.content


async def test_a_killed_relay_takes_its_delivery_process_with_it(relay_world):
    world = relay_world
    relay = await asyncio.to_thread(world.start_process, free_port())
    await wait_until(lambda: len(_delivery_children(relay.process.pid)) == 1)
    (child,) = _delivery_children(relay.process.pid)
    assert _alive(child)
    code, _ = await asyncio.to_thread(world.send, relay.port, message("before the kill"))
    assert code == 250
    await world.sink.await_for(1)

    relay.kill()  # SIGKILL: the relay cannot tell it anything
    await wait_until(lambda: not _alive(child), timeout=20)


def test_single_process_keeps_delivery_in_the_relay():
    parser = argparse.ArgumentParser()
    relay_cli.add_arguments(parser)
    assert relay_cli._options(parser.parse_args([])).delivery_process
    assert not relay_cli._options(parser.parse_args(["--single-process"])).delivery_process
