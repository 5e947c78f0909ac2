"""A narrow read-only path for the listing commands: the standard library's sqlite3, no ORM.

Importing SQLAlchemy and the models costs about half a second before the first query, which a
``service list`` or ``usage`` pays for reading a handful of rows. For a SQLite workspace that is
already at the newest schema, this module reads those rows directly and returns the same frozen
views the ORM path returns. Anything else — PostgreSQL, a workspace that does not exist yet or
needs a migration, a file SQLite cannot open — gets ``None`` from :func:`open_readonly`, and the
caller takes the normal path, which creates, migrates or explains.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar
from urllib.parse import quote

from postdesk.core import usageday
from postdesk.core.config import database_url
from postdesk.core.errors import UserError
from postdesk.core.serviceview import ServiceView

if TYPE_CHECKING:  # built where listed: a test send needs only the service's view
    from postdesk.core.views import DomainView, IpView, SmtpUserView

BUSY_TIMEOUT_S = 30
MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"
# Only the plain forms ``database_url()`` builds or a user writes; anything with options (``?``)
# or escapes (``%``) is left to SQLAlchemy's own URL parsing on the normal path.
_SQLITE_URL = re.compile(r"^sqlite(?:\+pysqlite)?:///([^?%]+)$")
_REVISION_LINE = re.compile(r"^(down_revision|revision)\s*=\s*['\"]?([\w-]+|None)['\"]?", re.M)
# Must match ``settings.DEFAULTS["daily_limit"]``; importing settings would import the ORM.
DEFAULT_DAILY_LIMIT = 1500
# Must match ``credentials.MAX_USERS_PER_DOMAIN`` (a test checks both); the same reason.
MAX_USERS_PER_DOMAIN = 5

T = TypeVar("T")


class DkimKeyRef(NamedTuple):
    """Where a domain's signing key is: the domain, its selector and the keyring entry's name."""

    domain: str
    selector: str
    secret_ref: str


def head_revision(migrations: Path = MIGRATIONS) -> str:
    """The newest migration in ``migrations`` (by default, the ones this version ships).

    Read from the migration files directly: importing Alembic costs ~100 ms, which every CLI
    command would pay although the database is almost always up to date already.
    """
    revisions: dict[str, str | None] = {}
    for script in (migrations / "versions").glob("*.py"):
        found = dict(_REVISION_LINE.findall(script.read_text(encoding="utf-8")))
        if "revision" in found:
            down = found.get("down_revision")
            revisions[found["revision"]] = None if down in (None, "None") else down
    heads = set(revisions) - {down for down in revisions.values() if down}
    if len(heads) != 1:
        raise RuntimeError(f"expected one migration head, found {sorted(heads)}")
    return heads.pop()


@lru_cache(maxsize=1)
def _shipped_head() -> str:
    # The migrations this version ships cannot change while it runs; a command that reads and
    # then writes (test-send) asks twice.
    return head_revision()


def sqlite_file(url: str) -> Path | None:
    """The database file of a plain SQLite URL; None for anything else (PostgreSQL, options)."""
    match = _SQLITE_URL.match(url.strip())
    if match is None or match.group(1) == ":memory:":
        return None
    return Path(match.group(1))


def open_readonly(url: str | None = None) -> LiteReader | None:
    """A reader on the workspace, or None when the caller must take the normal store path.

    None unless the database is a SQLite file that exists, is not empty, and is at this
    version's newest migration — so creating, migrating and explaining failures stay in one
    place (``open_store``).
    """
    conn = connect_current(url, write=False)
    return None if conn is None else LiteReader(conn)


def connect_current(url: str | None = None, *, write: bool) -> sqlite3.Connection | None:
    """A connection inside an open transaction on an up-to-date SQLite workspace, or None.

    The conditions are those of :func:`open_readonly`. A writing connection gets the store's own
    settings (busy timeout, foreign keys, a full flush on commit) and ``BEGIN IMMEDIATE``, as the
    store begins its transactions; the caller commits or closes (which rolls back).
    """
    path = sqlite_file(url or database_url())
    if path is None:
        return None
    try:
        if path.stat().st_size == 0:
            return None
        conn = sqlite3.connect(
            f"file:{quote(str(path.resolve()))}?mode={'rw' if write else 'ro'}",
            uri=True,
            timeout=BUSY_TIMEOUT_S,
            isolation_level=None,  # transactions are begun and ended here, explicitly
        )
    except (OSError, sqlite3.Error):
        return None
    try:
        if write:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=FULL")
        # One transaction: every read comes from the same snapshot of the workspace.
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        row = conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
        if row is None or row[0] != _shipped_head():
            conn.close()
            return None
    except sqlite3.Error:
        conn.close()
        return None
    return conn


def read_or_none(read: Callable[[LiteReader], T], url: str | None = None) -> T | None:
    """``read(reader)`` on the light path, or None when the caller must take the normal path.

    SQLite failing in the middle of the read (a damaged page, a lock held past the timeout) is
    None too: the normal path then meets the same problem and explains it in one line.
    """
    reader = open_readonly(url)
    if reader is None:
        return None
    try:
        return read(reader)
    except sqlite3.Error:
        return None
    finally:
        reader.close()


def _time(value: str | None) -> dt.datetime | None:
    """A stored time as the ORM gives it back: SQLite keeps naive UTC text; attach UTC."""
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _required_time(value: str) -> dt.datetime:
    moment = _time(value)
    assert moment is not None  # a NOT NULL column
    return moment


def _flag(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def _json(value: str | float | None) -> Any:
    # A JSON column has NUMERIC affinity in SQLite: a stored number comes back as a number.
    return json.loads(value) if isinstance(value, str) else value


class LiteReader:
    """Read-only queries on one open SQLite connection, inside one transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def close(self) -> None:
        """End the read transaction and close the connection."""
        self._conn.close()

    def services(self) -> list[ServiceView]:
        """All services, default first, then by name (as ``services.list_services``)."""
        return self._services("ORDER BY is_default DESC, name")

    def _services(self, where: str, params: tuple[object, ...] = ()) -> list[ServiceView]:
        rows = self._conn.execute(
            "SELECT id, name, preset, host, port, security, username, is_default, spf_include,"
            " spf_extra, pinned_sha256, last_test_at, last_test_ok, last_test_category,"
            f" last_test_detail, secret_ref FROM smtp_services {where}",
            params,
        )
        return [
            ServiceView(
                id=r[0],
                name=r[1],
                preset=r[2],
                host=r[3],
                port=r[4],
                security=r[5],
                username=r[6],
                is_default=bool(r[7]),
                spf_include=r[8],
                spf_extra=tuple(_json(r[9]) or ()),
                pinned_sha256=r[10],
                last_test_at=_time(r[11]),
                last_test_ok=_flag(r[12]),
                last_test_category=r[13],
                last_test_detail=r[14],
                secret_ref=r[15],
            )
            for r in rows
        ]

    def service_named(self, name: str) -> ServiceView | None:
        """The service called exactly ``name`` (as ``services.get_service``), or None."""
        found = self._services("WHERE name = ? LIMIT 1", (name,))
        return found[0] if found else None

    def domain_id(self, name: str) -> int | None:
        """The id of the dedicated domain stored under exactly ``name``, or None."""
        row = self._conn.execute(
            "SELECT id FROM dedicated_domains WHERE name = ? LIMIT 1", (name,)
        ).fetchone()
        return None if row is None else int(row[0])

    def signing_key(self, domain_id: int) -> DkimKeyRef | None:
        """The key a test send from this domain is signed with (as ``sending.dkim_signer``):
        the active key of the domain's selector, else its newest active key; None without one."""
        domain = self._conn.execute(
            "SELECT name, dkim_selector FROM dedicated_domains WHERE id = ?", (domain_id,)
        ).fetchone()
        if domain is None:
            return None
        keys = self._conn.execute(
            "SELECT selector, secret_ref FROM dkim_keys WHERE domain_id = ? AND state = 'active'"
            " ORDER BY created_at DESC, id DESC",
            (domain_id,),
        ).fetchall()
        key = next((k for k in keys if k[0] == domain[1]), None) or (keys[0] if keys else None)
        return None if key is None else DkimKeyRef(domain[0], key[0], key[1])

    def domains(self) -> list[DomainView]:
        """Every dedicated domain with its service's name, by name (as ``domains.list_domains``)."""
        from postdesk.core.validation import display_domain
        from postdesk.core.views import DomainView

        rows = self._conn.execute(
            "SELECT d.id, d.name, d.status, d.service_id, s.name, d.reply_to, d.dkim_selector,"
            " d.created_at, d.verified_at, d.last_checked_at, d.next_check_at, d.reception"
            " FROM dedicated_domains d LEFT JOIN smtp_services s ON s.id = d.service_id"
            " ORDER BY d.name"
        )
        return [
            DomainView(
                id=r[0],
                name=r[1],
                shown=display_domain(r[1]),
                status=r[2],
                service_id=r[3],
                service=r[4],
                reply_to=r[5],
                dkim_selector=r[6],
                created_at=_required_time(r[7]),
                verified_at=_time(r[8]),
                last_checked_at=_time(r[9]),
                next_check_at=_time(r[10]),
                reception=bool(r[11]),
            )
            for r in rows
        ]

    def smtp_users(self, domain_name: str) -> list[SmtpUserView]:
        """A domain's live SMTP users, oldest first (as ``credentials.list_smtp_users``).

        An unknown or malformed domain name is the same UserError the normal path gives.
        """
        from postdesk.core.domainname import to_a_label
        from postdesk.core.validation import quote_input
        from postdesk.core.views import SmtpUserView

        name = to_a_label(domain_name)
        found = self._conn.execute(
            "SELECT id, name FROM dedicated_domains WHERE name = ?", (name,)
        ).fetchone()
        if found is None:
            raise UserError(
                "domain.not_found",
                f"{quote_input(domain_name)} is not one of your dedicated domains.",
                "Add it first with Add Domain (or 'postdesk domain add').",
            )
        domain_id, stored = found
        rows = self._conn.execute(
            "SELECT u.id, u.login, u.created_at, u.last_used_at, s.name FROM smtp_users u"
            " LEFT JOIN smtp_services s ON s.id = u.service_id"
            " WHERE u.domain_id = ? AND u.deleted_at IS NULL ORDER BY u.created_at, u.id",
            (domain_id,),
        )
        return [
            SmtpUserView(
                id=r[0],
                domain_id=domain_id,
                domain=stored,
                login=r[1],
                username=f"{r[1]}@{stored}",
                created_at=_required_time(r[2]),
                last_used_at=_time(r[3]),
                service=r[4],
            )
            for r in rows
        ]

    def ips(self) -> list[IpView]:
        """All dedicated IPs in the order they were added (as ``ips.list_ips``)."""
        from postdesk.core.views import IpView

        rows = self._conn.execute(
            "SELECT id, address, label, created_at, last_checked_at, last_status, last_report"
            " FROM dedicated_ips ORDER BY id"
        )
        views = []
        for r in rows:
            report = _json(r[6])
            views.append(
                IpView(
                    id=r[0],
                    address=r[1],
                    label=r[2],
                    created_at=_required_time(r[3]),
                    last_checked_at=_time(r[4]),
                    last_status=r[5],
                    last_report=dict(report) if isinstance(report, dict) else None,
                )
            )
        return views

    def daily_limit(self) -> int:
        """The workspace's daily limit setting, or its default."""
        row = self._conn.execute("SELECT value FROM settings WHERE key = 'daily_limit'").fetchone()
        value = DEFAULT_DAILY_LIMIT if row is None else _json(row[0])
        return int(value)

    def today(self, at: dt.datetime | None = None) -> usageday.Today:
        """Today's account-wide count against the limit (as ``usage.today``)."""
        day = usageday.utc_day(at)
        (sent,) = self._conn.execute(
            "SELECT coalesce(sum(sent), 0) FROM daily_usage WHERE day = ?", (day.isoformat(),)
        ).fetchone()
        return usageday.Today(day, int(sent), self.daily_limit())

    def daily_series(self, days: int, *, end: dt.date | None = None) -> list[tuple[dt.date, int]]:
        """Emails per day for the last ``days`` days up to ``end``, zeros filled in, oldest first
        (as ``usage.daily_series`` for the whole account)."""
        end = end or usageday.utc_day()
        start = end - dt.timedelta(days=days - 1)
        rows = self._conn.execute(
            "SELECT day, sum(sent) FROM daily_usage WHERE day >= ? AND day <= ? GROUP BY day",
            (start.isoformat(), end.isoformat()),
        )
        counts = {dt.date.fromisoformat(day): int(n) for day, n in rows}
        return [
            (start + dt.timedelta(days=i), counts.get(start + dt.timedelta(days=i), 0))
            for i in range(days)
        ]
