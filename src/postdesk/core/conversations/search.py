"""Full-text search over received messages: sender, recipients, subject and body text.

SQLite asks the FTS5 table, PostgreSQL the GIN index over ``to_tsvector`` (both made by
``schema``). What the user typed is never passed on as query syntax: it is split into words and
each word is quoted, so ``"``, ``*``, ``OR``, ``:`` or ``!`` are just characters; every word must
appear (the last one may be the start of a word, as the search box is typed into).
Newest matches first: ids grow with arrival, so both databases can stop after ``limit`` rows.
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.orm import Session

from postdesk.core.conversations.schema import FTS_TABLE, PG_DOCUMENT

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
    sql = text(
        f"SELECT m.{column} FROM {FTS_TABLE} "
        f"JOIN inbound_messages AS m ON m.id = {FTS_TABLE}.rowid "
        f"WHERE {FTS_TABLE} MATCH :q AND m.domain_id = :domain "
        f"ORDER BY {FTS_TABLE}.rowid DESC LIMIT :limit OFFSET :offset"
    )
    params = {"domain": domain_id, "q": match, "limit": limit, "offset": offset}
    return [row[0] for row in session.execute(sql, params)]


def _pg_matching(
    session: Session, domain_id: int, query: str, wanted: int, column: str
) -> list[int]:
    """The newest ``wanted`` matches on PostgreSQL, collected through the GIN index.

    The planner prices ``to_tsvector`` far below what it costs, so for a word in many messages
    it would rather read the whole table working out every message's tsvector (seconds at
    100,000 messages) than use the index: sequential scans are off for this one statement, and
    ``domain_id + 0`` keeps it off the other indexes that start with the domain. MATERIALIZED
    keeps it from walking the primary key backwards working out tsvectors instead.
    """
    tsquery = pg_tsquery(query)
    if not tsquery:
        return []
    sql = text(
        f"WITH hits AS MATERIALIZED (SELECT id, thread_id FROM inbound_messages "
        f"WHERE domain_id + 0 = :domain AND {PG_DOCUMENT} @@ to_tsquery('simple'::regconfig, :q)) "
        f"SELECT {column} FROM hits ORDER BY id DESC LIMIT :limit"
    )
    session.execute(text("SELECT set_config('enable_seqscan', 'off', true)"))
    try:
        rows = session.execute(sql, {"domain": domain_id, "q": tsquery, "limit": wanted})
        return [row[0] for row in rows]
    finally:
        session.execute(text("SELECT set_config('enable_seqscan', 'on', true)"))
