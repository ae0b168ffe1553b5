"""Alembic runs on the connection storage.migrate hands it, so start-up, `bot migrate`
and the tests share one code path and one engine."""
from alembic import context

from storage.models import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
