"""Alembic environment: always run programmatically with a connection handed in by the store."""

from alembic import context

from postdesk.core.conversations.schema import include_object
from postdesk.core.store.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_object=include_object,
)
with context.begin_transaction():
    context.run_migrations()
