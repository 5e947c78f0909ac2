"""The command line's light test send records exactly what the store records, or steps aside.

A test send is recorded once through the normal path (``sending.record_outcome``, the ORM) and
once through the light write (``store.litewrite``, sqlite3) in the same workspace; the rows each
leaves (the service's last test, the activity with its recipient and timeline, today's count)
and what the activity's readers show must not differ, apart from the row numbers, the moment
and the per-message random tokens.
"""

from __future__ import annotations

import dataclasses
import re
import sqlite3
from pathlib import Path

import pytest

from postdesk.core import activity, sending, sendlite, services, settings, usage
from postdesk.core.smtptest import TestResult, build_test_message
from postdesk.core.store import Store, lite
from postdesk.core.store.litewrite import record_test_send
from postdesk.core.store.models import DkimKey, SmtpService, SmtpUser, utcnow
from support.workspace import add_verified_domain

STORED_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")
ACCEPTED = TestResult(
    ok=True,
    category="ok",
    advice="Everything works.",
    stage="done",
    transcript=[],
    reply_code=250,
    reply_text="2.0.0 Ok: queued as 4B5C21F8A3",
)
REFUSED = dataclasses.replace(
    ACCEPTED,
    ok=False,
    category="rejected",
    advice="The server refused the recipient.",
    stage="rcpt",
    reply_code=550,
    reply_text="5.1.1 <owner@example.org>: Recipient address rejected: User unknown",
)


@pytest.fixture
def mailer(store: Store) -> tuple[int, int]:
    """A service (its password is never read here) and a verified domain; their ids."""
    with store.session() as s:
        s.add(
            SmtpService(
                name="Mailer",
                host="smtp.example.net",
                port=587,
                security="starttls",
                username="apikey",
                secret_ref="service:none",
            )
        )
    add_verified_domain(store, "shop.example")
    plan = sendlite.plan("Mailer", "hello@shop.example")
    assert plan is not None and plan.domain_id is not None
    return plan.service.id, plan.domain_id


def _database(home: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(home / "postdesk.db")
    conn.row_factory = sqlite3.Row
    return conn


def _plain(row: sqlite3.Row, *drop: str) -> dict[str, object]:
    """A row without its row numbers; a time must be stored as SQLAlchemy stores it."""
    values = {}
    for key in row.keys():  # noqa: SIM118 (iterating a Row gives its values)
        if key in ("id", "message_id", *drop):
            continue
        value = row[key]
        if key.endswith("_at") or key == "at":
            assert value is None or STORED_TIME.match(value), (key, value)
            value = value is not None
        values[key] = value
    return values


def _kept(home: Path) -> dict[str, object]:
    """The newest test send's rows and the service's last test, as a reader would see them."""
    with _database(home) as conn:
        message = conn.execute("SELECT * FROM relay_queue ORDER BY id DESC LIMIT 1").fetchone()
        number = message["id"]
        recipients = conn.execute(
            "SELECT * FROM message_recipients WHERE message_id = ? ORDER BY id", (number,)
        ).fetchall()
        events = conn.execute(
            "SELECT * FROM message_events WHERE message_id = ? ORDER BY id", (number,)
        ).fetchall()
        service = conn.execute(
            "SELECT last_test_at, last_test_ok, last_test_category, last_test_detail"
            " FROM smtp_services"
        ).fetchone()
    conn.close()
    assert len(message["tracking_token"]) == 24 and len(message["tracking_key"]) == 64
    return {
        "message": _plain(message, "tracking_token", "tracking_key"),
        "recipients": [_plain(r) for r in recipients],
        "events": [_plain(e) for e in events],
        "service": _plain(service),
    }


def _shown(store: Store, number: int) -> dict[str, object]:
    detail = dataclasses.asdict(activity.message_detail(store, number))
    (row,) = [r for r in activity.search(store) if r.id == number]
    return {"detail": detail, "row": dataclasses.asdict(row)}


def _without_numbers_and_times(value: object) -> object:
    if isinstance(value, dict):
        return {
            k: _without_numbers_and_times(v)
            for k, v in value.items()
            if k not in ("id", "message_id") and not k.endswith("_at") and k != "at"
        }
    if isinstance(value, list | tuple):
        return [_without_numbers_and_times(v) for v in value]
    return value


@pytest.mark.parametrize("result", [ACCEPTED, REFUSED], ids=["accepted", "refused"])
def test_the_light_write_keeps_what_the_store_keeps(store, mailer, postdesk_home, result) -> None:
    _service_id, domain_id = mailer
    service = services.get_service(store, "Mailer")
    message = build_test_message(
        "hello@shop.example", "Owner@Example.org", "Hello", "Plain text.", "<p>Hello</p>"
    )
    sending.record_outcome(store, service, domain_id, message, result)
    normal, normal_count = _kept(postdesk_home), usage.today(store).sent
    normal_shown = _shown(store, activity.search(store)[0].id)

    outcome = sendlite.outcome_of(service, domain_id, message, result)
    assert record_test_send(outcome)
    assert _kept(postdesk_home) == normal
    assert usage.today(store).sent == 2 * normal_count == (2 if result.ok else 0)
    light_shown = _shown(store, activity.search(store)[0].id)
    assert _without_numbers_and_times(light_shown) == _without_numbers_and_times(normal_shown)
    assert len(activity.search(store)) == 2
    assert services.get_service(store, "Mailer").last_test_ok is result.ok


def test_passing_the_daily_limit_with_smtp_users_is_left_to_the_store(
    store, mailer, postdesk_home
) -> None:
    service_id, domain_id = mailer
    service = services.get_service(store, "Mailer")
    with store.session() as s:
        settings.put(s, "daily_limit", 1)
        s.add(SmtpUser(domain_id=domain_id, login="shop", password_hash="!"))
    usage.record_sent(store, recipients=1, service_id=service_id, domain_id=domain_id)
    message = build_test_message(
        "hello@shop.example", "owner@example.org", "Hi", "Text", "<p>x</p>"
    )
    outcome = sendlite.outcome_of(service, domain_id, message, ACCEPTED)

    assert not record_test_send(outcome)  # the deletion rule is the store's alone
    assert activity.search(store) == [] and usage.today(store).sent == 1  # nothing written
    assert services.get_service(store, "Mailer").last_test_at is None

    with store.session() as s:  # no live SMTP user: the count goes past the limit, nothing to do
        s.query(SmtpUser).delete()
    assert record_test_send(outcome)
    assert usage.today(store).sent == 2 and len(activity.search(store)) == 1


def test_the_plan_reads_what_the_store_path_would(store, mailer, postdesk_home) -> None:
    _service_id, domain_id = mailer
    with store.session() as s:
        old = utcnow().replace(year=2025)
        s.add_all(
            [
                DkimKey(
                    domain_id=domain_id,
                    selector="old",
                    bits=2048,
                    public_key="p",
                    secret_ref="dkim:old",
                    created_at=old,
                ),
                DkimKey(
                    domain_id=domain_id,
                    selector="new",
                    bits=2048,
                    public_key="p",
                    secret_ref="dkim:new",
                ),
                DkimKey(
                    domain_id=domain_id,
                    selector="next",
                    bits=2048,
                    public_key="p",
                    secret_ref="dkim:next",
                    state="pending",
                ),
            ]
        )
    plan = sendlite.plan("Mailer", "hello@shop.example")
    assert plan is not None and plan.service == services.get_service(store, "Mailer")
    assert plan.key == lite.DkimKeyRef("shop.example", "new", "dkim:new")  # newest active
    with store.session() as s:
        s.execute(
            DkimKey.__table__.update().values(state="retired").where(DkimKey.selector == "new")
        )
    assert sendlite.plan("Mailer", "hello@shop.example").key.selector == "old"  # type: ignore[union-attr]
    # What the store path refuses or explains is left to it.
    assert sendlite.plan("Nope", "hello@shop.example") is None
    assert sendlite.plan("Mailer", "ceo@bank.example") is None
    outcome = sendlite.outcome_of(
        services.get_service(store, "Mailer"),
        domain_id,
        build_test_message("hello@shop.example", "owner@example.org", "Hi", "Text", "<p>x</p>"),
        ACCEPTED,
    )
    with sqlite3.connect(postdesk_home / "postdesk.db") as conn:  # an older schema
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    conn.close()
    assert sendlite.plan("Mailer", "hello@shop.example") is None
    assert not record_test_send(outcome)
