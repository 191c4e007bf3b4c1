"""Alembic, driven from code: `idp db upgrade` and the start-up schema check."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema to `revision` (creating it on an empty database)."""
    command.upgrade(alembic_config(database_url), revision)


def check_current(database_url: str) -> str | None:
    """None when the schema is at the newest revision, else a one-line problem."""
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except sa.exc.OperationalError as exc:
        return f"database {engine.url.render_as_string(hide_password=True)}: {exc.orig}"
    finally:
        engine.dispose()
    if current != head:
        return (
            f"database schema is at {current or 'nothing'}, this version needs {head}: "
            "run `idp db upgrade`"
        )
    return None
