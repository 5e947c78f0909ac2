"""activity, suppression and reception

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 12:38:18.493076
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint("provider", "event_id", name=op.f("uq_webhook_events_provider")),
    )
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_events_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "dmarc_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=True),
        sa.Column("policy_domain", sa.String(length=253), nullable=False),
        sa.Column("org_name", sa.String(length=200), nullable=False),
        sa.Column("report_id", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("begin_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["dedicated_domains.id"],
            name=op.f("fk_dmarc_reports_domain_id_dedicated_domains"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dmarc_reports")),
        sa.UniqueConstraint("org_name", "report_id", name=op.f("uq_dmarc_reports_org_name")),
    )
    with op.batch_alter_table("dmarc_reports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_dmarc_reports_domain_begin", ["policy_domain", "begin_at"], unique=False
        )

    op.create_table(
        "forward_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("local_part", sa.String(length=64), nullable=False),
        sa.Column("destination", sa.String(length=320), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["dedicated_domains.id"],
            name=op.f("fk_forward_rules_domain_id_dedicated_domains"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forward_rules")),
        sa.UniqueConstraint(
            "domain_id", "local_part", "destination", name=op.f("uq_forward_rules_domain_id")
        ),
    )
    op.create_table(
        "inbound_threads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("unread_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["dedicated_domains.id"],
            name=op.f("fk_inbound_threads_domain_id_dedicated_domains"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_threads")),
    )
    with op.batch_alter_table("inbound_threads", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbound_threads_domain_last", ["domain_id", "last_at"], unique=False
        )

    op.create_table(
        "sender_addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("code_hash", sa.String(length=128), nullable=True),
        sa.Column("code_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["dedicated_domains.id"],
            name=op.f("fk_sender_addresses_domain_id_dedicated_domains"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sender_addresses")),
        sa.UniqueConstraint("address", name=op.f("uq_sender_addresses_address")),
    )
    op.create_table(
        "dmarc_rows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("source_ip", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("disposition", sa.String(length=12), nullable=False),
        sa.Column("dkim", sa.String(length=12), nullable=False),
        sa.Column("spf", sa.String(length=12), nullable=False),
        sa.Column("header_from", sa.String(length=253), nullable=False),
        sa.Column("envelope_from", sa.String(length=253), nullable=False),
        sa.Column("auth", sa.JSON(), nullable=False),
        sa.Column("ptr", sa.String(length=253), nullable=True),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["dmarc_reports.id"],
            name=op.f("fk_dmarc_rows_report_id_dmarc_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dmarc_rows")),
    )
    with op.batch_alter_table("dmarc_rows", schema=None) as batch_op:
        batch_op.create_index("ix_dmarc_rows_report", ["report_id"], unique=False)

    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=True),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("remote_ip", sa.String(length=64), nullable=False),
        sa.Column("helo", sa.String(length=255), nullable=False),
        sa.Column("mail_from", sa.String(length=320), nullable=False),
        sa.Column("rcpt_tos", sa.JSON(), nullable=False),
        sa.Column("from_header", sa.String(length=400), nullable=False),
        sa.Column("to_header", sa.Text(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("message_id_header", sa.String(length=300), nullable=False),
        sa.Column("in_reply_to", sa.String(length=300), nullable=False),
        sa.Column("references", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("spf", sa.String(length=12), nullable=False),
        sa.Column("dkim", sa.String(length=12), nullable=False),
        sa.Column("dmarc", sa.String(length=12), nullable=False),
        sa.Column("auth_results", sa.Text(), nullable=False),
        sa.Column("unread", sa.Boolean(), nullable=False),
        sa.Column("pending", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["dedicated_domains.id"],
            name=op.f("fk_inbound_messages_domain_id_dedicated_domains"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["inbound_threads.id"],
            name=op.f("fk_inbound_messages_thread_id_inbound_threads"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_messages")),
    )
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbound_messages_domain_received", ["domain_id", "received_at"], unique=False
        )
        batch_op.create_index("ix_inbound_messages_message_id", ["message_id_header"], unique=False)
        batch_op.create_index(
            "ix_inbound_messages_thread", ["thread_id", "received_at"], unique=False
        )

    op.create_table(
        "message_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("bounce_class", sa.String(length=30), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["relay_queue.id"],
            name=op.f("fk_message_events_message_id_relay_queue"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_events")),
    )
    with op.batch_alter_table("message_events", schema=None) as batch_op:
        batch_op.create_index("ix_message_events_kind_at", ["kind", "at"], unique=False)
        batch_op.create_index("ix_message_events_message", ["message_id", "at"], unique=False)

    op.create_table(
        "message_recipients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("bounce_class", sa.String(length=30), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["relay_queue.id"],
            name=op.f("fk_message_recipients_message_id_relay_queue"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_recipients")),
    )
    with op.batch_alter_table("message_recipients", schema=None) as batch_op:
        batch_op.create_index(
            "ix_message_recipients_address", ["address", "message_id"], unique=False
        )
        batch_op.create_index("ix_message_recipients_message", ["message_id"], unique=False)

    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("scope", sa.String(length=253), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["relay_queue.id"],
            name=op.f("fk_suppressions_message_id_relay_queue"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
        sa.UniqueConstraint("address", "scope", name=op.f("uq_suppressions_address")),
    )
    with op.batch_alter_table("dedicated_domains", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "one_click_unsubscribe", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(
            sa.Column("reception", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("sender_policy", sa.String(length=10), nullable=False, server_default="any")
        )

    with op.batch_alter_table("relay_queue", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=10), nullable=False, server_default="relay")
        )
        batch_op.add_column(
            sa.Column("critical", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("provider_message_id", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("bounce_class", sa.String(length=30), nullable=True))
        batch_op.create_index("ix_relay_queue_accepted", ["accepted_at"], unique=False)
        batch_op.create_index(
            "ix_relay_queue_message_id_header", ["message_id_header"], unique=False
        )
        batch_op.create_index(
            "ix_relay_queue_provider_message_id", ["provider_message_id"], unique=False
        )

    with op.batch_alter_table("smtp_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("service_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_smtp_users_service_id_smtp_services"),
            "smtp_services",
            ["service_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:

    with op.batch_alter_table("smtp_users", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_smtp_users_service_id_smtp_services"), type_="foreignkey"
        )
        batch_op.drop_column("service_id")

    with op.batch_alter_table("relay_queue", schema=None) as batch_op:
        batch_op.drop_index("ix_relay_queue_provider_message_id")
        batch_op.drop_index("ix_relay_queue_message_id_header")
        batch_op.drop_index("ix_relay_queue_accepted")
        batch_op.drop_column("bounce_class")
        batch_op.drop_column("provider_message_id")
        batch_op.drop_column("critical")
        batch_op.drop_column("source")

    with op.batch_alter_table("dedicated_domains", schema=None) as batch_op:
        batch_op.drop_column("sender_policy")
        batch_op.drop_column("reception")
        batch_op.drop_column("one_click_unsubscribe")

    op.drop_table("suppressions")
    with op.batch_alter_table("message_recipients", schema=None) as batch_op:
        batch_op.drop_index("ix_message_recipients_message")
        batch_op.drop_index("ix_message_recipients_address")

    op.drop_table("message_recipients")
    with op.batch_alter_table("message_events", schema=None) as batch_op:
        batch_op.drop_index("ix_message_events_message")
        batch_op.drop_index("ix_message_events_kind_at")

    op.drop_table("message_events")
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_messages_thread")
        batch_op.drop_index("ix_inbound_messages_message_id")
        batch_op.drop_index("ix_inbound_messages_domain_received")

    op.drop_table("inbound_messages")
    with op.batch_alter_table("dmarc_rows", schema=None) as batch_op:
        batch_op.drop_index("ix_dmarc_rows_report")

    op.drop_table("dmarc_rows")
    op.drop_table("sender_addresses")
    with op.batch_alter_table("inbound_threads", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_threads_domain_last")

    op.drop_table("inbound_threads")
    op.drop_table("forward_rules")
    with op.batch_alter_table("dmarc_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_dmarc_reports_domain_begin")

    op.drop_table("dmarc_reports")
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_events_received_at"))

    op.drop_table("webhook_events")
