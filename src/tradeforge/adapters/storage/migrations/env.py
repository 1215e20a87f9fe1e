"""Alembic environment: runs with the connection handed in by tradeforge.adapters.storage.migrate."""

from __future__ import annotations

from alembic import context

from tradeforge.adapters.storage.tables import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only the programmatic entry point is supported
    raise RuntimeError("run migrations through 'tradeforge db upgrade'")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
