"""Message activity in the store: timelines, recipients' statuses, search, DSNs, provider ids."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from postdesk.core import activity
from postdesk.core.activity import ActivityQuery
from postdesk.core.errors import UserError
from postdesk.core.relay import queue
from postdesk.core.store import open_store
from postdesk.core.store.models import DedicatedDomain, QueuedMessage, utcnow
from support.workspace import add_verified_domain

DSN = Path(__file__).resolve().parents[1] / "fixtures" / "dsn"


def _message(
    store,
    rcpts,
    *,
    subject="Your order 1001",
    message_id="<order-1001@shop.test>",
    sender="orders@shop.test",
    at=None,
):  # type: ignore[no-untyped-def]
    with store.session() as s:
        domain_id = s.query(DedicatedDomain).filter_by(name="shop.test").one().id
        raw = (
            f"From: Shop <{sender}>\r\nTo: {', '.join(rcpts)}\r\nSubject: {subject}\r\n"
            f"Message-ID: {message_id}\r\n\r\nThank you.\r\n"
        ).encode()
        row = queue.enqueue(
            s,
            domain_id=domain_id,
            smtp_user_id=None,
            mail_from=sender,
            rcpt_tos=rcpts,
            raw=raw,
            subject=subject,
            message_id=message_id,
        )
        if at is not None:
            row.accepted_at = at
        s.flush()
        activity.add_recipients(s, row.id, rcpts)
        activity.record_event(s, row.id, "accepted", detail=f"from {sender}", at=at)
        return row.id


@pytest.fixture(params=["sqlite", "postgres"])
def shop(request, postdesk_home, monkeypatch):  # type: ignore[no-untyped-def]
    """A workspace with a verified domain, on SQLite and on a real PostgreSQL server."""
    if request.param == "postgres":
        monkeypatch.setenv("POSTDESK_DATABASE_URL", request.getfixturevalue("postgres_url"))
    store = open_store()
    add_verified_domain(store, "shop.test")
    yield store
    store.close()


# Acceptance replies as providers word them, and the id each names.
PROVIDER_REPLIES = [
    ("2.0.0 Ok: queued as 4B5C21F8A3", "4B5C21F8A3"),  # Postfix
    ("Ok: queued as lCSA3tWqRzWdf-6I1UvW8g", "lCSA3tWqRzWdf-6I1UvW8g"),  # SendGrid
    ("OK id=1tLcH5-0000Ab-2x", "1tLcH5-0000Ab-2x"),  # Exim / Mailgun
    ("Great success", None),  # Mailgun names no id
    (
        "Ok 0100018b9f3c4d5e-6f7a8b9c-1111-2222-3333-444455556666-000000",
        "0100018b9f3c4d5e-6f7a8b9c-1111-2222-3333-444455556666-000000",
    ),  # Amazon SES
    (
        "2.0.0 Ok: queued as 0a1b2c3d-4e5f-6789-abcd-ef0123456789",
        "0a1b2c3d-4e5f-6789-abcd-ef0123456789",
    ),  # Postmark
    (
        "2.6.0 <AM0PR01MB1234ABCD@AM0PR01MB1234.eurprd01.prod.exchangelabs.com> "
        "[InternalId=12345678901234, Hostname=AM0PR01MB1234.eurprd01.prod.exchangelabs.com] "
        "1543 bytes in 0.084, 17.936 KB/sec Queued mail for delivery",
        "AM0PR01MB1234ABCD@AM0PR01MB1234.eurprd01.prod.exchangelabs.com",
    ),  # Microsoft 365
    (
        "2.0.0 OK  1700000000 d9443c01a7336-1cc5e9f3sm12345pll.42 - gsmtp",
        "d9443c01a7336-1cc5e9f3sm12345pll.42",
    ),  # Google Workspace
    (
        "2.0.0 OK: queued as <202611291010.12345678@smtp-relay.brevo.com>",
        "202611291010.12345678@smtp-relay.brevo.com",
    ),  # Brevo
    ("2.0.0 Ok", None),
    ("", None),
]


@pytest.mark.parametrize(("reply", "expected"), PROVIDER_REPLIES)
def test_the_providers_id_is_read_from_its_acceptance_reply(reply, expected) -> None:
    assert activity.provider_message_id(reply) == expected


def test_a_timeline_reads_in_the_order_things_happened(shop) -> None:
    mid = _message(shop, ["Ann@Client.test", "bob@client.test"])
    later = utcnow() + dt.timedelta(seconds=5)
    with shop.session() as s:
        activity.record_event(
            s,
            mid,
            "handed_over",
            recipient="ann@client.test",
            detail="250 Ok: queued as ABC",
            at=later,
        )
        activity.set_recipient_status(s, mid, "ann@client.test", "sent")
        activity.record_bounce(
            s,
            mid,
            "bob@client.test",
            "hard.unknown_user",
            "550 5.1.1 no such user",
            source="upstream",
        )
    detail = activity.message_detail(shop, mid)
    assert [e.kind for e in detail.timeline] == ["accepted", "bounced", "handed_over"]
    statuses = {r.address: (r.status, r.bounce_class) for r in detail.row.recipients}
    assert statuses == {
        "ann@client.test": ("sent", None),
        "bob@client.test": ("bounced", "hard.unknown_user"),
    }
    assert detail.row.status == "sent/bounced"
    assert detail.row.bounce_class == "hard.unknown_user"
    assert ("Subject", "Your order 1001") in detail.headers


def test_a_message_is_found_by_number_message_id_or_provider_id(shop) -> None:
    mid = _message(shop, ["ann@client.test"])
    with shop.session() as s:
        s.get(QueuedMessage, mid).provider_message_id = "ABC123"
    with shop.session() as s:
        assert activity.find_message(s, message_id_header="order-1001@shop.test") == mid
        assert activity.find_message(s, provider_message_id="ABC123") == mid
        assert activity.find_message(s, message_id_header="<other@shop.test>") is None
    for key in (mid, str(mid), "<order-1001@shop.test>", "order-1001@shop.test", "ABC123"):
        assert activity.message_detail(shop, key).row.id == mid
    with pytest.raises(UserError) as raised:
        activity.message_detail(shop, "<nothing@shop.test>")
    assert raised.value.code == "activity.not_found"


def test_search_filters_and_orders_newest_first(shop) -> None:
    day = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
    a = _message(shop, ["ann@gmail.test"], subject="Order 1", message_id="<1@s>", at=day)
    b = _message(
        shop,
        ["bob@client.test"],
        subject="Receipt",
        message_id="<2@s>",
        at=day + dt.timedelta(days=1),
    )
    c = _message(
        shop,
        ["ann@gmail.test", "cy@client.test"],
        subject="Order 2",
        message_id="<3@s>",
        sender="news@shop.test",
        at=day + dt.timedelta(days=2),
    )
    with shop.session() as s:
        activity.record_bounce(s, b, "bob@client.test", "hard.unknown_user", "550 5.1.1")

    def ids(**kw):  # type: ignore[no-untyped-def]
        return [r.id for r in activity.search(shop, ActivityQuery(**kw))]

    assert ids() == [c, b, a]
    assert ids(recipient="ann@gmail.test") == [c, a]
    assert ids(recipient="ANN@gmail.test") == [c, a]
    assert ids(recipient="ann@gmail") == [c, a]  # a part of an address: substring
    assert ids(recipient="@client.test") == [c, b]
    assert ids(recipient="nn@gmail.test") == []  # a whole address: exact
    assert ids(sender="news@shop.test") == [c]
    assert ids(subject="order") == [c, a]
    assert ids(message_id="2@s") == [b]
    assert ids(status="bounced") == [b]
    assert ids(status="pending") == [c, a]
    assert ids(since=day + dt.timedelta(hours=1), until=day + dt.timedelta(days=2)) == [b]
    assert ids(domain="shop.test", limit=1, offset=1) == [b]
    with pytest.raises(UserError) as raised:
        ids(domain="other.test")
    assert raised.value.code == "activity.unknown_domain"
    with pytest.raises(UserError) as raised:
        ids(status="lost")
    assert "delivered" in raised.value.hint


@pytest.mark.parametrize(
    ("sample", "message_id", "recipient", "kind", "klass", "status"),
    [
        (
            "postfix-unknown-user.eml",
            "<order-1001@shop.test>",
            "nobody@example.org",
            "bounced",
            "hard.unknown_user",
            "bounced",
        ),
        (
            "postfix-delayed-greylist.eml",
            "<order-1002@shop.test>",
            None,
            "deferred",
            "soft.greylisted",
            "deferred",
        ),
        (
            "exim-classic-text.eml",
            "<order-1004@shop.test>",
            "ghost@example.net",
            "bounced",
            "hard.unknown_user",
            "bounced",
        ),
    ],
)
def test_a_delivery_status_notification_lands_on_its_message(
    shop, sample, message_id, recipient, kind, klass, status
) -> None:
    raw = (DSN / sample).read_bytes()
    from postdesk.core.bounces import parse_dsn

    parsed = parse_dsn(raw)
    assert parsed is not None
    recipient = recipient or parsed.recipients[0].recipient
    mid = _message(shop, [recipient], message_id=message_id)
    with shop.session() as s:
        assert activity.apply_dsn(s, raw) is True
    detail = activity.message_detail(shop, mid)
    last = detail.timeline[-1]
    assert (last.kind, last.recipient, last.source, last.bounce_class) == (
        kind,
        recipient,
        "dsn",
        klass,
    )
    assert detail.row.recipients[0].status == status


def test_a_notification_about_mail_postdesk_did_not_send_changes_nothing(shop) -> None:
    mid = _message(shop, ["someone@example.org"], message_id="<unrelated@shop.test>")
    with shop.session() as s:
        assert activity.apply_dsn(s, (DSN / "postfix-unknown-user.eml").read_bytes()) is False
        assert (
            activity.apply_dsn(s, b"From: a@b\r\nSubject: hello\r\n\r\nnot a bounce\r\n") is False
        )
    assert [e.kind for e in activity.message_detail(shop, mid).timeline] == ["accepted"]


def test_an_open_and_a_click_show_once_in_the_timeline(shop) -> None:
    from postdesk.core.relay import tracker
    from postdesk.core.relay.rewrite import url_signature

    mid = _message(shop, ["ann@client.test"])
    with shop.session() as s:
        row = s.get(QueuedMessage, mid)
        token, key = row.tracking_token, row.tracking_key
    assert tracker.record_open(shop, token, "192.0.2.7")
    url = "https://shop.test/orders/1001"
    assert tracker.record_click(shop, token, url, url_signature(key, url), "192.0.2.7")
    timeline = activity.message_detail(shop, mid).timeline
    assert [(e.kind, e.source) for e in timeline] == [
        ("accepted", "relay"),
        ("opened", "tracking"),
        ("clicked", "tracking"),
    ]
    assert timeline[-1].detail == url
    assert [r.id for r in activity.search(shop, ActivityQuery(status="clicked"))] == [mid]


def test_the_critical_mark_is_taken_out_of_the_message_folded_or_not() -> None:
    from postdesk.core.relay import headers
    from postdesk.core.relay.accept import take_critical

    raw = (
        b"From: shop@shop.test\r\nX-Postdesk-Critical:\r\n 1\r\nSubject: Your order\r\n"
        b"\r\nHello\r\n"
    )
    block, critical = take_critical(headers.read(raw))
    assert critical
    assert block.head_crlf() == b"From: shop@shop.test\r\nSubject: Your order\r\n"
    plain, critical = take_critical(headers.read(b"From: shop@shop.test\r\n\r\nHello\r\n"))
    assert not critical and plain.head_crlf() == b"From: shop@shop.test\r\n"
