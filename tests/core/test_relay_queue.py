"""The delivery queue: claims skip what waits for a retry, never overlap, and leave SQLite's
full disk flush on for everyone else."""

from __future__ import annotations

import datetime as dt

from postdesk.core.relay import queue
from postdesk.core.store.models import DedicatedDomain, QueuedMessage, utcnow
from support.workspace import add_verified_domain


def _fill(store, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    add_verified_domain(store)
    with store.session() as s:
        domain_id = s.query(DedicatedDomain).one().id
        return [
            queue.enqueue(
                s,
                domain_id=domain_id,
                smtp_user_id=None,
                mail_from="shop@example.com",
                rcpt_tos=[f"c{i}@client.test"],
                raw=b"From: shop@example.com\r\n\r\nhello\r\n",
                subject=f"m{i}",
            ).id
            for i in range(count)
        ]


def test_a_message_waiting_for_its_retry_holds_back_no_other(store) -> None:
    first, *later = _fill(store, 4)
    with store.session() as s:  # the oldest failed a moment ago and waits a minute
        s.get(QueuedMessage, first).next_attempt_at = utcnow() + dt.timedelta(minutes=1)
    (claim,) = queue.claim(store, "worker-a", lease=60, batch_size=10)
    assert claim.ids == later
    assert queue.claim(store, "worker-b", lease=60, batch_size=10) == []  # all held by a


def test_claims_are_capped_by_bytes_but_take_at_least_one(store) -> None:
    ids = _fill(store, 3)
    (claim,) = queue.claim(store, "worker-a", lease=60, batch_size=10, max_bytes=1)
    assert claim.ids == ids[:1]


def test_outcomes_are_recorded_together(store) -> None:
    ids = _fill(store, 3)
    queue.claim(store, "worker-a", lease=60, batch_size=10)
    policy = queue.RetryPolicy(base=60, cap=3600, max_age=3600)
    statuses = queue.record_outcomes(
        store,
        "worker-a",
        [
            queue.Outcome(ids[0], "sent", "250 ok"),
            queue.Outcome(ids[1], "retry", "451 mailbox full"),
            queue.Outcome(ids[2], "bounced", "550 no such user"),
        ],
        policy=policy,
    )
    assert statuses == {ids[0]: "sent", ids[1]: "pending", ids[2]: "bounced"}
    assert queue.counts(store) == {"pending": 1, "sending": 0, "sent": 1, "bounced": 1}
    # Another worker's outcome for a message it does not hold changes nothing.
    assert (
        queue.record_outcomes(
            store, "worker-b", [queue.Outcome(ids[1], "sent", "250")], policy=policy
        )
        == {}
    )


def test_delivery_bookkeeping_leaves_every_connection_flushing_fully(store) -> None:
    _fill(store, 2)
    queue.claim(store, "worker-a", lease=60, batch_size=10)
    connections = [store.engine.connect() for _ in range(5)]
    try:
        for connection in connections:
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    finally:
        for connection in connections:
            connection.close()
