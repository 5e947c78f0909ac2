"""Search finds received messages by body words, sender, recipients and subject, on SQLite and
PostgreSQL, in a brand-new workspace and in one brought up to date by the migrations."""

from __future__ import annotations

from pathlib import Path

import pytest

from postdesk.core.conversations import file_inbound, list_threads, search
from postdesk.core.conversations.search import fts5_query, pg_tsquery
from postdesk.core.store import database, open_store
from postdesk.core.store.models import DedicatedDomain, InboundMessage, utcnow
from support.conversation_samples import sample

SAMPLES = ["list-1.eml", "list-2.eml", "hello.eml", "outlook-html.eml", "gmail-html.eml"]


def _subjects(hits) -> set[str]:
    return {h.subject for h in hits}


def test_body_words_senders_recipients_and_subjects_are_found(
    conversations_store, file_sample
) -> None:
    for name in SAMPLES:
        file_sample(name)
    store = conversations_store
    assert _subjects(search(store, "example.com", "translation volunteers")) == {
        "Re: [dev] Release 2.0 plan"
    }
    assert _subjects(search(store, "example.com", "invoice 4471")) == {"Hello"}
    # the sender, by address and by name; the recipients (a list address)
    assert _subjects(search(store, "example.com", "alice@customer.example")) == {"Hello"}
    assert _subjects(search(store, "example.com", "Kowalczyk")) == {
        "Re: Contract for the Łódź office"
    }
    assert len(search(store, "example.com", "dev@lists.example.org")) == 2
    # a whole word, and the start of a word as it is being typed
    outlook = {"Lieferung für Auftrag 88120"}
    assert _subjects(search(store, "example.com", "Liefertermin")) == outlook
    assert _subjects(search(store, "example.com", "Lieferterm")) == outlook
    assert search(store, "example.com", "kangaroo") == []
    # every word must match
    assert search(store, "example.com", "invoice kangaroo") == []


def test_search_narrows_the_thread_list(conversations_store, file_sample) -> None:
    for name in SAMPLES:
        file_sample(name)
    threads = list_threads(conversations_store, "example.com", search="December")
    assert [t.subject for t in threads] == ["Release 2.0 plan"]


@pytest.mark.parametrize(
    "typed", ['"', "*", "a OR", "NEAR(", "'; DROP TABLE x; --", "-", "!:&|", 'foo"bar', "@"]
)
def test_query_syntax_typed_by_the_user_is_just_text(
    conversations_store, file_sample, typed: str
) -> None:
    file_sample("hello.eml")
    search(conversations_store, "example.com", typed)  # no error: at most no hits


def test_the_queries_quote_every_word() -> None:
    assert fts5_query('say "hi" now') == '"say" """hi""" "now"*'
    assert pg_tsquery("Alice's invoice") == "'alice' & 's' & 'invoice':*"
    assert pg_tsquery("!!") == ""


def test_search_keeps_to_the_domain(conversations_store, file_sample) -> None:
    file_sample("hello.eml")
    with conversations_store.session() as s:
        s.add(DedicatedDomain(name="other.example", ownership_token="t", status="verified"))
    assert search(conversations_store, "other.example", "invoice") == []


def _file(store, raw: bytes) -> None:
    with store.session() as s:
        domain = DedicatedDomain(name="example.com", ownership_token="t", status="verified")
        s.add(domain)
        s.flush()
        file_inbound(
            s, domain_id=domain.id, raw=raw, mail_from="", rcpt_tos=[], remote_ip="", helo="",
            verdicts={}, auth_results="",
        )  # fmt: skip


def _another_database(server: str) -> str:
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.rsplit("/", 1)[0] + f"/{name}"


def _left_at_revision(url: str, revision: str) -> None:
    """A workspace migrated only up to ``revision``, holding one received message ("Hello")."""
    from alembic import command

    engine = database.create_store_engine(url)
    config = database._alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    engine.dispose()
    before = open_store(url, migrate=False)
    with before.session() as s:
        domain = DedicatedDomain(name="example.com", ownership_token="t", status="verified")
        s.add(domain)
        s.flush()
        s.add(
            InboundMessage(
                domain_id=domain.id, raw=sample("hello.eml"), received_at=utcnow(), rcpt_tos=[],
                from_header="Alice Wong <alice@customer.example>", to_header="support@example.com",
                subject="Hello", body_text="my invoice number 4471 shows the wrong address",
            )
        )  # fmt: skip
    before.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_new_and_a_migrated_workspace_both_search(backend, request, tmp_path: Path) -> None:
    if backend == "sqlite":
        new_url, old_url = f"sqlite:///{tmp_path / 'new.db'}", f"sqlite:///{tmp_path / 'old.db'}"
    else:
        new_url = request.getfixturevalue("postgres_url")
        old_url = _another_database(request.getfixturevalue("postgres_server"))
    new = open_store(new_url)  # created from the models
    _left_at_revision(old_url, "0003")  # an older workspace, already holding a message
    old = open_store(old_url)  # migration 0004 indexes what was already there
    try:
        _file(new, sample("hello.eml"))
        assert _subjects(search(new, "example.com", "invoice")) == {"Hello"}
        assert _subjects(search(old, "example.com", "invoice")) == {"Hello"}
        with old.session() as s:
            domain_id = s.query(DedicatedDomain.id).scalar()
            file_inbound(
                s, domain_id=domain_id, raw=sample("list-2.eml"), mail_from="", rcpt_tos=[],
                remote_ip="", helo="", verdicts={}, auth_results="",
            )  # fmt: skip
        assert _subjects(search(old, "example.com", "volunteers")) == {"Re: [dev] Release 2.0 plan"}
    finally:
        new.close()
        old.close()


def _many(store, count: int) -> dict[str, list[int]]:
    """``count`` messages arriving a minute apart, every fourth for another domain; each says
    "invoice", every tenth "refund" too. Returns the message numbers of each domain, oldest
    first."""
    import datetime as dt

    from sqlalchemy import insert

    start = utcnow() - dt.timedelta(days=30)
    with store.session() as s:
        ours = s.query(DedicatedDomain.id).filter_by(name="example.com").scalar()
        other = DedicatedDomain(name="other.example", ownership_token="t", status="verified")
        s.add(other)
        s.flush()
        rows, numbers = [], {"example.com": [], "other.example": []}
        for i in range(count):
            domain = "other.example" if i % 4 == 3 else "example.com"
            numbers[domain].append(i)
            refund = " and a refund" if i % 10 == 0 else ""
            rows.append(
                {
                    "domain_id": other.id if domain == "other.example" else ours,
                    "received_at": start + dt.timedelta(minutes=i),
                    "rcpt_tos": [f"support@{domain}"],
                    "from_header": f"Customer {i} <c{i}@customer.example>",
                    "to_header": f"support@{domain}",
                    "subject": f"Message {i}",
                    "body_text": f"my invoice number {i}{refund}",
                    "raw": b"",
                }
            )
        s.execute(insert(InboundMessage), rows)
    with store.engine.connect() as conn:  # statistics, so the planner knows which word is common
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    return numbers


def test_a_search_matching_more_than_a_page_shows_the_newest_first(conversations_store) -> None:
    store = conversations_store
    ours = _many(store, 1200)["example.com"]
    refunds = [i for i in ours if i % 10 == 0]
    expected = {
        "invoice": ours[::-1][:50],  # in every message of the domain
        "refund": refunds[::-1][:50],  # in a tenth of them
        "invoice refund": refunds[::-1][:50],
        "refu": refunds[::-1][:50],  # as it is being typed
        "c17@customer.example": [17],
    }
    # Twice over: the database must plan each search for its words, not reuse one plan.
    for text in [*expected, *expected]:
        hits = search(store, "example.com", text)
        assert [h.subject for h in hits] == [f"Message {i}" for i in expected[text]], text
        assert [h.received_at for h in hits] == sorted((h.received_at for h in hits), reverse=True)
    assert [h.subject for h in search(store, "example.com", "invoice", limit=3)] == [
        f"Message {i}" for i in ours[::-1][:3]
    ]
    assert search(store, "example.com", "invoice kangaroo") == []


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_newest_migration_indexes_messages_stored_before_it(
    backend, request, tmp_path: Path
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'old.db'}"
        if backend == "sqlite"
        else _another_database(request.getfixturevalue("postgres_server"))
    )
    _left_at_revision(url, "0004")
    store = open_store(url)  # brought up to date
    try:
        assert database.current_revision(store.engine) == database.head_revision()
        for text in ("invoice", "4471", "Wong", "alice@customer.example", "support@example.com"):
            assert _subjects(search(store, "example.com", text)) == {"Hello"}, text
        if backend == "postgres":  # the stored document was filled by the migration itself
            from sqlalchemy import text as sql

            with store.engine.connect() as conn:
                filled = conn.execute(
                    sql("SELECT search_document::text FROM inbound_messages")
                ).scalar_one()
            assert "'invoice'" in filled and "'alice@customer.example'" in filled
    finally:
        store.close()
