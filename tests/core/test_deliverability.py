"""Deliverability numbers and alerts over a workspace whose messages have real activity rows."""

from __future__ import annotations

import datetime as dt

import pytest

from postdesk.core import activity, deliverability, settings
from postdesk.core.errors import UserError
from postdesk.core.relay import queue
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, SmtpUser, TrackingEvent
from support.workspace import add_verified_domain

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


def add_user(store: Store, domain: str, login: str) -> int:
    with store.session() as s:
        domain_id = s.query(DedicatedDomain).filter_by(name=domain).one().id
        user = SmtpUser(domain_id=domain_id, login=login, password_hash="x")
        s.add(user)
        s.flush()
        return user.id


def send(
    store: Store,
    domain: str,
    outcomes: dict[str, tuple[str, str | None]],
    *,
    user_id: int | None = None,
    at: dt.datetime = NOW,
    critical: bool = False,
    subject: str = "Your order",
) -> int:
    """One message to ``outcomes``' addresses, each ending as (status, bounce class)."""
    with store.session() as s:
        domain_id = s.query(DedicatedDomain).filter_by(name=domain).one().id
        row = queue.enqueue(
            s,
            domain_id=domain_id,
            smtp_user_id=user_id,
            mail_from=f"shop@{domain}",
            rcpt_tos=list(outcomes),
            raw=b"Subject: x\r\n\r\nhi\r\n",
            subject=subject,
            now=at,
        )
        row.critical = critical
        s.flush()
        activity.add_recipients(s, row.id, list(outcomes))
        for address, (status, bounce_class) in outcomes.items():
            activity.set_recipient_status(
                s,
                row.id,
                address,
                status,
                bounce_class=bounce_class,
                reason="550 5.1.1 no such user",
            )
            if status == "complained":
                activity.record_event(s, row.id, "complained", recipient=address, source="sendgrid")
        row.status = "bounced" if all(st == "bounced" for st, _ in outcomes.values()) else "sent"
        return row.id


def test_numbers_per_domain_and_per_smtp_user(store: Store) -> None:
    add_verified_domain(store, "shop.example")
    add_verified_domain(store, "news.example")
    orders = add_user(store, "shop.example", "orders")
    bulk = add_user(store, "shop.example", "bulk")
    send(
        store,
        "shop.example",
        {"a@x.test": ("delivered", None), "b@x.test": ("sent", None)},
        user_id=orders,
    )
    first = send(
        store, "shop.example", {"c@x.test": ("bounced", "hard.unknown_user")}, user_id=bulk
    )
    send(
        store,
        "shop.example",
        {
            "d@x.test": ("bounced", "soft.mailbox_full"),
            "e@x.test": ("complained", None),
            "f@x.test": ("pending", None),
        },
        user_id=bulk,
    )
    with store.session() as s:
        s.add(TrackingEvent(message_id=first, kind="open", at=NOW))

    report = deliverability.report(store, 7, at=NOW + dt.timedelta(hours=1))

    by_name = {d.domain: d for d in report.domains}
    assert set(by_name) == {"shop.example", "news.example"}
    assert by_name["news.example"].total == deliverability.Numbers()
    shop = by_name["shop.example"].total
    # the pending recipient is not a send yet
    assert (shop.sent, shop.delivered, shop.hard_bounced, shop.soft_bounced) == (5, 2, 1, 1)
    assert shop.complaints == 1
    assert shop.bounce_rate == pytest.approx(2 / 5)
    assert (shop.messages, shop.opened) == (3, 1)
    users = {u.login: u.numbers for u in by_name["shop.example"].users}
    assert users["orders"].sent == 2 and users["orders"].bounced == 0
    assert users["bulk"].sent == 3 and users["bulk"].complaint_rate == pytest.approx(1 / 3)


def test_the_period_leaves_older_mail_out_and_one_domain_can_be_asked(store: Store) -> None:
    add_verified_domain(store, "shop.example")
    add_verified_domain(store, "news.example")
    send(store, "shop.example", {"a@x.test": ("delivered", None)}, at=NOW - dt.timedelta(days=3))
    send(store, "shop.example", {"b@x.test": ("delivered", None)}, at=NOW - dt.timedelta(hours=2))
    send(store, "news.example", {"c@x.test": ("delivered", None)}, at=NOW)

    assert deliverability.report(store, 1, at=NOW).domains[1].total.sent == 1
    week = deliverability.report(store, 7, domain="shop.example", at=NOW)
    assert [(d.domain, d.total.sent) for d in week.domains] == [("shop.example", 2)]
    with pytest.raises(UserError) as raised:
        deliverability.report(store, 3, at=NOW)
    assert "1, 7 or 30" in raised.value.message


def test_a_message_without_recipient_rows_counts_by_its_queue_status(store: Store) -> None:
    add_verified_domain(store, "shop.example")
    with store.session() as s:
        row = queue.enqueue(
            s,
            domain_id=s.query(DedicatedDomain).one().id,
            smtp_user_id=None,
            mail_from="a@shop.example",
            rcpt_tos=["x@y.test", "z@y.test"],
            raw=b"\r\n",
            now=NOW,
        )
        row.status, row.bounce_class = "bounced", "hard.unknown_domain"
    (shop,) = deliverability.report(store, 1, at=NOW).domains
    assert (shop.total.sent, shop.total.hard_bounced) == (2, 2)
    assert shop.users[0].login == ""  # no SMTP user: a test send


def many(n: int, status: str, klass: str | None = None) -> dict[str, tuple[str, str | None]]:
    return {f"r{i}-{status}@x.test": (status, klass) for i in range(n)}


def test_a_domain_past_the_bounce_threshold_is_announced_once(store: Store) -> None:
    add_verified_domain(store, "shop.example")
    send(store, "shop.example", {**many(18, "delivered"), **many(2, "bounced", "hard.policy")})
    watcher = deliverability.AlertWatcher(store)
    (alert,) = watcher.check(NOW)
    assert alert.kind == "bounce_rate" and alert.domain == "shop.example"
    assert "10.0 % of the last day's mail bounced (2 of 20)" in alert.message
    assert watcher.check(NOW) == []  # given once


def test_thresholds_are_workspace_settings_and_few_sends_say_nothing(store: Store) -> None:
    add_verified_domain(store, "shop.example")
    send(store, "shop.example", {**many(1, "delivered"), **many(1, "bounced", "hard.other")})
    assert deliverability.alerts_now(store, NOW) == []  # 1 of 2 says little
    send(store, "shop.example", {**many(97, "sent"), **many(2, "complained")})
    kinds = {a.kind for a in deliverability.alerts_now(store, NOW)}
    assert kinds == {"complaint_rate"}  # 2 of 101 > 0.1 %; 1 bounce of 101 < 5 %
    with store.session() as s:
        settings.change(
            s,
            "alert_bounce_rate_percent",
            settings.parse_text("alert_bounce_rate_percent", "0.5 %"),
        )
        settings.change(s, "alert_complaint_rate_percent", 3)
    assert {a.kind for a in deliverability.alerts_now(store, NOW)} == {"bounce_rate"}
    with pytest.raises(UserError), store.session() as s:
        settings.change(s, "alert_complaint_rate_percent", "a lot")


def test_a_failed_critical_message_is_announced_with_the_answer(store: Store) -> None:
    add_verified_domain(store, "shop.example")
    send(store, "shop.example", {"ok@x.test": ("delivered", None)}, critical=True)
    failed = send(
        store,
        "shop.example",
        {"gone@x.test": ("bounced", "hard.unknown_user")},
        critical=True,
        subject="Order 1042 confirmed",
    )
    send(store, "shop.example", {"other@x.test": ("bounced", "hard.unknown_user")})  # not critical
    (alert,) = deliverability.alerts_now(store, NOW)
    assert alert.kind == "critical_failed" and alert.message_id == failed
    assert "“Order 1042 confirmed” to gone@x.test" in alert.message
    assert "550 5.1.1 no such user" in alert.hint


def test_rates_read_as_people_read_them() -> None:
    assert deliverability.percent(0.0) == "0 %"
    assert deliverability.percent(0.0008) == "0.08 %"
    assert deliverability.percent(0.052) == "5.2 %"
