"""Storage: migrations from empty on SQLite and a real PostgreSQL, backups, friendly failures."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from postdesk.core.conversations.schema import SEARCH_TABLES, include_object
from postdesk.core.errors import UserError
from postdesk.core.store import database, open_store
from postdesk.core.store.models import (
    AuditEvent,
    Base,
    DailyUsage,
    DedicatedDomain,
    DomainRecord,
    SmtpService,
    SmtpUser,
)

# Every table the models declare, plus Alembic's own bookkeeping.
TABLES = {*Base.metadata.tables, "alembic_version"}


def _exercise(store) -> None:
    """Write and read one of everything that matters, including the live-login rule."""
    with store.session() as s:
        service = SmtpService(
            name="SendGrid", host="smtp.sendgrid.net", port=587, security="starttls"
        )
        domain = DedicatedDomain(name="example.com", ownership_token="t", service=service)
        domain.records.append(
            DomainRecord(kind="spf", type="TXT", host="example.com", value="v=spf1")
        )
        s.add_all([service, domain])
        s.flush()
        s.add(SmtpUser(domain_id=domain.id, login="shop", password_hash="scrypt$x"))
        s.add(
            DailyUsage(day=dt.date(2026, 1, 1), bucket="service:1", service_id=service.id, sent=3)
        )
        s.add(AuditEvent(action="smtp_user.created", subject="shop@example.com"))
    with store.session() as s:
        # Relations are loaded explicitly (the models never lazy-load behind the caller's back).
        query = select(DedicatedDomain).options(
            selectinload(DedicatedDomain.service), selectinload(DedicatedDomain.records)
        )
        domain = s.scalars(query).one()
        assert domain.service is not None and domain.service.name == "SendGrid"
        assert domain.records[0].value == "v=spf1"
        assert domain.created_at.tzinfo is not None
        user = s.scalars(select(SmtpUser)).one()
        user.deleted_at = dt.datetime.now(dt.UTC)
    with store.session() as s:  # a deleted login can be created again; its history stays
        s.add(SmtpUser(domain_id=1, login="shop", password_hash="scrypt$y"))
    with pytest.raises(IntegrityError), store.session() as s:
        s.add(SmtpUser(domain_id=1, login="shop", password_hash="scrypt$z"))


def test_sqlite_migrates_from_empty_with_wal_and_foreign_keys(postdesk_home: Path) -> None:
    store = open_store()
    assert set(inspect(store.engine).get_table_names()) == TABLES | SEARCH_TABLES
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    _exercise(store)
    store.close()
    assert (postdesk_home / "postdesk.db").exists()


@pytest.mark.postgres
def test_postgres_migrates_from_empty(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTDESK_DATABASE_URL", postgres_url)
    store = open_store()
    assert store.dialect == "postgresql"
    assert set(inspect(store.engine).get_table_names()) == TABLES
    _exercise(store)
    store.close()
    reopened = open_store()  # already at head: opens without migrating again
    assert database.current_revision(reopened.engine) == database.head_revision()
    reopened.close()


def test_unreachable_postgres_gives_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    from support.services import free_port

    url = f"postgresql+psycopg://pd:hunter2@127.0.0.1:{free_port()}/postdesk"
    monkeypatch.setenv("POSTDESK_DATABASE_URL", url)
    with pytest.raises(UserError) as caught:
        open_store()
    assert caught.value.code == "store.unreachable"
    assert "hunter2" not in str(caught.value) and "pd:***@" in str(caught.value)


def test_corrupt_database_file_is_named_with_the_way_out(postdesk_home: Path) -> None:
    postdesk_home.mkdir(parents=True)
    db = postdesk_home / "postdesk.db"
    db.write_bytes(b"this is not sqlite at all" * 200)
    with pytest.raises(UserError) as caught:
        open_store()
    assert caught.value.code == "store.corrupt"
    assert str(db) in caught.value.message
    assert "Move it aside" in caught.value.hint
    assert db.read_bytes().startswith(b"this is not sqlite")  # nothing was overwritten


@pytest.mark.parametrize("with_backup", [False, True])
def test_empty_database_file_is_not_taken_for_a_new_workspace(
    postdesk_home: Path, with_backup: bool
) -> None:
    store = open_store()
    _exercise(store)
    store.close()
    db = postdesk_home / "postdesk.db"
    backup = postdesk_home / "postdesk.db.bak-0002-20260101T000000Z"
    if with_backup:
        shutil.copyfile(db, backup)
    db.write_bytes(b"")  # e.g. a sync tool or a full disk truncated it
    with pytest.raises(UserError) as caught:
        open_store()
    assert caught.value.code == "store.empty"
    assert str(db) in caught.value.message and "empty" in caught.value.message
    assert "postdesk.db.bak-*" in caught.value.hint
    if with_backup:
        assert backup.name in caught.value.hint
    assert db.stat().st_size == 0  # still empty: nothing was created over it


def test_a_new_workspace_is_created_where_there_was_no_file(postdesk_home: Path) -> None:
    store = open_store()
    store.close()
    assert (postdesk_home / "postdesk.db").stat().st_size > 0
    open_store().close()  # and opens again without complaint


@pytest.mark.parametrize(
    ("sqlite_says", "code"),
    [
        ("attempt to write a readonly database", "store.readonly"),
        ("database or disk is full", "store.disk_full"),
        ("database is locked", "store.busy"),
    ],
)
def test_write_failures_become_one_line_errors(
    postdesk_home: Path, sqlite_says: str, code: str
) -> None:
    """The text SQLite gives for each failure maps to its own code (the faults themselves are
    produced for real in tests/integration/test_store_faults.py)."""
    from sqlalchemy.exc import OperationalError

    store = open_store()
    with pytest.raises(UserError) as caught, store.session():
        raise OperationalError("INSERT ...", {}, sqlite3.OperationalError(sqlite_says))
    store.close()
    assert caught.value.code == code
    assert str(postdesk_home / "postdesk.db") in caught.value.message
    assert "INSERT" not in str(caught.value)


def _migrations_with(tmp_path: Path, body: str) -> Path:
    """A copy of the real migrations plus one newer revision with the given upgrade body."""
    head = database.head_revision()
    folder = tmp_path / "migrations"
    shutil.copytree(database.MIGRATIONS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "versions" / "9999_test.py").write_text(
        "import sqlalchemy as sa\nfrom alembic import op\n"
        f"revision = '9999'\ndown_revision = '{head}'\nbranch_labels = None\ndepends_on = None\n"
        f"def upgrade():\n{body}\n"
    )
    return folder


def test_sqlite_is_copied_aside_before_a_migration(postdesk_home, tmp_path, monkeypatch) -> None:
    _exercise(open_store())
    monkeypatch.setattr(
        database,
        "MIGRATIONS",
        _migrations_with(tmp_path, "    op.add_column('settings', sa.Column('note', sa.Text()))"),
    )
    store = open_store()
    assert "note" in {c["name"] for c in inspect(store.engine).get_columns("settings")}
    (backup,) = postdesk_home.glob("postdesk.db.bak-*")
    with sqlite3.connect(backup) as conn:
        assert conn.execute("select name from smtp_services").fetchall() == [("SendGrid",)]


def test_failed_migration_leaves_the_original_intact(postdesk_home, tmp_path, monkeypatch) -> None:
    store = open_store()
    _exercise(store)
    store.close()
    monkeypatch.setattr(
        database,
        "MIGRATIONS",
        _migrations_with(
            tmp_path,
            "    op.execute('DELETE FROM smtp_services')\n"
            "    raise RuntimeError('broken migration')",
        ),
    )
    with pytest.raises(UserError) as caught:
        open_store()
    assert caught.value.code == "store.migration_failed"
    assert "left as it was" in caught.value.message
    monkeypatch.setattr(database, "MIGRATIONS", Path(database.__file__).parent / "migrations")
    store = open_store()
    with store.session() as s:
        assert [x.name for x in s.scalars(select(SmtpService))] == ["SendGrid"]
        assert database.current_revision(store.engine) == database.head_revision()


def test_a_foreign_database_is_not_touched(tmp_path: Path, monkeypatch) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("create table invoices (id integer)")
    with pytest.raises(UserError) as caught:
        open_store(f"sqlite:///{other}")
    assert caught.value.code == "store.not_postdesk"


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_migrations_create_exactly_what_the_models_declare(backend, request, monkeypatch) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    if backend == "postgres":
        monkeypatch.setenv("POSTDESK_DATABASE_URL", request.getfixturevalue("postgres_url"))
    store = open_store()
    with store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object}
        )
        differences = compare_metadata(context, Base.metadata)
    store.close()
    assert differences == []
