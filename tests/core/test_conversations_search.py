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


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_new_and_a_migrated_workspace_both_search(backend, request, tmp_path: Path) -> None:
    if backend == "sqlite":
        new_url, old_url = f"sqlite:///{tmp_path / 'new.db'}", f"sqlite:///{tmp_path / 'old.db'}"
    else:
        new_url = request.getfixturevalue("postgres_url")
        old_url = _another_database(request.getfixturevalue("postgres_server"))
    new = open_store(new_url)  # created from the models
    # the older workspace: at the previous migration, already holding a received message
    engine = database.create_store_engine(old_url)
    from alembic import command

    config = database._alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
    engine.dispose()
    before = open_store(old_url, migrate=False)
    with before.session() as s:
        domain = DedicatedDomain(name="example.com", ownership_token="t", status="verified")
        s.add(domain)
        s.flush()
        s.add(
            InboundMessage(
                domain_id=domain.id, raw=sample("hello.eml"), received_at=utcnow(),
                rcpt_tos=[], from_header="Alice Wong <alice@customer.example>",
                subject="Hello", body_text="my invoice number 4471 shows the wrong address",
            )
        )  # fmt: skip
    before.close()
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
