"""The full-text search objects of Conversations, beside the tables the models declare.

SQLite searches an FTS5 table kept in step with ``inbound_messages`` by triggers; PostgreSQL
searches a stored ``tsvector`` column of the same columns (a generated column, so every insert
path fills it and a migration fills it for the messages already there) through a GIN index.
Neither can be declared as a model (the column exists on PostgreSQL only), so they are DDL run
after ``inbound_messages`` is created: by migrations 0004 and 0005 on an existing workspace, and
by the listeners below when a brand-new workspace is created from the models. The migrations
carry their own copies of these statements (a migration must not change when this module does
later); a test checks both roads make the same schema.
"""

from __future__ import annotations

from sqlalchemy import DDL, event

from postdesk.core.store.models import InboundMessage

FTS_TABLE = "inbound_fts"
PG_INDEX = "ix_inbound_messages_search"
PG_COLUMN = "search_document"
# What the stored column holds. 'simple': no stemming, so any language is found as written
# (mail arrives in every language).
# The addresses appear twice: whole (an address is one token) and split at '@' (its domain is
# then a token of its own, so a search for the sender's domain finds it too).
PG_DOCUMENT = (
    "to_tsvector('simple'::regconfig, subject || ' ' || from_header || ' ' || to_header "
    "|| ' ' || replace(from_header || ' ' || to_header, '@', ' ') || ' ' || body_text)"
)

SQLITE_DDL = [
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(subject, from_header, to_header, body_text, "
    "content='inbound_messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2', "
    "prefix='2 3 4')",  # prefix indexes: a word being typed is looked up, not scanned for
    f"CREATE TRIGGER inbound_fts_ai AFTER INSERT ON inbound_messages BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, subject, from_header, to_header, body_text) "
    "VALUES (new.id, new.subject, new.from_header, new.to_header, new.body_text); END",
    f"CREATE TRIGGER inbound_fts_ad AFTER DELETE ON inbound_messages BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, subject, from_header, to_header, body_text) "
    "VALUES ('delete', old.id, old.subject, old.from_header, old.to_header, old.body_text); END",
    # Only a change of the indexed columns re-indexes (marking read must not rewrite the index).
    f"CREATE TRIGGER inbound_fts_au AFTER UPDATE OF subject, from_header, to_header, body_text "
    f"ON inbound_messages BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, subject, from_header, to_header, body_text) "
    "VALUES ('delete', old.id, old.subject, old.from_header, old.to_header, old.body_text); "
    f"INSERT INTO {FTS_TABLE}(rowid, subject, from_header, to_header, body_text) "
    "VALUES (new.id, new.subject, new.from_header, new.to_header, new.body_text); END",
]
# Stored, not worked out per query: checking a message against a search is then cheap enough to
# walk the newest messages in order and stop at a page (see ``search``).
POSTGRES_DDL = [
    f"ALTER TABLE inbound_messages ADD COLUMN {PG_COLUMN} tsvector "
    f"GENERATED ALWAYS AS ({PG_DOCUMENT}) STORED",
    # New entries wait in the index's pending list, which every search reads through; the
    # default 4 MB of it cost 5-15 ms a search, 256 kB is merged in more often and costs ~1 ms.
    f"CREATE INDEX {PG_INDEX} ON inbound_messages USING gin ({PG_COLUMN}) "
    "WITH (gin_pending_list_limit = 256)",
]

SEARCH_TABLES = frozenset(
    {FTS_TABLE, *(f"{FTS_TABLE}_{part}" for part in ("data", "idx", "docsize", "config"))}
)


def is_search_object(name: str | None, type_: str) -> bool:
    """True for the search objects above, which the models do not declare."""
    return (
        (type_ == "table" and name in SEARCH_TABLES)
        or (type_ == "index" and name == PG_INDEX)
        or (type_ == "column" and name == PG_COLUMN)
    )


def include_object(_object: object, name: str | None, type_: str, *_rest: object) -> bool:
    """Alembic's ``include_object`` hook: comparisons with the models leave the search objects
    out (otherwise autogenerate would propose dropping them)."""
    return not is_search_object(name, type_)


for _statement in SQLITE_DDL:
    event.listen(
        InboundMessage.__table__, "after_create", DDL(_statement).execute_if(dialect="sqlite")
    )
for _statement in POSTGRES_DDL:
    event.listen(
        InboundMessage.__table__, "after_create", DDL(_statement).execute_if(dialect="postgresql")
    )
