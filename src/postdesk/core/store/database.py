"""Opening the database: engine settings per dialect, friendly failures, migrations at start."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from postdesk.core.config import database_url, folder_problem, redact_url
from postdesk.core.errors import UserError
from postdesk.core.store import lite
from postdesk.core.store.lite import BUSY_TIMEOUT_S as BUSY_TIMEOUT_S

EMPTY_FILE_WAIT_PASSES = 10
EMPTY_FILE_WAIT_S = 0.1
WRITE_PROBE_BYTES = 4096  # a page: a full disk refuses it, as it refuses SQLite's -shm file
MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"  # Alembic's own bookkeeping: which migration the schema is at
CREATE_LOCK_KEY = 0x706F737464657368  # PostgreSQL advisory lock: one process creates a workspace


class Store:
    """An open, migrated database and a factory of sessions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def url(self) -> str:
        """The database URL with any password redacted."""
        return redact_url(self.engine.url.render_as_string(hide_password=False))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on any error.

        A database that cannot be written (read-only, disk full, gone) is a UserError saying
        where and what to do; the transaction is rolled back, so nothing is half-written.
        """
        try:
            with self._sessions() as session, session.begin():
                yield session
        except OperationalError as exc:
            raise explain_failure(self._raw_url, exc) from None

    @property
    def _raw_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=False)

    def close(self) -> None:
        self.engine.dispose()


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL (None for other databases or in-memory SQLite)."""
    parsed = make_url(url)
    if (
        parsed.get_backend_name() != "sqlite"
        or not parsed.database
        or parsed.database == ":memory:"
    ):
        return None
    return Path(parsed.database)


def create_store_engine(url: str) -> Engine:
    """An engine with Postdesk's settings: WAL, busy timeout and foreign keys on SQLite."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UserError(
            "store.bad_url",
            f"The database address '{redact_url(url)}' is not a valid database URL.",
            "Use e.g. postgresql+psycopg://user@host/dbname, or unset POSTDESK_DATABASE_URL.",
        ) from None
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        return create_engine(url, pool_pre_ping=True, connect_args=_connect_timeout(parsed))
    except NoSuchModuleError:
        raise UserError(
            "store.driver_missing",
            f"Postdesk cannot talk to this kind of database: '{parsed.get_backend_name()}'.",
            "Use a postgresql+psycopg:// URL (install the postgres extra) or SQLite.",
        ) from None
    except ModuleNotFoundError as exc:
        raise UserError(
            "store.driver_missing",
            f"The database driver '{exc.name}' is not installed.",
            "Install Postdesk with the postgres extra: pip install 'postdesk[postgres]'.",
        ) from None


def _connect_timeout(parsed) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {"connect_timeout": 10} if parsed.get_backend_name() == "postgresql" else {}


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def open_store(url: str | None = None, *, migrate: bool = True) -> Store:
    """Open the workspace database (``POSTDESK_DATABASE_URL`` or SQLite) and bring it up to date."""
    url = url or database_url()
    path = sqlite_path(url)
    if path is not None:
        _refuse_empty_file(path)
    engine = create_store_engine(url)
    try:
        if migrate:
            _migrate(engine, url)
        else:
            with engine.connect():
                pass
    except UserError:
        engine.dispose()
        raise
    except (OperationalError, DBAPIError) as exc:
        engine.dispose()
        raise explain_failure(url, exc) from None
    return Store(engine)


def _refuse_empty_file(path: Path) -> None:
    """A 0-byte database file is refused: SQLite would silently treat it as a new, empty workspace
    and every keyring item of the old one would be orphaned."""
    for _ in range(EMPTY_FILE_WAIT_PASSES):
        try:
            if path.stat().st_size > 0:
                return
        except FileNotFoundError:
            return  # a new workspace: Postdesk creates the file itself
        except OSError:
            return  # unreadable: opening it explains that
        # Another Postdesk process may have created it an instant ago; give it time to write.
        time.sleep(EMPTY_FILE_WAIT_S)
    backups = sorted(path.parent.glob(path.name + ".bak-*"))
    if backups:
        hint = (
            f"If it held your workspace, restore the latest copy beside it, {backups[-1].name} "
            f"(copies are named {path.name}.bak-*): move the empty file aside and copy that "
            f"one to {path.name}. To start a new workspace, delete the empty file."
        )
    else:
        hint = (
            f"If it held your workspace, restore it from your own backup (Postdesk's copies "
            f"would be named {path.name}.bak-* beside it; there are none). "
            "To start a new workspace, delete the empty file."
        )
    raise UserError("store.empty", f"The database file {path} is empty (0 bytes).", hint)


def explain_failure(url: str, exc: Exception) -> UserError:
    """A database error as one line: what failed, where, what to do (never the SQL or values)."""
    path = sqlite_path(url)
    text = str(getattr(exc, "orig", exc)).lower()
    if path is not None and ("not a database" in text or "malformed" in text or "corrupt" in text):
        backups = sorted(path.parent.glob(path.name + ".bak-*"))
        hint = (
            f"Move it aside and restore the latest backup, {backups[-1].name}, from {path.parent}."
            if backups
            else "Move it aside (Postdesk then starts with an empty workspace), "
            "or restore it from your own backup."
        )
        return UserError(
            "store.corrupt",
            f"The database file {path} is damaged or is not a Postdesk database.",
            hint,
        )
    where = str(path) if path is not None else redact_url(url)
    if "disk is full" in text or "no space" in text or "could not extend" in text:
        return UserError(
            "store.disk_full",
            f"Postdesk could not write to its database {where}: the disk is full.",
            "Free some space on that disk, then try again; nothing was saved.",
        )
    if "readonly" in text or "read-only" in text or "read only" in text:
        return UserError(
            "store.readonly",
            f"Postdesk could not write to its database {where}: it is read-only.",
            "Make the file and its folder writable for your user (check permissions, "
            "'lsattr' for the immutable flag, and read-only mounts); nothing was saved."
            if path is not None
            else "Connect as a user that may write (or to the primary server, not a read-only "
            "replica); nothing was saved.",
        )
    if "database is locked" in text:
        return UserError(
            "store.busy",
            f"The database {where} stayed locked by another program for {BUSY_TIMEOUT_S} seconds.",
            "Close other programs using it (another Postdesk, a database browser), then try "
            "again; nothing was saved.",
        )
    if path is not None:
        return _explain_sqlite_open(path)
    return UserError(
        "store.unreachable",
        f"Postdesk could not connect to the database at {redact_url(url)}.",
        "Check that the server is running and reachable, and the name, user and password in "
        "POSTDESK_DATABASE_URL.",
    )


def _explain_sqlite_open(path: Path) -> UserError:
    """Why a SQLite file (with its -wal and -shm files beside it) cannot be opened."""
    problem = _folder_write_problem(path.parent)
    if problem is not None:
        return folder_problem(problem, "open its database", path.parent)
    return UserError(
        "store.unreadable",
        f"Postdesk could not open its database file {path}.",
        "Check that the file and its folder can be read and written by your user.",
    )


def _folder_write_problem(folder: Path) -> OSError | None:
    """The error writing a small file in ``folder`` gives (None when writing works).

    Asked of the file system itself: ``os.access`` says yes to root on a read-only mount or an
    immutable folder.
    """
    probe = folder / f".postdesk-write-test-{os.getpid()}"
    try:
        with open(probe, "xb") as handle:
            handle.write(b"\0" * WRITE_PROBE_BYTES)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)
        return exc
    probe.unlink(missing_ok=True)
    return None


# --- migrations -------------------------------------------------------------------------------


def _alembic_config():  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest migration this version of Postdesk knows (read from the files, no Alembic)."""
    return lite.head_revision(MIGRATIONS)


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (None for an empty database)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        return conn.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalar()


def _migrate(engine: Engine, url: str) -> None:
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    path = sqlite_path(url)
    backup = None
    if path is not None and current is not None:
        backup = _backup_sqlite(engine, path, current)
    elif current is None and _has_foreign_tables(engine):
        raise UserError(
            "store.not_postdesk",
            f"The database at {redact_url(url)} already holds tables that are not Postdesk's.",
            "Point POSTDESK_DATABASE_URL at an empty database made for Postdesk.",
        )
    elif current is None and (path is not None or engine.dialect.name != "sqlite"):
        _create_new(url, head)  # (in-memory SQLite is one database per engine: migrated below)
        return
    try:
        _upgrade(engine)
    except Exception:
        engine.dispose()
        if backup is not None and path is not None:
            shutil.copyfile(backup, path)
            for suffix in ("-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
            raise UserError(
                "store.migration_failed",
                f"Updating the database {path} to this version of Postdesk failed; "
                "it was left as it was.",
                f"A copy is at {backup}. Run the previous version, or report the problem with "
                "'postdesk doctor'.",
            ) from None
        raise


def _upgrade(engine: Engine) -> None:
    from alembic import command

    config = _alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def _create_new(url: str, head: str) -> None:
    """Create a brand-new workspace's tables from the models and record it as migrated to ``head``.

    For an empty database this is what running every migration does (a test compares the two
    schemas), without importing Alembic on a user's first start. It runs as one transaction, so a
    crash leaves the database empty rather than half-created, and a second Postdesk starting at
    the same moment finds the finished workspace instead of creating it again.
    """
    from postdesk.core.conversations import schema  # noqa: F401  (the search DDL joins create_all)
    from postdesk.core.store.models import Base

    engine = create_store_engine(url)
    if engine.dialect.name == "sqlite":
        # pysqlite begins transactions only before INSERT/UPDATE/DELETE, so each CREATE would
        # commit on its own: begin explicitly (SQLAlchemy's recipe) to make the DDL one transaction.
        event.listen(engine, "connect", _sqlite_manual_transactions)
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":  # one creator at a time, as BEGIN IMMEDIATE
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({CREATE_LOCK_KEY})")
            if inspect(conn).has_table(VERSION_TABLE):
                return  # another process created the workspace while this one waited
            Base.metadata.create_all(conn)
            conn.exec_driver_sql(
                f"CREATE TABLE {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL, "
                f"CONSTRAINT {VERSION_TABLE}_pkc PRIMARY KEY (version_num))"
            )
            conn.execute(
                text(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES (:head)"), {"head": head}
            )
    finally:
        engine.dispose()


def _sqlite_manual_transactions(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    dbapi_connection.isolation_level = None


def _has_foreign_tables(engine: Engine) -> bool:
    return bool(set(inspect(engine).get_table_names()) - {VERSION_TABLE})


def _backup_sqlite(engine: Engine, path: Path, revision: str) -> Path:
    """Copy the SQLite file aside with SQLite's online backup (safe with WAL)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    backup = path.with_name(f"{path.name}.bak-{revision}-{stamp}")
    source = sqlite3.connect(path)
    target = sqlite3.connect(backup)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    return backup
