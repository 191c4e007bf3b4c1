"""Alembic environment: the provider's models are the target metadata."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

import idp.models  # noqa: F401  (registers the tables)
from idp.extensions import db

config = context.config
target_metadata = db.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = context.config.attributes.get("connection")
    if connectable is None:
        engine = sa.create_engine(
            config.get_main_option("sqlalchemy.url") or "", poolclass=sa.pool.NullPool
        )
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
    else:
        _run(connectable)


def _run(connection: sa.Connection) -> None:
    # Batch mode lets ALTERs work on SQLite, which cannot alter most columns in place.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
