"""Full-text search over received messages: sender, recipients, subject and body text.

SQLite asks the FTS5 table, PostgreSQL its stored tsvector column and the GIN index over it
(both made by ``schema``). What the user typed is never passed on as query syntax: it is split
into words and each word is quoted, so ``"``, ``*``, ``OR``, ``:`` or ``!`` are just characters;
every word must appear (the last one may be the start of a word, as the search box is typed
into). Newest matches first: ids grow with arrival, so both databases walk the matches newest
first and stop after ``limit`` rows, and a word in half the messages costs what a rare one does.
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.orm import Session

from postdesk.core.conversations.schema import FTS_TABLE, PG_COLUMN

MAX_WORDS = 12
_PG_WORD = re.compile(r"[^\w@.+-]+")


def words(query: str) -> list[str]:
    """The words of a search, in order, at most ``MAX_WORDS``."""
    return [w for w in query.split() if w.strip()][:MAX_WORDS]


def fts5_query(query: str) -> str:
    """An FTS5 MATCH expression in which every word is a quoted string (the last a prefix)."""
    found = words(query)
    quoted = ['"' + w.replace('"', '""') + '"' for w in found]
    if quoted:
        quoted[-1] += "*"
    return " ".join(quoted)


def pg_tsquery(query: str) -> str:
    """A to_tsquery expression: every word quoted as a lexeme, ANDed, the last one a prefix."""
    parts = []
    for word in words(query):
        cleaned = _PG_WORD.sub(" ", word).strip().strip(".-+@")
        for piece in cleaned.split():
            parts.append("'" + piece.lower() + "'")
    if not parts:
        return ""
    parts[-1] += ":*"
    return " & ".join(parts)


def matching_ids(
    session: Session,
    domain_id: int,
    query: str,
    *,
    limit: int = 200,
    offset: int = 0,
    column: str = "id",
) -> list[int]:
    """The ids of the domain's messages matching ``query``, newest first (with
    ``column="thread_id"``: the thread of each of those messages instead)."""
    if column not in ("id", "thread_id"):
        raise ValueError(column)
    if session.get_bind().dialect.name == "postgresql":
        return _pg_matching(session, domain_id, query, limit + offset, column)[offset:]
    match = fts5_query(query)
    if not match:
        return []
    # FTS5 hands its matches over newest first (rowid descending, no sort step) and the LIMIT
    # stops it after a page, however many messages match. CROSS JOIN keeps SQLite from driving
    # the search from the domain's index instead (one full-text lookup per message).
    sql = text(
        f"SELECT m.{column} FROM {FTS_TABLE} "
        f"CROSS JOIN inbound_messages AS m ON m.id = {FTS_TABLE}.rowid "
        f"WHERE {FTS_TABLE} MATCH :q AND m.domain_id = :domain "
        f"ORDER BY {FTS_TABLE}.rowid DESC LIMIT :limit OFFSET :offset"
    )
    params = {"domain": domain_id, "q": match, "limit": limit, "offset": offset}
    return [row[0] for row in session.execute(sql, params)]


def _pg_matching(
    session: Session, domain_id: int, query: str, wanted: int, column: str
) -> list[int]:
    """The newest ``wanted`` matches on PostgreSQL.

    The tsvector is stored, so checking one message is cheap and the planner prices it right:
    for a word in many messages it walks the domain's messages newest first and stops at
    ``wanted`` (a word in half the messages costs what a page of them costs); for a rare word
    it asks the GIN index for the few matches and sorts those.
    """
    tsquery = pg_tsquery(query)
    if not tsquery:
        return []
    sql = text(
        f"SELECT {column} FROM inbound_messages WHERE domain_id = :domain "
        f"AND {PG_COLUMN} @@ to_tsquery('simple'::regconfig, :q) ORDER BY id DESC LIMIT :limit"
    )
    # Plan for these very words every time (until the transaction ends): the driver prepares a
    # statement that runs often, and a plan kept for one word (walk, or ask the index) is the
    # slow one for another -- hundreds of milliseconds instead of tens.
    session.execute(text("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)"))
    rows = session.execute(sql, {"domain": domain_id, "q": tsquery, "limit": wanted})
    return [row[0] for row in rows]
