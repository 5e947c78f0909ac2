"""What a test send through a service leaves behind, written with the standard library's sqlite3.

The command line's test send reads its service, sender domain and DKIM key on the light path
(``lite``); importing SQLAlchemy and the models only to keep its result would cost it more than
the whole SMTP conversation. This writes the same rows the ORM path writes (``sending.
record_outcome``: the service's last test, the domain's activity, today's count), in one
transaction, stored exactly as SQLAlchemy stores them so every reader sees no difference.

Anything this does not cover is left to the normal path, with nothing written here: a workspace
that is not an up-to-date SQLite file, SQLite failing, or a count that passes the daily limit
while SMTP users exist (the deletion rule lives in ``usage`` alone).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets as _random
import sqlite3
from typing import NamedTuple

from postdesk.core import usageday
from postdesk.core.store.lite import DEFAULT_DAILY_LIMIT, connect_current

_DETAIL_LIMIT = 2000  # as ``activity``: a timeline line, not a transcript


class TestSendOutcome(NamedTuple):
    """One finished test send through a service, as the ORM path would record it."""

    service_id: int
    service_name: str
    ok: bool
    category: str
    summary: str  # the badge's text
    # The domain's activity (None: the sender is the service's own address, not a domain's).
    domain_id: int | None
    raw: bytes
    mail_from: str
    rcpt_to: str
    subject: str
    message_id_header: str
    reply_code: int | None
    reply: str


def _provider_message_id(reply: str) -> str | None:
    from postdesk.core.providerid import provider_message_id  # only after an accepted send

    return provider_message_id(reply)


def stamp(moment: dt.datetime) -> str:
    """A UTC time as SQLAlchemy stores a ``DateTime`` in SQLite (naive UTC text, microseconds)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def record_test_send(
    outcome: TestSendOutcome, url: str | None = None, *, at: dt.datetime | None = None
) -> bool:
    """Record the outcome in one transaction; False (nothing written): use the normal path."""
    conn = connect_current(url, write=True)
    if conn is None:
        return False
    try:
        now = at or dt.datetime.now(dt.UTC)
        _record_test(conn, outcome, now)
        if outcome.domain_id is not None:
            _record_activity(conn, outcome, outcome.domain_id, now)
        if outcome.ok and not _count_sent(conn, outcome, now):
            return False  # closing rolls everything back
        conn.execute("COMMIT")
        return True
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def _record_test(conn: sqlite3.Connection, outcome: TestSendOutcome, now: dt.datetime) -> None:
    conn.execute(
        "UPDATE smtp_services SET last_test_at = ?, last_test_ok = ?, last_test_category = ?,"
        " last_test_detail = ? WHERE id = ?",
        (stamp(now), int(outcome.ok), outcome.category, outcome.summary, outcome.service_id),
    )


def _record_activity(
    conn: sqlite3.Connection, outcome: TestSendOutcome, domain_id: int, now: dt.datetime
) -> None:
    """As ``activity.record_test_send``: finished from the start, critical, with its timeline."""
    when = stamp(now)
    ok, rcpt = outcome.ok, outcome.rcpt_to
    found = None
    if not ok:
        from postdesk.core.bounces import classify_reply  # parses DSNs too: only when refused

        found = classify_reply(outcome.reply_code, outcome.reply)
    klass = None if found is None else found.bounce_class.value
    cursor = conn.execute(
        "INSERT INTO relay_queue (domain_id, smtp_user_id, mail_from, rcpt_tos, subject,"
        " message_id_header, raw, size, accepted_at, status, attempts, next_attempt_at,"
        " claimed_by, claimed_until, last_reply, track_open, track_click, tracking_token,"
        " tracking_key, sent_at, source, critical, provider_message_id, bounce_class)"
        " VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, NULL, NULL, ?, 0, 0, ?, ?, ?, 'test', 1,"
        " ?, ?)",
        (
            domain_id,
            outcome.mail_from,
            json.dumps([rcpt]),
            outcome.subject[:300],
            outcome.message_id_header[:300],
            outcome.raw,
            len(outcome.raw),
            when,
            "sent" if ok else "bounced",
            when,
            outcome.reply,
            _random.token_urlsafe(18),
            _random.token_hex(32),
            when if ok else None,
            _provider_message_id(outcome.reply) if ok else None,
            klass,
        ),
    )
    message_id = cursor.lastrowid
    reason = "" if found is None else found.reason[:_DETAIL_LIMIT]
    # The ORM path adds the recipient as pending and sets its status at once; only the final
    # row is ever seen, so it is written as such.
    conn.execute(
        "INSERT INTO message_recipients (message_id, address, status, bounce_class, reason,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        (message_id, rcpt.lower(), "sent" if ok else "bounced", klass, reason, when),
    )
    events = [
        (None, "accepted", "relay", f"Test send through {outcome.service_name}", None),
        (rcpt.lower(), "handed_over" if ok else "bounced", "upstream", outcome.reply, klass),
    ]
    conn.executemany(
        "INSERT INTO message_events (message_id, recipient, kind, at, source, detail,"
        " bounce_class) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(message_id, r, kind, when, src, d[:_DETAIL_LIMIT], b) for r, kind, src, d, b in events],
    )


def _count_sent(conn: sqlite3.Connection, outcome: TestSendOutcome, now: dt.datetime) -> bool:
    """As ``usage.record_sent`` for one recipient; False when the daily-limit rule must run."""
    day = usageday.utc_day(now).isoformat()
    conn.execute(
        "INSERT INTO daily_usage (day, bucket, sent, domain_id, smtp_user_id, service_id)"
        " VALUES (?, ?, 1, ?, NULL, ?)"
        " ON CONFLICT (day, bucket) DO UPDATE SET sent = daily_usage.sent + 1",
        (day, f"service:{outcome.service_id}", outcome.domain_id, outcome.service_id),
    )
    (sent,) = conn.execute(
        "SELECT coalesce(sum(sent), 0) FROM daily_usage WHERE day = ?", (day,)
    ).fetchone()
    row = conn.execute("SELECT value FROM settings WHERE key = 'daily_limit'").fetchone()
    limit = DEFAULT_DAILY_LIMIT if row is None else row[0]
    limit = int(json.loads(limit) if isinstance(limit, str) else limit)
    if int(sent) <= limit:
        return True
    live = conn.execute(
        "SELECT 1 FROM smtp_users u JOIN dedicated_domains d ON d.id = u.domain_id"
        " WHERE u.deleted_at IS NULL LIMIT 1"
    ).fetchone()
    return live is None
