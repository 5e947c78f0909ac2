"""The daily limit: arithmetic at the edges, the UTC day, and the automatic deletion rule."""

from __future__ import annotations

import datetime as dt

import keyring
import pytest
from sqlalchemy import select

from postdesk.core import credentials, secrets, usage
from postdesk.core.store.models import AuditEvent, SmtpUser
from support.workspace import add_verified_domain

NOON = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("sent", "level", "remaining"),
    [
        (1199, "normal", 301),
        (1200, "warning", 300),
        (1425, "critical", 75),
        (1500, "limit", 0),
        (1501, "exceeded", 0),
    ],
)
def test_levels_and_remaining_at_the_edges(store, sent, level, remaining) -> None:
    usage.record_sent(store, recipients=sent, service_id=None, at=NOON)
    today = usage.today(store, NOON)
    assert (today.sent, today.level, today.remaining) == (sent, level, remaining)


def test_each_recipient_counts_and_the_day_is_utc(store) -> None:
    late = dt.datetime(2026, 3, 10, 23, 59, 59, tzinfo=dt.UTC)
    usage.record_sent(store, recipients=3, at=late)
    # 01:00 in Berlin on the 11th is still the 10th in UTC
    berlin = dt.timezone(dt.timedelta(hours=1))
    usage.record_sent(store, recipients=2, at=dt.datetime(2026, 3, 11, 0, 30, tzinfo=berlin))
    usage.record_sent(store, recipients=4, at=dt.datetime(2026, 3, 11, 0, 0, tzinfo=dt.UTC))
    assert usage.today(store, late).sent == 5
    assert usage.today(store, late + dt.timedelta(seconds=1)).sent == 4
    assert usage.next_reset(late) == dt.datetime(2026, 3, 11, tzinfo=dt.UTC)


def test_exceeding_the_limit_deletes_every_credential_but_keeps_history(store, secret_service):
    add_verified_domain(store, "a.example")
    add_verified_domain(store, "b.example")
    made = [
        credentials.create_smtp_user(store, "a.example", "shop"),
        credentials.create_smtp_user(store, "b.example", "crm"),
    ]
    users = credentials.list_smtp_users(store, "a.example") + credentials.list_smtp_users(
        store, "b.example"
    )
    with store.session() as s:
        refs = [s.get_one(SmtpUser, u.id).secret_ref for u in users]
    shop = users[0]

    first = usage.record_sent(
        store, recipients=1500, smtp_user_id=shop.id, domain_id=shop.domain_id, at=NOON
    )
    assert first.enforced is None and first.today.level == "limit"
    assert len(credentials.list_smtp_users(store, "a.example")) == 1

    over = usage.record_sent(
        store, recipients=1, smtp_user_id=shop.id, domain_id=shop.domain_id, at=NOON
    )
    assert over.enforced is not None
    assert over.enforced.sent == 1501
    assert sorted(over.enforced.deleted) == ["crm@b.example", "shop@a.example"]
    assert credentials.list_smtp_users(store, "a.example") == []
    for ref in refs:
        assert keyring.get_password(secrets.SERVICE, ref) is None
    with store.session() as s:
        assert credentials.authenticate(s, made[0].username, made[0].password) is None
        kept = s.scalars(select(SmtpUser)).all()
        assert {u.deleted_reason for u in kept} == {"daily_limit"}
        event = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "usage.limit_exceeded")
        ).one()
        assert event.detail["sent"] == 1501
    assert (
        usage.sender_stats(store, smtp_user_id=shop.id, at=NOON).today == 1501
    )  # statistics remain


def test_series_fills_missing_days_with_zero_and_exports_csv(store) -> None:
    usage.record_sent(store, recipients=7, at=NOON - dt.timedelta(days=2))
    usage.record_sent(store, recipients=5, at=NOON)
    series = usage.daily_series(store, 3, end=NOON.date())
    assert series == [(dt.date(2026, 3, 8), 7), (dt.date(2026, 3, 9), 0), (dt.date(2026, 3, 10), 5)]
    assert usage.series_csv(series).splitlines() == [
        "date,sent",
        "2026-03-08,7",
        "2026-03-09,0",
        "2026-03-10,5",
    ]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_concurrent_counting_loses_nothing(backend, request, monkeypatch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from postdesk.core.store import open_store

    if backend == "postgres":
        monkeypatch.setenv("POSTDESK_DATABASE_URL", request.getfixturevalue("postgres_url"))
    shared = open_store()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: usage.record_sent(shared, recipients=2, at=NOON), range(100)))
    assert usage.today(shared, NOON).sent == 200
    shared.close()
