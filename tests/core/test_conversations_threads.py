"""Received mail is filed into threads: by the reply headers first, by subject as a fallback."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from postdesk.core.conversations import get_thread, list_threads, mark_read
from postdesk.core.conversations.threads import normalized_subject
from postdesk.core.store.models import InboundThread


def _thread_of(store, message_id: int) -> int:
    with store.session() as s:
        from postdesk.core.store.models import InboundMessage

        return s.get(InboundMessage, message_id).thread_id


def test_a_mailing_list_reply_chain_is_one_thread(conversations_store, file_sample) -> None:
    first = file_sample("list-1.eml")
    second = file_sample("list-2.eml")
    third = file_sample("list-3.eml")
    assert _thread_of(conversations_store, first) == _thread_of(conversations_store, second)
    assert _thread_of(conversations_store, second) == _thread_of(conversations_store, third)

    [summary] = list_threads(conversations_store, "example.com")
    assert summary.subject == "Release 2.0 plan"
    assert (summary.message_count, summary.unread_count) == (3, 3)
    assert "Bob Martin" in summary.last_from
    thread = get_thread(conversations_store, summary.id)
    assert [m.message_id for m in thread.messages] == [
        "<CAF1x9=release-plan-1@mail.builders.example.net>",
        "<87zgq3k2xv.fsf@fieldwork.example>",
        "<CAF1x9=release-plan-3@mail.builders.example.net>",
    ]
    assert "strings frozen" in thread.messages[1].text


def test_an_unrelated_re_hello_stays_apart(conversations_store, file_sample) -> None:
    hello = file_sample("hello.eml")
    stranger = file_sample("hello-unrelated.eml")
    assert _thread_of(conversations_store, hello) != _thread_of(conversations_store, stranger)
    assert len(list_threads(conversations_store, "example.com")) == 2


def test_a_reply_without_headers_joins_by_subject_and_sender(
    conversations_store, file_sample
) -> None:
    hello = file_sample("hello.eml")
    followup = file_sample("hello-followup.eml")  # "AW: Hello", same customer, no In-Reply-To
    assert _thread_of(conversations_store, hello) == _thread_of(conversations_store, followup)


def test_the_subject_fallback_ends_after_a_month(conversations_store, file_sample) -> None:
    hello = file_sample("hello.eml")
    with conversations_store.session() as s:
        s.execute(
            update(InboundThread).values(last_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=45))
        )
    followup = file_sample("hello-followup.eml")
    assert _thread_of(conversations_store, hello) != _thread_of(conversations_store, followup)


def test_newest_first_unread_counts_and_marking_read(conversations_store, file_sample) -> None:
    file_sample("list-1.eml")
    file_sample("hello.eml")
    file_sample("list-2.eml")  # the list thread is active again: it comes first
    threads = list_threads(conversations_store, "example.com")
    assert [t.subject for t in threads] == ["Release 2.0 plan", "Hello"]
    mark_read(conversations_store, threads[0].id)
    unread = list_threads(conversations_store, "example.com", unread_only=True)
    assert [t.subject for t in unread] == ["Hello"]
    mark_read(conversations_store, threads[0].id, read=False)
    again = list_threads(conversations_store, "example.com")
    assert again[0].unread_count == 2
    assert all(m.unread for m in get_thread(conversations_store, threads[0].id).messages)


def test_a_reply_sent_from_the_thread_is_filed_read(conversations_store, file_sample) -> None:
    file_sample("hello.eml")
    reply = (
        b"From: Support <support@example.com>\r\nTo: Alice Wong <alice@customer.example>\r\n"
        b"Subject: Re: Hello\r\nMessage-ID: <answer-1@example.com>\r\n"
        b"In-Reply-To: <hello-1@customer.example>\r\n\r\nFixed, sorry about that.\r\n"
    )
    file_sample(reply, direction="out")
    [thread] = list_threads(conversations_store, "example.com")
    assert (thread.message_count, thread.unread_count) == (2, 1)


def test_reply_prefixes_in_several_languages_are_stripped() -> None:
    for subject in ("Re: Hello", "RE: Re: Hello", "AW: Hello", "SV: Hello", "Fwd: Hello",
                    "[support] Re: Hello", "Re[2]: Hello", "WG: AW: Hello"):  # fmt: skip
        assert normalized_subject(subject) == "Hello", subject
    assert normalized_subject("Regarding: Hello") == "Regarding: Hello"
