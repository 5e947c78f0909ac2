"""A new workspace is created from the models without Alembic, and is what the migrations make.

A brand-new database gets its tables in one transaction and is stamped at the newest migration;
an existing one is still upgraded by Alembic. Both roads must lead to the same schema, on SQLite
and on a real PostgreSQL, and a later Postdesk must take the new workspace as up to date.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect

from postdesk.core.conversations.schema import SEARCH_TABLES, include_object
from postdesk.core.store import database, open_store
from postdesk.core.store.models import Base


def _schema(engine: Engine) -> dict[str, object]:
    """Tables with their columns, keys, indexes and constraints, as the database reports them."""
    found = inspect(engine)
    schema: dict[str, object] = {}
    for table in sorted(found.get_table_names()):
        schema[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in found.get_columns(table)
            ],
            "pk": found.get_pk_constraint(table),
            "fks": sorted(repr(fk) for fk in found.get_foreign_keys(table)),
            "indexes": sorted(
                (ix["name"], tuple(ix["column_names"]), bool(ix["unique"]), _where(ix))
                for ix in found.get_indexes(table)
            ),
            "unique": sorted(repr(uq) for uq in found.get_unique_constraints(table)),
        }
    return schema


def _where(index: dict) -> str:
    """A partial index's condition as text (the database hands it back as a SQL clause)."""
    return " ".join(
        str(v) for k, v in sorted(index.get("dialect_options", {}).items()) if "where" in k
    )


def _migrated_by_alembic(url: str) -> Engine:
    """An empty database brought to the newest migration by running every migration."""
    engine = database.create_store_engine(url)
    database._upgrade(engine)
    return engine


@pytest.fixture(params=["sqlite", "postgres"])
def two_urls(request, tmp_path: Path) -> tuple[str, str]:
    """Two empty databases of one kind: one for each road."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'new.db'}", f"sqlite:///{tmp_path / 'migrated.db'}"
    return request.getfixturevalue("postgres_url"), request.getfixturevalue("postgres_url")


def test_a_new_workspace_has_the_schema_the_migrations_make(two_urls) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    new_url, migrated_url = two_urls
    created = open_store(new_url)
    migrated = _migrated_by_alembic(migrated_url)
    try:
        assert _schema(created.engine) == _schema(migrated)
        assert database.current_revision(created.engine) == database.head_revision()
        assert database.current_revision(migrated) == database.head_revision()
        with migrated.connect() as conn:  # and the migrations make what the models declare
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": include_object}
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        created.close()
        migrated.dispose()


def test_a_new_sqlite_workspace_opens_without_alembic(postdesk_home: Path) -> None:
    code = (
        "import sys; from postdesk.core.store import open_store\n"
        "open_store().close(); open_store().close()\n"
        "print('alembic' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
    with sqlite3.connect(postdesk_home / "postdesk.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (database.head_revision(),)
        ]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_new_workspace_is_all_or_nothing(postdesk_home: Path, monkeypatch) -> None:
    """A failure halfway through creating the tables leaves an empty database, not a foreign one."""
    create_all = Base.metadata.create_all

    def fail_after_creating(*args, **kwargs) -> None:
        create_all(*args, **kwargs)
        raise RuntimeError("the power went out")

    with monkeypatch.context() as patch:
        patch.setattr(Base.metadata, "create_all", fail_after_creating)
        with pytest.raises(RuntimeError):
            open_store()
    with sqlite3.connect(postdesk_home / "postdesk.db") as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []
    store = open_store()  # the next start creates the workspace
    assert set(inspect(store.engine).get_table_names()) == {
        *Base.metadata.tables,
        *SEARCH_TABLES,  # SQLite's full-text search table and its shadow tables
        "alembic_version",
    }
    store.close()
