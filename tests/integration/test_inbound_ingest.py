"""Many senders at once: each 250 follows the commit that holds its message, a failed commit
refuses every message in it (451) and keeps none of them, and the verdicts do not depend on
whether a sender's DNS answers were asked afresh or reused."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest
from sqlalchemy import func, select, text

from postdesk.core.inbound import filing
from postdesk.core.relay import queue
from postdesk.core.store.models import InboundMessage, InboundThread
from support.reception import InboundWorld, mail, signed

pytestmark = pytest.mark.nsd

# A write the database refuses for one message of a group (as a full disk would).
POISON = {
    "sqlite": [
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON inbound_messages "
        "WHEN NEW.subject = 'poison' BEGIN SELECT RAISE(ABORT, 'the disk is full'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.subject = 'poison' THEN RAISE EXCEPTION 'the disk is full'; END IF; "
        "RETURN NEW; END $$",
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON inbound_messages "
        "FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
    ],
}
SENDERS = {  # sender domain -> (SPF, DKIM, DMARC) from 127.0.0.1, see support/reception.py
    "sender.test": ("pass", "pass", "pass"),
    "elsewhere.test": ("fail", "pass", "pass"),
    "bare.test": ("none", "none", "none"),
}


async def _deliver_all(world: InboundWorld, messages: list[tuple[bytes, str]]) -> list[int]:
    loop = asyncio.get_running_loop()
    # The clients get threads of their own: the server's database work uses its own pool.
    with ThreadPoolExecutor(len(messages)) as clients:
        replies = await asyncio.gather(
            *(
                loop.run_in_executor(clients, partial(world.deliver, raw, mail_from=sender))
                for raw, sender in messages
            )
        )
    return [code for code, _ in replies]


def _message(subject: str, domain: str) -> tuple[bytes, str]:
    sender = f"alice@{domain}"
    msg = mail(subject, sender=sender)
    raw = signed(msg, domain) if domain != "bare.test" else msg.as_bytes()
    return raw, sender


async def test_senders_at_once_are_each_stored_once_with_their_own_verdicts(
    database: str, inbound_world: InboundWorld
) -> None:
    # Twice over: the first wave asks DNS, the second reuses what the first was told.
    for wave in (1, 2):
        batch = [
            _message(f"wave {wave} {domain} {n}", domain) for domain in SENDERS for n in range(4)
        ]
        assert await _deliver_all(inbound_world, batch) == [250] * len(batch)
    rows = inbound_world.stored()
    assert sorted(r.subject for r in rows) == sorted(
        f"wave {wave} {domain} {n}" for wave in (1, 2) for domain in SENDERS for n in range(4)
    )
    for row in rows:
        domain = row.subject.split()[2]
        assert (row.spf, row.dkim, row.dmarc) == SENDERS[domain], row.subject
        header = row.raw.split(b"\r\n\r\n", 1)[0].decode()
        assert header.startswith("Authentication-Results: ")
        assert f"spf={row.spf} " in header and f"dmarc={row.dmarc}" in header
    with inbound_world.store.session() as s:
        assert s.scalar(select(func.count()).select_from(InboundThread)) == len(rows)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The workspace the test's store opens: SQLite, or a fresh PostgreSQL database."""
    if request.param == "postgres":
        monkeypatch.setenv("POSTDESK_DATABASE_URL", request.getfixturevalue("postgres_url"))
    return str(request.param)


async def test_a_failed_commit_refuses_every_message_in_it_and_keeps_none(
    database: str, inbound_world: InboundWorld
) -> None:
    store = inbound_world.store
    assert store.dialect == {"sqlite": "sqlite", "postgres": "postgresql"}[database]
    with store.session() as s:
        for statement in POISON[store.dialect]:
            s.execute(text(statement))
    plug = _message("plug", "sender.test")
    group = [_message(subject, "sender.test") for subject in ("a", "b", "poison", "c")]
    with _writes_held(store):
        # The plug's commit waits for the held writes; the four arrive meanwhile and so form
        # the next group together, committed in one transaction once the plug's is done.
        first = asyncio.ensure_future(_deliver_all(inbound_world, [plug]))
        await _until_grouped(store, (1, 0))
        rest = asyncio.ensure_future(_deliver_all(inbound_world, group))
        await _until_grouped(store, (1, len(group)))
    assert await first == [250]
    assert await rest == [451] * 4
    rows = inbound_world.stored()
    assert [r.subject for r in rows] == ["plug"]
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(InboundThread)) == 1  # nothing half
        on_table = "" if store.dialect == "sqlite" else " ON inbound_messages"
        s.execute(text(f"DROP TRIGGER refuse_poison{on_table}"))
    # The senders try again later (as a 451 asks) and every message is then kept, once.
    assert await _deliver_all(inbound_world, group) == [250] * 4
    deadline = time.monotonic() + 5
    while len(inbound_world.stored()) < 5 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    with store.session() as s:
        subjects = s.scalars(select(InboundMessage.subject).order_by(InboundMessage.id)).all()
    assert sorted(subjects) == ["a", "b", "c", "plug", "poison"]


async def _until_grouped(store, wanted: tuple[int, int], timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    """Until the received messages in the commit under way and those waiting for the next one
    are ``wanted`` (however busy the machine: a fixed sleep let a slow sender miss the group)."""
    deadline = time.monotonic() + timeout
    while (state := filing._grouped.state(store)) != wanted:
        assert time.monotonic() < deadline, f"committing and waiting: {state}, not {wanted}"
        await asyncio.sleep(0.02)


@contextlib.contextmanager
def _writes_held(store) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Hold the database's writes (the process's write turn on SQLite, a table lock on
    PostgreSQL) until the block ends, so that messages arriving meanwhile form one group."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        if store.dialect == "sqlite":
            with queue.writing(store):
                held.set()
                release.wait(60)
            return
        with store.engine.connect() as conn, conn.begin():
            conn.execute(text("LOCK TABLE inbound_messages IN EXCLUSIVE MODE"))
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    try:
        yield
    finally:
        release.set()
        holder.join(10)


def _plain(sender: str, subject: str, message_id: str, extra: str = "") -> tuple[bytes, str]:
    raw = (
        f"From: {sender}\r\nTo: hello@shop.test\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\n{extra}\r\nText of {subject}.\r\n"
    ).encode()
    return raw, sender


async def test_messages_of_one_group_that_answer_each_other_share_a_thread(
    database: str, inbound_world: InboundWorld
) -> None:
    # Related only by their reply headers (different subjects and senders), in one commit,
    # the replies filed before the message they answer. They join the group one after another
    # so the order is this one: threading's out-of-order rule (a message whose In-Reply-To
    # names a later one) holds for it, whether the messages share a commit or not.
    question = _plain("ann@one.test", "A question", "<q-1@one.test>")
    answer = _plain("bob@two.test", "Different words", "<a-1@two.test>",
                    "In-Reply-To: <q-1@one.test>\r\n")  # fmt: skip
    follow = _plain("cy@three.test", "Third", "<f-1@three.test>",
                    "References: <q-1@one.test> <a-1@two.test>\r\n")  # fmt: skip
    group = [answer, follow, question, _message("unrelated", "sender.test")]
    with _writes_held(inbound_world.store):
        plug = [_message("plug", "sender.test")]
        first = asyncio.ensure_future(_deliver_all(inbound_world, plug))
        # The plug's commit waits for the held writes; the group forms behind it.
        await _until_grouped(inbound_world.store, (1, 0))
        rest = []
        for waiting, message in enumerate(group, start=1):
            rest.append(asyncio.ensure_future(_deliver_all(inbound_world, [message])))
            await _until_grouped(inbound_world.store, (1, waiting))
    assert await first == [250]
    assert [code for delivered in rest for code in await delivered] == [250] * len(group)
    rows = inbound_world.stored()
    assert sorted(r.subject for r in rows) == sorted(
        ["A question", "Different words", "Third", "unrelated", "plug"]
    )  # each stored once
    thread_of = {r.subject: r.thread_id for r in rows}
    assert thread_of["A question"] == thread_of["Different words"] == thread_of["Third"]
    assert len(set(thread_of.values())) == 3  # the three, the plug, the unrelated message
    with inbound_world.store.session() as s:
        thread = s.get(InboundThread, thread_of["A question"])
        assert (thread.message_count, thread.unread_count) == (3, 3)
