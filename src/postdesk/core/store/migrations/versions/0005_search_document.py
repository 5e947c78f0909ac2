"""stored search document

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 16:05:00.000000

Search walks a domain's received messages newest first: an index on (domain_id, id) on both
databases. On PostgreSQL the tsvector the GIN index held as an expression becomes a stored,
generated column (filled for the messages already there by ALTER TABLE itself, and by the
database for every later insert) and the GIN index is rebuilt over that column, with a small
pending list (every search reads through it). A brand-new
workspace gets the same objects from postdesk.core.conversations.schema.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_PG_DOCUMENT = (
    "to_tsvector('simple'::regconfig, subject || ' ' || from_header || ' ' || to_header "
    "|| ' ' || replace(from_header || ' ' || to_header, '@', ' ') || ' ' || body_text)"
)


def upgrade() -> None:
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbound_messages_domain_newest", ["domain_id", "id"], unique=False
        )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_inbound_messages_search")
    op.execute(
        "ALTER TABLE inbound_messages ADD COLUMN search_document tsvector "
        f"GENERATED ALWAYS AS ({_PG_DOCUMENT}) STORED"
    )
    op.execute(
        "CREATE INDEX ix_inbound_messages_search ON inbound_messages USING gin (search_document) "
        "WITH (gin_pending_list_limit = 256)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_inbound_messages_search")
        op.execute("ALTER TABLE inbound_messages DROP COLUMN search_document")
        op.execute(
            "CREATE INDEX ix_inbound_messages_search ON inbound_messages "
            f"USING gin ({_PG_DOCUMENT})"
        )
    op.drop_index("ix_inbound_messages_domain_newest", table_name="inbound_messages")
