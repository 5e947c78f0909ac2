"""relay queue and tracking events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 13:15:02.400045
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "relay_queue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("smtp_user_id", sa.Integer(), nullable=True),
        sa.Column("mail_from", sa.String(length=320), nullable=False),
        sa.Column("rcpt_tos", sa.JSON(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("message_id_header", sa.String(length=300), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_reply", sa.Text(), nullable=True),
        sa.Column("track_open", sa.Boolean(), nullable=False),
        sa.Column("track_click", sa.Boolean(), nullable=False),
        sa.Column("tracking_token", sa.String(length=40), nullable=False),
        sa.Column("tracking_key", sa.String(length=64), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["dedicated_domains.id"],
            name=op.f("fk_relay_queue_domain_id_dedicated_domains"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["smtp_user_id"],
            ["smtp_users.id"],
            name=op.f("fk_relay_queue_smtp_user_id_smtp_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relay_queue")),
        sa.UniqueConstraint("tracking_token", name=op.f("uq_relay_queue_tracking_token")),
    )
    with op.batch_alter_table("relay_queue", schema=None) as batch_op:
        batch_op.create_index(
            "ix_relay_queue_domain_status", ["domain_id", "status", "id"], unique=False
        )
        batch_op.create_index(
            "ix_relay_queue_status_accepted", ["status", "accepted_at"], unique=False
        )

    op.create_table(
        "tracking_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("remote", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["relay_queue.id"],
            name=op.f("fk_tracking_events_message_id_relay_queue"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_events")),
    )
    with op.batch_alter_table("tracking_events", schema=None) as batch_op:
        batch_op.create_index("ix_tracking_events_message", ["message_id", "kind"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tracking_events", schema=None) as batch_op:
        batch_op.drop_index("ix_tracking_events_message")

    op.drop_table("tracking_events")
    with op.batch_alter_table("relay_queue", schema=None) as batch_op:
        batch_op.drop_index("ix_relay_queue_status_accepted")
        batch_op.drop_index("ix_relay_queue_domain_status")

    op.drop_table("relay_queue")
