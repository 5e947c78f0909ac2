"""Verified provider events folded into a message's timeline, its recipients' statuses and the
suppression list; a replayed request changes nothing; events about other mail are counted."""

from __future__ import annotations

import datetime as dt
import json
import secrets

import pytest

from fixtures.webhooks.signing import sample
from postdesk.core import activity, suppression
from postdesk.core.domains import get_domain
from postdesk.core.store.models import QueuedMessage, WebhookEvent
from postdesk.core.webhooks import mailgun, sendgrid, sns
from postdesk.core.webhooks.events import ProviderEvent, Refused
from postdesk.core.webhooks.fold import fold
from postdesk.core.webhooks.urls import webhook_status
from support.workspace import add_verified_domain

MID = "<order-1@example.com>"
TO = "customer@client.test"


def _queued(store, message_id: str = MID, to: str = TO) -> int:  # type: ignore[no-untyped-def]
    """A message the relay sent (as its queue and the activity record it)."""
    with store.session() as s:
        domain = get_domain(s, "example.com")
        row = QueuedMessage(
            domain_id=domain.id,
            mail_from="shop@example.com",
            rcpt_tos=[to],
            subject="Order confirmation",
            message_id_header=message_id,
            raw=b"x",
            size=1,
            status="sent",
            tracking_token=secrets.token_hex(8),
            tracking_key="k",
        )
        s.add(row)
        s.flush()
        activity.add_recipients(s, row.id, [to])
        return row.id


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, postdesk_home, monkeypatch):  # type: ignore[no-untyped-def]
    """The workspace on SQLite and on PostgreSQL (a shared workspace takes events too)."""
    from postdesk.core.store import open_store

    if request.param == "postgres":
        monkeypatch.setenv("POSTDESK_DATABASE_URL", request.getfixturevalue("postgres_url"))
    opened = open_store()
    yield opened
    opened.close()


@pytest.fixture
def sent(store) -> int:  # type: ignore[no-untyped-def]
    add_verified_domain(store)
    return _queued(store)


def _fold(store, provider: str, events: list[ProviderEvent], once: str | None = None):  # type: ignore[no-untyped-def]
    with store.session() as s:
        return fold(s, provider, events, once=once)


def _suppressed(store, address: str = TO):  # type: ignore[no-untyped-def]
    with store.session() as s:
        return suppression.is_suppressed(s, address, "example.com")


def test_sendgrid_events_make_the_timeline_and_a_complaint_suppresses(store, sent):
    body = json.dumps(sample("sendgrid_events.json", to=TO, message_id=MID)).encode()
    result = _fold(store, "sendgrid", sendgrid.parse(body))
    assert (result.taken, result.matched, result.unmatched) == (4, 3, 0)
    detail = activity.message_detail(store, sent)
    steps = [(t.kind, t.source, t.recipient) for t in detail.timeline if t.source == "sendgrid"]
    assert steps == [
        ("delivered", "sendgrid", TO),
        ("opened", "sendgrid", TO),
        ("complained", "sendgrid", TO),
    ]
    assert detail.provider_message_id == "14c5d75ce93.dfd.64b469"
    (recipient,) = detail.row.recipients
    assert recipient.status == "complained"
    entry = _suppressed(store)
    assert entry is not None and entry.reason == "complaint" and entry.message_id == sent


def test_a_hard_bounce_suppresses_and_a_deferral_does_not(store, sent):
    other = _queued(store, "<order-2@example.com>", "late@client.test")
    body = json.dumps(sample("sendgrid_bounce.json", to=TO, message_id=MID)).encode()
    bounce, deferred, _blocked = sendgrid.parse(body)
    deferred = ProviderEvent(
        **{
            **deferred.__dict__,
            "recipient": "late@client.test",
            "message_id_header": "<order-2@example.com>",
            "provider_message_id": None,
        }
    )
    _fold(store, "sendgrid", [bounce, deferred])
    detail = activity.message_detail(store, sent)
    (recipient,) = detail.row.recipients
    assert (recipient.status, recipient.bounce_class) == ("bounced", "hard.unknown_user")
    assert _suppressed(store).reason == "hard_bounce"  # type: ignore[union-attr]
    (late,) = activity.message_detail(store, other).row.recipients
    assert (late.status, late.bounce_class) == ("deferred", "soft.rate_limited")
    assert _suppressed(store, "late@client.test") is None


@pytest.mark.keyring
def test_a_replayed_request_is_refused_and_changes_nothing(store, sent, secret_service):
    body = json.dumps(sample("sendgrid_events.json", to=TO, message_id=MID)).encode()
    _fold(store, "sendgrid", sendgrid.parse(body))
    before = len(activity.message_detail(store, sent).timeline)
    with pytest.raises(Refused) as caught:
        _fold(store, "sendgrid", sendgrid.parse(body))
    assert caught.value.status == 409
    assert len(activity.message_detail(store, sent).timeline) == before
    (sendgrid_info,) = [i for i in webhook_status(store) if i.provider == "sendgrid"]
    assert sendgrid_info.received == 4


def test_a_reused_mailgun_token_is_refused_even_under_a_new_event_id(store, sent):
    data = sample("mailgun_failed.json", to=TO, message_id_bare="order-1@example.com")
    (event,) = mailgun.parse({"event-data": data})
    _fold(store, "mailgun", [event], once="tok-1")
    renamed = ProviderEvent(**{**event.__dict__, "event_id": "another-id"})
    with pytest.raises(Refused):
        _fold(store, "mailgun", [renamed], once="tok-1")
    with store.session() as s:
        assert s.query(WebhookEvent).filter_by(event_id="another-id").count() == 0
    assert _suppressed(store).reason == "hard_bounce"  # type: ignore[union-attr]


def test_ses_events_match_by_the_ses_id_or_the_message_id(store, sent):
    event = sample("ses_complaint.json", to=TO, message_id="<unknown@x>", provider_id="0100ab")
    with store.session() as s:
        s.get(QueuedMessage, sent).provider_message_id = "0100ab"
    (complaint,) = sns.parse_ses({"MessageId": "sns-1", "Message": json.dumps(event)})
    assert _fold(store, "ses", [complaint]).matched == 1
    assert _suppressed(store).reason == "complaint"  # type: ignore[union-attr]


@pytest.mark.keyring
def test_events_about_other_mail_are_counted_not_applied(store, sent, secret_service):
    stranger = ProviderEvent(
        provider="postmark",
        event_id="Bounce:1",
        kind="complained",
        recipient="x@client.test",
        message_id_header=None,
        provider_message_id="not-ours",
        at=dt.datetime.now(dt.UTC),
    )
    result = _fold(store, "postmark", [stranger])
    assert (result.matched, result.unmatched) == (0, 1)
    assert _suppressed(store, "x@client.test") is None
    (info,) = [i for i in webhook_status(store) if i.provider == "postmark"]
    assert (info.received, info.unmatched) == (1, 1)
    assert info.last_event_at is not None


def test_the_same_request_delivered_at_once_is_taken_in_once(store, sent):
    from concurrent.futures import ThreadPoolExecutor

    from postdesk.core.webhooks.receive import _fold as fold_request

    body = json.dumps(sample("sendgrid_events.json", to=TO, message_id=MID)).encode()

    def deliver(_: int) -> object:
        try:
            return fold_request(store, "sendgrid", sendgrid.parse(body), None)
        except Refused as refused:
            return refused.status

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(deliver, range(4)))
    taken = [o for o in outcomes if not isinstance(o, int)]
    assert len(taken) == 1
    assert all(o in (409, 503) for o in outcomes if isinstance(o, int))
    steps = [t for t in activity.message_detail(store, sent).timeline if t.source == "sendgrid"]
    assert len(steps) == 3
