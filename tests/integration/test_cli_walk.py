"""Commands used the way a first user uses them, on a workspace with data: what each prints must
say what happened and what to type next, through the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from postdesk.core import activity
from postdesk.core.relay import queue
from postdesk.core.store.models import DedicatedDomain, DomainRecord
from support.cli import ok, postdesk
from support.workspace import add_verified_domain


@pytest.fixture
def workspace(store, postdesk_home: Path) -> Path:  # type: ignore[no-untyped-def]
    add_verified_domain(store, "shop.test")
    return postdesk_home


def test_importing_an_empty_csv_says_there_was_nothing_in_it(workspace, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("address,reason\n\n")
    done = postdesk("suppress", "import", str(empty))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "holds no addresses" in done.stderr
    assert "address,reason,note" in done.stderr
    assert "No suppressed addresses." in ok("suppress", "list")


def test_a_bad_line_is_named_with_its_file_and_what_to_do(workspace, tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("address,reason,note\nann@client.test,manual,old tool\nnot an address\n")
    done = postdesk("suppress", "import", str(mixed))
    assert done.returncode == 1
    assert f"{mixed}, line 3:" in done.stderr and "import the file again" in done.stderr
    listed = ok("suppress", "list", "--search", "ann")
    assert "old tool" in listed  # the "note" column is the detail, as `suppress add --note`


def test_a_rule_on_a_domain_that_receives_nothing_says_how_to_turn_reception_on(
    workspace, store
) -> None:  # type: ignore[no-untyped-def]
    said = ok("forward", "add", "shop.test", "info", "owner@client.test")
    assert "Mail to info@shop.test is now forwarded to owner@client.test." in said
    assert "postdesk domain reception shop.test --on" in said
    with store.session() as s:
        s.query(DedicatedDomain).filter_by(name="shop.test").one().reception = True
    said = ok("forward", "add", "shop.test", "sales", "owner@client.test")
    assert "reception" not in said
    listed = ok("forward", "list").splitlines()
    assert listed[0].split() == ["ADDRESS", "FORWARDED", "TO", "STATE"]


def test_stats_names_the_mail_no_smtp_user_sent(workspace, store) -> None:  # type: ignore[no-untyped-def]
    with store.session() as s:
        domain_id = s.query(DedicatedDomain).filter_by(name="shop.test").one().id
        row = queue.enqueue(
            s,
            domain_id=domain_id,
            smtp_user_id=None,  # as a reply from Conversations is queued
            mail_from="hello@shop.test",
            rcpt_tos=["carol@client.test"],
            raw=b"Subject: Re: Where is my order?\r\n\r\nTomorrow.\r\n",
            subject="Re: Where is my order?",
        )
        s.flush()
        activity.add_recipients(s, row.id, ["carol@client.test"])
        activity.set_recipient_status(s, row.id, "carol@client.test", "sent")
    lines = ok("stats").splitlines()
    row = next(line for line in lines if line.startswith("  (sent by Postdesk)"))
    assert row.split()[3] == "1"
    assert not any("test sends)" in line for line in lines)
    assert "replies from Conversations" in lines[-1]


def test_settings_show_values_as_typed_and_unset_ones_as_not_set(workspace) -> None:
    ok("settings", "mx_target", "mx.shop.test")
    shown = dict(line.split(maxsplit=1) for line in ok("settings").splitlines()[1:])
    assert shown["mx_target"] == "mx.shop.test"
    assert shown["dmarc_rua"] == "(not set)"
    assert shown["blocklists"].startswith('["')
    assert "null" not in shown.values()


def test_webhooks_say_what_to_type_for_a_missing_url_and_key(workspace, secret_service) -> None:
    said = ok("webhooks")
    assert "Settings)" not in said  # the window's words, not a command
    assert "postdesk settings tracking_target HOST" in said
    assert "postdesk webhooks secret PROVIDER --stdin" in said


def test_the_listed_policy_without_a_confirmed_address_reads_plainly(workspace) -> None:
    said = ok("sender", "policy", "shop.test", "listed")
    assert "(es)" not in said and " 0 " not in said
    assert "confirmed sender addresses (none yet)" in said
    assert "refuses all its mail" in said


def _filed(store, raw: bytes, sender: str, to: str, direction: str) -> int:  # type: ignore[no-untyped-def]
    from postdesk.core import conversations

    with store.session() as s:
        domain_id = s.query(DedicatedDomain).filter_by(name="shop.test").one().id
        return conversations.file_inbound(
            s,
            domain_id=domain_id,
            raw=raw,
            mail_from=sender,
            rcpt_tos=[to],
            remote_ip="192.0.2.7",
            helo="mx.client.test",
            verdicts={},
            auth_results="",
            direction=direction,
        )


def test_a_reply_in_a_conversation_is_shown_as_sent_not_received(workspace, store) -> None:  # type: ignore[no-untyped-def]
    question = (
        b"From: carol@client.test\r\nTo: hello@shop.test\r\nSubject: Where is my order?\r\n"
        b"Message-ID: <q1@client.test>\r\n\r\nHi shop.\r\n"
    )
    answer = (
        b"From: hello@shop.test\r\nTo: carol@client.test\r\nSubject: Re: Where is my order?\r\n"
        b"Message-ID: <a1@shop.test>\r\nIn-Reply-To: <q1@client.test>\r\n\r\nTomorrow.\r\n"
    )
    _filed(store, question, "carol@client.test", "hello@shop.test", "in")
    _filed(store, answer, "hello@shop.test", "carol@client.test", "out")
    thread = json.loads(ok("conversations", "list", "--json"))[0]["id"]
    heads = [line for line in ok("conversations", "show", str(thread)).splitlines() if
             line.startswith("Message ")]  # fmt: skip
    assert len(heads) == 2
    assert "received" in heads[0] and "sent" not in heads[0]
    assert "sent from Postdesk" in heads[1] and "received" not in heads[1]
    listed = ok("conversations", "list").splitlines()[1].split()
    assert listed[4] == "carol@client.test", "listed under the customer, not the reply's sender"
    assert json.loads(ok("conversations", "list", "--json"))[0]["correspondent"] == (
        "carol@client.test"
    )


@pytest.mark.parametrize("argv", [["settings"], ["suppress", "list", "--json"]])
def test_a_reader_that_stops_early_gets_no_error_about_files(workspace, argv) -> None:  # type: ignore[no-untyped-def]
    """`postdesk … | head`: the reader leaves before the output is written."""
    process = subprocess.Popen(
        [sys.executable, "-m", "postdesk", *argv],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # closed before the command has started: every write fails
    errors = process.stderr.read()
    process.wait(120)
    assert errors == ""
    assert process.returncode == 1


def test_dmarc_sources_for_a_period_without_reports_points_at_the_newest(workspace) -> None:
    report = Path(__file__).parents[1] / "fixtures" / "dmarc" / "outlook.xml"  # March 2024
    ok("dmarc", "import", str(report))
    said = ok("dmarc", "sources", "example.com", "--no-rdns")
    assert "the newest covers 2024-03-31" in said
    back = re.search(r"postdesk dmarc sources example\.com --days (\d+)", said)
    assert back is not None, said
    shown = ok("dmarc", "sources", "example.com", "--no-rdns", "--days", back[1])
    assert shown.startswith("example.com: 1 message in 1 report")
    assert "100.24.188.149" in shown


def test_removing_an_address_listed_for_one_domain_says_how(workspace) -> None:
    ok("suppress", "add", "fan@client.test", "--reason", "unsubscribe", "--domain", "shop.test")
    done = postdesk("suppress", "remove", "fan@client.test")
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "is suppressed for mail from shop.test, not for every domain" in done.stderr
    assert "postdesk suppress remove fan@client.test --domain shop.test" in done.stderr
    assert "fan@client.test" in ok("suppress", "list")  # still there: nothing was removed
    ok("suppress", "remove", "fan@client.test", "--domain", "shop.test")
    assert "No suppressed addresses." in ok("suppress", "list")


def test_an_empty_conversation_list_says_how_to_receive_mail(workspace, store) -> None:  # type: ignore[no-untyped-def]
    said = ok("conversations", "list")
    assert "postdesk domain reception DOMAIN --on" in said
    said = ok("conversations", "list", "--domain", "shop.test")
    assert "shop.test does not receive mail yet" in said
    assert "postdesk domain reception shop.test --on" in said
    with store.session() as s:
        s.query(DedicatedDomain).filter_by(name="shop.test").one().reception = True
    assert ok("conversations", "list").strip() == "No conversations yet."


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["conversations", "show", "abc"], "the ID column of 'postdesk conversations list'"),
        (["conversations", "search", " "], "type a word to look for"),
    ],
)
def test_conversation_argument_mistakes_say_what_to_type(workspace, argv, says) -> None:  # type: ignore[no-untyped-def]
    done = postdesk(*argv)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert says in done.stderr


def test_one_click_unsubscribe_says_when_it_cannot_apply_yet(workspace, store) -> None:  # type: ignore[no-untyped-def]
    said = ok("domain", "unsubscribe", "shop.test", "--on")
    assert "carries no unsubscribe headers yet" in said
    assert "postdesk settings tracking_target HOST" in said
    assert "postdesk domain verify shop.test" in said
    with store.session() as s:
        domain_id = s.query(DedicatedDomain).filter_by(name="shop.test").one().id
        s.add(
            DomainRecord(
                domain_id=domain_id,
                kind="tracking",
                type="CNAME",
                host="track.shop.test",
                value="track.postdesk.example",
                required=False,
                status="ok",
            )
        )
    said = ok("domain", "unsubscribe", "shop.test")
    assert "carries one-click unsubscribe headers, signed with DKIM" in said
    assert "yet" not in said
