"""``postdesk activity`` on a workspace with mail in it, through the real CLI in a subprocess."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from postdesk.core import activity
from postdesk.core.relay import queue
from postdesk.core.store.models import DedicatedDomain
from support.cli import ok, postdesk
from support.workspace import add_verified_domain

DAY = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def mail(store) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """An order confirmation handed over, and a newsletter that bounced for one reader."""
    add_verified_domain(store, "shop.test")
    made: dict[str, int] = {}
    with store.session() as s:
        domain_id = s.query(DedicatedDomain).one().id
        for name, rcpts, subject, at in (
            ("order", ["ann@client.test"], "Your order 1001", DAY),
            (
                "news",
                ["bob@client.test", "cy@client.test"],
                "November news",
                DAY + dt.timedelta(days=1),
            ),
        ):
            row = queue.enqueue(
                s,
                domain_id=domain_id,
                smtp_user_id=None,
                mail_from="orders@shop.test",
                rcpt_tos=rcpts,
                subject=subject,
                message_id=f"<{name}@shop.test>",
                raw=(
                    f"From: orders@shop.test\r\nSubject: {subject}\r\n"
                    f"Message-ID: <{name}@shop.test>\r\n\r\nHello\r\n"
                ).encode(),
                now=at,
            )
            activity.add_recipients(s, row.id, rcpts)
            activity.record_event(s, row.id, "accepted", detail="from orders@shop.test", at=at)
            for rcpt in rcpts:
                activity.record_event(
                    s,
                    row.id,
                    "handed_over",
                    recipient=rcpt,
                    detail="250 2.0.0 Ok: queued as ABC",
                    at=at,
                )
                activity.set_recipient_status(s, row.id, rcpt, "sent")
            made[name] = row.id
        activity.record_bounce(
            s,
            made["news"],
            "cy@client.test",
            "hard.unknown_user",
            "550 5.1.1 <cy@client.test>: User unknown",
            source="dsn",
        )
    return made  # fmt: skip


def test_the_list_shows_newest_first_with_status_and_class(mail) -> None:
    lines = ok("activity").splitlines()
    assert lines[0].split()[:3] == ["ID", "TIME", "(UTC)"]
    assert "November news" in lines[1] and "sent/bounced" in lines[1]
    assert "hard.unknown_user" in lines[1] and "bob@client.test +1" in lines[1]
    assert "Your order 1001" in lines[2] and "2026-11-20 09:30" in lines[2]


def test_filters_and_json(mail) -> None:
    found = json.loads(ok("activity", "--to", "cy@client.test", "--json"))
    assert [m["id"] for m in found] == [mail["news"]]
    assert found[0]["recipients"][1] == {
        "address": "cy@client.test",
        "status": "bounced",
        "bounce_class": "hard.unknown_user",
        "reason": "550 5.1.1 <cy@client.test>: User unknown",
    }
    day = json.loads(ok("activity", "--since", "2026-11-20", "--until", "2026-11-20", "--json"))
    assert [m["subject"] for m in day] == ["Your order 1001"]
    bounced = json.loads(ok("activity", "--status", "bounced", "--domain", "shop.test", "--json"))
    assert [m["id"] for m in bounced] == [mail["news"]]
    assert "No messages match." in ok("activity", "--subject", "nothing like this")


def test_show_by_number_or_message_id(mail) -> None:
    text = ok("activity", "show", str(mail["news"]))
    assert "November news" in text and "hard.unknown_user" in text
    assert "Subject: November news" in text  # the headers
    events = [line.split()[2] for line in text.splitlines() if line.startswith("2026-")]
    assert events == ["accepted", "handed_over", "handed_over", "bounced"]
    shown = json.loads(ok("activity", "show", "<order@shop.test>", "--json"))
    assert shown["id"] == mail["order"]
    assert [e["kind"] for e in shown["timeline"]] == ["accepted", "handed_over"]
    assert ["Message-ID", "<order@shop.test>"] in shown["headers"]


def test_show_prints_the_whole_upstream_reply(store, mail) -> None:  # type: ignore[no-untyped-def]
    """Support pastes the provider's refusal into a ticket: it is never cut to fit a column."""
    reply = (
        "550-5.1.1 The email account that you tried to reach does not exist. Please try "
        "double-checking the recipient's email address for typos or unnecessary spaces. "
        "For more information, go to https://support.google.com/mail/?p=NoSuchUser gsmtp"
    )
    with store.session() as s:
        activity.record_bounce(s, mail["order"], "ann@client.test", "hard.unknown_user", reply)
    text = ok("activity", "show", str(mail["order"]))
    assert "…" not in text
    assert reply in " ".join(text.split())
    assert max(len(line) for line in text.splitlines()) <= 100


@pytest.mark.parametrize(
    ("argv", "code", "says"),
    [
        (["--since", "last tuesday"], 2, "2026-11-29"),
        (["--status", "lost"], 2, "bounced"),
        (["--limit", "0"], 2, "--limit 100"),
        (["show"], 2, "activity show ID"),
        (["show", "999"], 1, "postdesk activity"),
        (["--domain", "nowhere.test"], 1, "domain list"),
    ],
)
def test_mistakes_are_one_line_saying_what_to_type(mail, argv, code, says) -> None:
    done = postdesk("activity", *argv)
    assert done.returncode == code
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and says in done.stderr, done.stderr
