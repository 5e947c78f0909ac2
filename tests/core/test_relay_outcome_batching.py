"""Delivery records outcomes in groups: a busy relay waits a moment for the outcomes due at the
same time and writes them in one transaction; an idle relay records a lone outcome at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from postdesk.core.relay import worker as worker_module
from postdesk.core.relay.options import RelayOptions
from postdesk.core.relay.queue import Outcome
from postdesk.core.relay.worker import Worker


@pytest.fixture
def transactions(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The message ids of every outcome transaction, in order (nothing is written)."""
    written: list[list[int]] = []

    def record(store: Any, worker: str, outcomes: list[Outcome], **_: Any) -> dict[int, str]:
        written.append([o.message_id for o in outcomes])
        return {o.message_id: o.result for o in outcomes}

    monkeypatch.setattr(worker_module.queue, "record_outcomes", record)
    return written


async def test_outcomes_due_together_share_one_transaction(
    store: Any, transactions: list[list[int]]
) -> None:
    worker = Worker(store, RelayOptions(outcome_gather=0.05))
    worker._in_flight.update({1: 100, 2: 100, 3: 100})  # three messages being delivered
    try:
        first = asyncio.ensure_future(worker._settle(Outcome(1, "sent", "250 ok")))
        await asyncio.sleep(0)  # its transaction waits for the others still under way
        rest = [asyncio.ensure_future(worker._settle(Outcome(i, "sent", "250 ok"))) for i in (2, 3)]
        await asyncio.wait_for(asyncio.gather(first, *rest), 10)
    finally:
        await worker.stop(grace=1)
    assert transactions == [[1, 2, 3]]
    assert not worker._in_flight


async def test_a_lone_outcome_is_recorded_at_once(
    store: Any, transactions: list[list[int]]
) -> None:
    # A window far longer than the test may take: waiting in it at all would fail the test.
    worker = Worker(store, RelayOptions(outcome_gather=600.0))
    worker._in_flight[1] = 100
    try:
        await asyncio.wait_for(worker._settle(Outcome(1, "sent", "250 ok")), 10)
    finally:
        await worker.stop(grace=1)
    assert transactions == [[1]]
