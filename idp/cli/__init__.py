"""The `idp` command line (a Flask CLI group, so `flask --app idp` works too).

One module per command group; each defines its group (or command) and this package puts
them together. What they share is in `common` (and `idp.startup`, which the server
workers use too).
"""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import Flask

from ..errors import ConfigError, PasswordPolicyError
from ..startup import build_app, fail
from .backchannel import backchannel_group
from .clients import clients_group
from .db import db_group
from .demo import demo
from .keys import keys_group
from .notify import notify_group
from .policy import policy_group
from .risk import risk_group
from .serve import serve
from .users import users_group

__all__ = ["build_app", "cli", "main", "register_commands"]

cli = click.version_option(package_name="idp", prog_name="idp")(
    click.Group("idp", help="OpenID Connect provider with risk-based sign-in.")
)

for command in (
    db_group,
    users_group,
    clients_group,
    keys_group,
    serve,
    demo,
    risk_group,
    notify_group,
    policy_group,
    backchannel_group,
):
    cli.add_command(command)


def register_commands(app: Flask) -> None:
    """Expose the same commands under `flask --app idp`."""
    for name, command in cli.commands.items():
        app.cli.add_command(command, name)


def main() -> None:
    try:
        cli.main(prog_name="idp")
    except (ConfigError, PasswordPolicyError) as exc:
        fail(str(exc))
    except sa.exc.OperationalError as exc:
        fail(f"database error: {exc.orig}")
