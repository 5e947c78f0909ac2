"""conversation search

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 12:55:00.000000

Full-text search over received messages: an FTS5 table kept in step by triggers on SQLite (filled
from the messages already stored), a GIN index over to_tsvector on PostgreSQL. A brand-new
workspace gets the same objects from postdesk.core.conversations.schema.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_COLUMNS = "subject, from_header, to_header, body_text"
_NEW = "new.id, new.subject, new.from_header, new.to_header, new.body_text"
_OLD = "'delete', old.id, old.subject, old.from_header, old.to_header, old.body_text"
_PG_DOCUMENT = (
    "to_tsvector('simple'::regconfig, subject || ' ' || from_header || ' ' || to_header "
    "|| ' ' || replace(from_header || ' ' || to_header, '@', ' ') || ' ' || body_text)"
)


def upgrade() -> None:
    # Threading's lookups: a thread by its subject, a message by the one it replies to.
    with op.batch_alter_table("inbound_threads", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbound_threads_domain_subject", ["domain_id", "subject"], unique=False
        )
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbound_messages_in_reply_to", ["domain_id", "in_reply_to"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_inbound_messages_search ON inbound_messages "
            f"USING gin ({_PG_DOCUMENT})"
        )
        return
    op.execute(
        f"CREATE VIRTUAL TABLE inbound_fts USING fts5({_COLUMNS}, content='inbound_messages', "
        "content_rowid='id', tokenize='unicode61 remove_diacritics 2', prefix='2 3 4')"
    )
    op.execute(
        "CREATE TRIGGER inbound_fts_ai AFTER INSERT ON inbound_messages BEGIN "
        f"INSERT INTO inbound_fts(rowid, {_COLUMNS}) VALUES ({_NEW}); END"
    )
    op.execute(
        "CREATE TRIGGER inbound_fts_ad AFTER DELETE ON inbound_messages BEGIN "
        f"INSERT INTO inbound_fts(inbound_fts, rowid, {_COLUMNS}) VALUES ({_OLD}); END"
    )
    op.execute(
        f"CREATE TRIGGER inbound_fts_au AFTER UPDATE OF {_COLUMNS} ON inbound_messages BEGIN "
        f"INSERT INTO inbound_fts(inbound_fts, rowid, {_COLUMNS}) VALUES ({_OLD}); "
        f"INSERT INTO inbound_fts(rowid, {_COLUMNS}) VALUES ({_NEW}); END"
    )
    op.execute("INSERT INTO inbound_fts(inbound_fts) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_inbound_messages_search")
    else:
        for trigger in ("inbound_fts_ai", "inbound_fts_ad", "inbound_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS inbound_fts")
    op.drop_index("ix_inbound_messages_in_reply_to", table_name="inbound_messages")
    op.drop_index("ix_inbound_threads_domain_subject", table_name="inbound_threads")
