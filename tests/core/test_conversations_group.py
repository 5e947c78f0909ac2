"""Filing a whole group of received messages at once (as the inbound server's group commit does)
threads them exactly as filing them one after another would, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update

from postdesk.core.conversations import get_thread, list_threads
from postdesk.core.conversations.filing import Incoming, file_group
from postdesk.core.store.models import DedicatedDomain, InboundMessage, InboundThread
from support.conversation_samples import sample

VERDICTS = {"spf": "pass", "dkim": "pass", "dmarc": "pass"}


def _file_group(store, names: list[str | bytes], pending: str = "") -> list[int]:
    with store.session() as s:
        domain_id = s.scalar(
            select(DedicatedDomain.id).where(DedicatedDomain.name == "example.com")
        )
        return file_group(
            s,
            [
                Incoming(
                    domain_id,
                    sample(name) if isinstance(name, str) else name,
                    "sender@elsewhere.example",
                    ["support@example.com"],
                    "192.0.2.25",
                    "mail.elsewhere.example",
                    VERDICTS,
                    "mx.example.com; spf=pass; dkim=pass; dmarc=pass",
                    pending=pending,
                )
                for name in names
            ],
        )


def _threads_by_subject(store, ids: list[int]) -> dict[str, int]:
    with store.session() as s:
        return {
            m.subject: m.thread_id
            for m in s.scalars(select(InboundMessage).where(InboundMessage.id.in_(ids)))
        }


def test_replies_in_the_same_group_join_their_threads(conversations_store) -> None:
    # A reply before its parent (found as the parent's child), a reply naming a message of the
    # group, a follow-up by subject and sender to a thread the group started, and a stranger
    # writing with the same subject.
    names = ["list-2.eml", "hello.eml", "list-1.eml", "hello-unrelated.eml", "list-3.eml",
             "hello-followup.eml"]  # fmt: skip
    ids = _file_group(conversations_store, names, pending="forward")
    assert len(ids) == len(names) and ids == sorted(ids)
    with conversations_store.session() as s:
        stored = s.execute(
            select(
                InboundMessage.id, InboundMessage.message_id_header, InboundMessage.pending
            ).order_by(InboundMessage.id)
        ).all()
    # Each id is its own message's, in the order given, with the mark the commit set.
    expected_ids = [sample(n).split(b"Message-ID: ")[1].split(b"\r\n")[0].split(b"\n")[0]
                    for n in names]  # fmt: skip
    assert [r.id for r in stored] == ids
    assert [r.message_id_header.encode() for r in stored] == expected_ids
    assert {r.pending for r in stored} == {"forward"}

    thread_of = dict(zip(names, (_thread(conversations_store, i) for i in ids), strict=True))
    assert thread_of["list-1.eml"] == thread_of["list-2.eml"] == thread_of["list-3.eml"]
    assert thread_of["hello.eml"] == thread_of["hello-followup.eml"]
    assert thread_of["hello-unrelated.eml"] not in (thread_of["hello.eml"], thread_of["list-1.eml"])

    summaries = list_threads(conversations_store, "example.com")
    assert sorted((t.message_count, t.unread_count) for t in summaries) == [
        (1, 1), (2, 2), (3, 3)
    ]  # fmt: skip
    [release] = [t for t in summaries if t.subject == "Release 2.0 plan"]
    assert [m.message_id for m in get_thread(conversations_store, release.id).messages] == [
        "<87zgq3k2xv.fsf@fieldwork.example>",
        "<CAF1x9=release-plan-1@mail.builders.example.net>",
        "<CAF1x9=release-plan-3@mail.builders.example.net>",
    ]


def test_a_group_continues_threads_stored_before_it(conversations_store, file_sample) -> None:
    hello = file_sample("hello.eml")
    first = file_sample("list-1.eml")
    ids = _file_group(conversations_store, ["hello-followup.eml", "list-2.eml", "list-3.eml"])
    assert _thread(conversations_store, ids[0]) == _thread(conversations_store, hello)
    assert {_thread(conversations_store, i) for i in ids[1:]} == {
        _thread(conversations_store, first)
    }
    with conversations_store.session() as s:
        assert s.scalar(select(func.count()).select_from(InboundThread)) == 2
        counts = s.execute(
            select(InboundThread.message_count, InboundThread.unread_count).order_by(
                InboundThread.id
            )
        ).all()
    assert [tuple(c) for c in counts] == [(2, 2), (3, 3)]
    # The thread a group continued is the newest again.
    assert [t.subject for t in list_threads(conversations_store, "example.com")] == [
        "Release 2.0 plan",
        "Hello",
    ]


def _age_every_thread(store, days: int) -> None:
    with store.session() as s:
        s.execute(
            update(InboundThread).values(last_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=days))
        )


def test_the_subject_fallback_still_ends_after_a_month_in_a_group(
    conversations_store, file_sample
) -> None:
    hello = file_sample("hello.eml")
    _age_every_thread(conversations_store, 45)
    # Two messages: the group's lookups are read ahead for both.
    [followup, _] = _file_group(conversations_store, ["hello-followup.eml", "list-1.eml"])
    assert _thread(conversations_store, followup) != _thread(conversations_store, hello)


def test_a_thread_made_active_earlier_in_the_group_is_found_by_subject(
    conversations_store, file_sample
) -> None:
    # The reply (by its headers) brings a month-old thread back; the follow-up after it in the
    # same group, with no reply headers, then joins it by subject, as it would a moment later.
    hello = file_sample("hello.eml")
    _age_every_thread(conversations_store, 45)
    reply = (
        b"From: Alice Wong <alice@customer.example>\r\nTo: support@example.com\r\n"
        b"Subject: Re: Hello\r\nMessage-ID: <hello-1b@customer.example>\r\n"
        b"In-Reply-To: <hello-1@customer.example>\r\n\r\nStill wrong.\r\n"
    )
    ids = _file_group(conversations_store, [reply, "hello-followup.eml"])
    assert {_thread(conversations_store, i) for i in ids} == {_thread(conversations_store, hello)}
    [thread] = list_threads(conversations_store, "example.com")
    assert (thread.message_count, thread.unread_count) == (3, 3)


def _thread(store, message_id: int) -> int:
    with store.session() as s:
        return s.get(InboundMessage, message_id).thread_id
