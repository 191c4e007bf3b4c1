"""`idp db`: the database schema."""

from __future__ import annotations

import click
from flask import Flask

from ..services import services
from .common import with_app

db_group = click.Group("db", help="Database schema.")


@db_group.command("upgrade")
@with_app
def db_upgrade(app: Flask) -> None:
    """Create or migrate the schema to the newest revision (Alembic)."""
    from ..keys import ensure_key, reseal_clear_keys
    from ..migrate import upgrade

    upgrade(app.config["SQLALCHEMY_DATABASE_URI"])
    ensure_key(services(app).clock.now())
    reseal_clear_keys()
    click.echo("database is up to date")
