"""``postdesk conversations list|show|search``, run as a user runs them, text and JSON."""

from __future__ import annotations

import json

import pytest

from support.cli import postdesk

pytestmark = pytest.mark.parametrize("conversations_store", ["sqlite"], indirect=True)

ESCAPES = (
    b"From: Mallory <mallory@evil.example>\r\nTo: support@example.com\r\n"
    b"Subject: =?utf-8?q?Urgent=1B[2J=1B]0;owned=07?=\r\nMessage-ID: <esc-1@evil.example>\r\n\r\n"
    b"Line one\x1b[31m red\x1b[0m\r\n\x1b]8;;https://evil.example\x07click\x1b]8;;\x07\r\n"
)


@pytest.fixture
def filed(conversations_store, file_sample) -> None:
    for name in ("list-1.eml", "list-2.eml", "list-3.eml", "hello.eml", "outlook-html.eml",
                 "script-remote-images.eml", "attachments.eml"):  # fmt: skip
        file_sample(name)


def test_list_shows_threads_newest_first_with_unread_counts(filed) -> None:
    done = postdesk("conversations", "list")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "LAST", "DOMAIN"]
    assert "Invoices for November" in lines[1]
    assert "Release 2.0 plan" in lines[-1] and "  3  " in lines[-1]

    listed = json.loads(postdesk("conversations", "list", "--json").stdout)
    assert [t["subject"] for t in listed][-1] == "Release 2.0 plan"
    assert listed[-1]["messages"] == 3 and listed[-1]["unread"] == 3
    assert all(t["domain"] == "example.com" for t in listed)


def test_show_gives_the_text_verdicts_and_attachments(filed) -> None:
    threads = json.loads(postdesk("conversations", "list", "--json").stdout)
    by_subject = {t["subject"]: t["id"] for t in threads}
    offer = postdesk("conversations", "show", str(by_subject["Your exclusive offer"]))
    assert offer.returncode == 0, offer.stderr
    assert "Checks:  SPF pass · DKIM pass · DMARC pass" in offer.stdout
    assert "Half price on everything" in offer.stdout  # the HTML, shown as its text
    assert "<h1" not in offer.stdout and "document.cookie" not in offer.stdout

    shown = json.loads(
        postdesk("conversations", "show", str(by_subject["Invoices for November"]), "--json").stdout
    )
    [message] = shown["messages"]
    assert [a["filename"] for a in message["attachments"]] == [
        "bashrc",
        "invoice-4471.pdf",
        "résumé novembre.csv",
    ]
    assert message["verdicts"] == {"spf": "pass", "dkim": "pass", "dmarc": "pass"}


def test_search_finds_body_words_and_senders(filed) -> None:
    hits = json.loads(postdesk("conversations", "search", "translation", "--json").stdout)
    assert [h["from"] for h in hits] == ["Chandra Rao <chandra@fieldwork.example>"]
    by_sender = postdesk("conversations", "search", "jonas.keller@contoso.example")
    assert by_sender.returncode == 0
    assert "Lieferung für Auftrag 88120" in by_sender.stdout
    nothing = postdesk("conversations", "search", "kangaroo", "--domain", "example.com")
    assert nothing.returncode == 0 and "No received message matches." in nothing.stdout


def test_mistakes_are_one_line_errors(filed) -> None:
    for argv, code in (
        (["conversations", "show", "999"], 1),
        (["conversations", "list", "--domain", "nowhere.example"], 1),
        (["conversations", "show", "abc"], 2),
    ):
        done = postdesk(*argv)
        assert done.returncode == code, (argv, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_a_message_cannot_drive_the_terminal(conversations_store, file_sample) -> None:
    file_sample(ESCAPES)
    [thread] = json.loads(postdesk("conversations", "list", "--json").stdout)
    for argv in (["conversations", "list"], ["conversations", "show", str(thread["id"])]):
        done = postdesk(*argv)
        assert done.returncode == 0, done.stderr
        assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "Line one" in postdesk("conversations", "show", str(thread["id"])).stdout
