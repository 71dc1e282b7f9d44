"""Alembic environment: runs on the connection handed over by :func:`connector.store.database.migrate`."""

from __future__ import annotations

from alembic import context

from connector.store.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when someone runs the alembic CLI by hand
    raise RuntimeError("run migrations through `connector` (connector.store.database.migrate)")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
