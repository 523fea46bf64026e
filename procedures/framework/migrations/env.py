"""Alembic environment of the run catalog: run in-process by
:mod:`procedures.framework.catalog_schema`,
which passes an open connection (no alembic.ini, no logging set-up)."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
