"""The suppression list: who is on it and why, the hard-bounce rule, removal audited, CSV."""

from __future__ import annotations

import csv
import io

import pytest

from postdesk.core import audit, settings, suppression
from postdesk.core.errors import UserError
from postdesk.core.relay import queue
from postdesk.core.store.models import DedicatedDomain, MessageRecipient
from support.workspace import add_verified_domain


def _message(store, to: str, bounce_class: str | None = None) -> int:  # type: ignore[no-untyped-def]
    """A queued message to ``to``; with a class, that recipient is recorded as bounced."""
    with store.session() as s:
        domain_id = s.query(DedicatedDomain).one().id
        row = queue.enqueue(
            s,
            domain_id=domain_id,
            smtp_user_id=None,
            mail_from="shop@example.com",
            rcpt_tos=[to],
            raw=b"From: shop@example.com\r\n\r\nhello\r\n",
            subject="order",
        )
        if bounce_class:
            s.add(
                MessageRecipient(
                    message_id=row.id, address=to, status="bounced", bounce_class=bounce_class
                )
            )
        return row.id


def test_an_address_is_suppressed_case_blind_for_every_domain_or_one(store) -> None:
    with store.session() as s:
        assert suppression.suppress(s, "Ann@Client.TEST", "complaint", detail="marked as spam")
        assert not suppression.suppress(s, "ann@client.test", "manual")  # first reason stays
        assert suppression.suppress(s, "bob@client.test", "unsubscribe", scope="shop.example")
    with store.session() as s:
        entry = suppression.is_suppressed(s, "<ANN@client.test>", "other.example")
        assert entry is not None and entry.reason == "complaint"
        assert entry.describe().startswith("spam complaint on ")
        assert entry.describe().endswith(": marked as spam")
        assert suppression.is_suppressed(s, "bob@client.test", "shop.example") is not None
        assert suppression.is_suppressed(s, "bob@client.test", "other.example") is None
        assert suppression.is_suppressed(s, "carl@client.test", "shop.example") is None


def test_a_bad_address_or_reason_is_refused_with_a_clear_message(store) -> None:
    with store.session() as s, pytest.raises(UserError) as err:
        suppression.suppress(s, "not-an-address", "manual")
    assert err.value.code == "email.missing_at"
    with store.session() as s, pytest.raises(UserError) as err:
        suppression.suppress(s, "a@client.test", "because")
    assert "hard_bounce" in err.value.hint


def test_soft_bounces_never_suppress_and_hard_ones_after_the_setting(store) -> None:
    add_verified_domain(store)
    with store.session() as s:
        settings.change(s, "suppress_after_hard_bounces", 2)
    first = _message(store, "gone@client.test", "hard.unknown_user")
    with store.session() as s:
        assert not suppression.after_bounce(s, "gone@client.test", "soft.mailbox_full")
        assert not suppression.after_bounce(
            s, "gone@client.test", "hard.unknown_user", message_id=first
        )  # one of two
        # A policy refusal is about the sender, not the address.
        assert not suppression.after_bounce(s, "gone@client.test", "hard.policy")
    second = _message(store, "gone@client.test", "hard.unknown_user")
    with store.session() as s:
        assert suppression.after_bounce(
            s,
            "gone@client.test",
            "hard.unknown_user",
            detail="550 5.1.1 no such user",
            message_id=second,
        )
    with store.session() as s:
        entry = suppression.is_suppressed(s, "gone@client.test", "shop.example")
        assert entry is not None and entry.reason == "hard_bounce"
        assert entry.message_id == second


def test_the_first_hard_bounce_suppresses_by_default(store) -> None:
    add_verified_domain(store)
    message_id = _message(store, "x@client.test")
    with store.session() as s:
        assert suppression.after_bounce(
            s, "x@client.test", "hard.unknown_domain", message_id=message_id
        )


def test_removing_is_audited_and_the_history_stays_findable(store) -> None:
    assert suppression.add(store, "ann@client.test", note="asked by phone", by="cli")
    assert suppression.remove(store, "ANN@client.test", by="cli")
    assert not suppression.remove(store, "ann@client.test", by="cli")
    assert suppression.list_entries(store) == []
    with store.session() as s:
        (removed,) = [e for e in audit.recent(s) if e.action == "suppression.removed"]
        assert removed.subject == "ann@client.test"
        assert removed.detail["reason"] == "manual"
        assert removed.detail["detail"] == "asked by phone"
        assert removed.detail["by"] == "cli"


def test_list_filters_by_reason_and_part_of_the_address(store) -> None:
    with store.session() as s:
        suppression.suppress(s, "ann@client.test", "complaint")
        suppression.suppress(s, "bob@other.test", "manual")
        suppression.suppress(s, "a_b@client.test", "manual")
    assert [e.address for e in suppression.list_entries(store, reason="complaint")] == [
        "ann@client.test"
    ]
    assert {e.address for e in suppression.list_entries(store, search="CLIENT")} == {
        "ann@client.test",
        "a_b@client.test",
    }
    # The underscore is a character, not a wildcard.
    assert [e.address for e in suppression.list_entries(store, search="a_b")] == ["a_b@client.test"]


def test_csv_import_keeps_good_lines_reports_bad_ones_and_round_trips(store) -> None:
    text = (
        "address,reason,detail\n"
        "ann@client.test,complaint,via feedback loop\n"
        "not an address\n"
        "bob@client.test\n"
        "carl@client.test,whatever\n"
        "\n"
        "ann@client.test,manual\n"
    )
    result = suppression.import_csv(store, text, by="cli")
    assert result.added == 2 and result.already == 1
    assert [number for number, _ in result.problems] == [3, 5]
    assert "whatever" in result.problems[1][1]

    with store.session() as s:
        suppression.suppress(s, "dan@client.test", "unsubscribe", scope="shop.example")
    exported = suppression.export_csv(store)
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [r["address"] for r in rows] == ["ann@client.test", "bob@client.test", "dan@client.test"]
    assert rows[0]["reason"] == "complaint" and rows[0]["detail"] == "via feedback loop"

    for entry in suppression.list_entries(store):
        suppression.remove(store, entry.address, entry.scope, by="test")
    again = suppression.import_csv(store, exported, by="cli")
    assert (again.added, again.problems) == (3, [])
    with store.session() as s:
        dan = suppression.is_suppressed(s, "dan@client.test", "shop.example")
        assert dan is not None and dan.reason == "unsubscribe" and dan.scope == "shop.example"
        assert suppression.is_suppressed(s, "dan@client.test", "other.example") is None
