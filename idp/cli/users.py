"""`idp users`: create, change, disable and delete users."""

from __future__ import annotations

from typing import Any

import click
import sqlalchemy as sa
from flask import Flask

from .common import fail, read_password, with_app

users_group = click.Group("users", help="Manage users.")


@users_group.command("add")
@click.argument("name")
@click.option("--email", default=None)
@click.option("--name", "display_name", default=None, help="Display name (the `name` claim).")
@click.option("--group", "groups", multiple=True, help="Group membership (repeatable).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_app
def users_add(
    app: Flask,
    name: str,
    email: str | None,
    display_name: str | None,
    groups: tuple[str, ...],
    password_stdin: bool,
) -> None:
    """Create a user."""
    from ..claims import CLAIMS, set_claims
    from ..users import create_user

    if display_name:
        check = CLAIMS["name"].check
        assert check is not None
        check("name", display_name)  # refused before the user exists
    password = read_password(password_stdin)
    user = create_user(app, name, password, email=email, groups=list(groups))
    if display_name:
        set_claims(user, {"name": display_name})
    click.echo(f"created user {user.username} ({user.id})")


@users_group.command("set-claims")
@click.argument("name")
@click.argument("assignments", nargs=-1, metavar="CLAIM=VALUE...")
@click.option(
    "--unset",
    "unset",
    multiple=True,
    metavar="CLAIM",
    help="Remove a claim (repeatable); address.FIELD removes one address field.",
)
@with_app
def users_set_claims(
    app: Flask, name: str, assignments: tuple[str, ...], unset: tuple[str, ...]
) -> None:
    """Set OpenID Connect profile claims: given_name=Ada, address.locality=Berlin,
    email_verified=true ...; nothing changes unless every value is valid."""
    from ..claims import parse_assignment, set_claims
    from ..users import find_user

    if not assignments and not unset:
        fail("name at least one CLAIM=VALUE or --unset CLAIM")
    changes: dict[str, Any] = dict(parse_assignment(text) for text in assignments)
    for claim in unset:
        if claim in changes:
            fail(f"{claim} is both set and unset")
        changes[claim] = None
    user = find_user(name)
    changed = set_claims(user, changes)
    click.echo(
        f"updated {', '.join(changed)} for {user.username}"
        if changed
        else f"nothing changed for {user.username}"
    )


@users_group.command("set-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--temporary", is_flag=True, help="The user must change it at the next sign-in.")
@with_app
def users_set_password(app: Flask, name: str, password_stdin: bool, temporary: bool) -> None:
    """Set a user's password."""
    from ..users import find_user, set_password

    user = find_user(name)
    password = read_password(password_stdin)
    set_password(app, user, password, temporary=temporary)
    click.echo(f"password set for {user.username}" + (" (temporary)" if temporary else ""))


@users_group.command("list")
@with_app
def users_list(app: Flask) -> None:
    """Every user: name, id, groups, second factor, state."""
    from ..extensions import db
    from ..models import User
    from ..passkeys import factors

    for user in db.session.scalars(sa.select(User).order_by(User.username)):
        factor = ",".join(factors(user)).lower() or "no second factor"
        state = "disabled" if user.disabled else "enabled"
        groups = ",".join(user.groups or []) or "-"
        click.echo(f"{user.username}  {user.id}  groups={groups}  {factor}  {state}")


@users_group.command("disable")
@click.argument("name")
@with_app
def users_disable(app: Flask, name: str) -> None:
    """Disable a user: signed out everywhere, no sign-in, tokens refused."""
    from ..users import find_user, set_disabled

    set_disabled(find_user(name), True)
    click.echo(f"disabled {name}; their sessions and tokens are revoked")


@users_group.command("enable")
@click.argument("name")
@with_app
def users_enable(app: Flask, name: str) -> None:
    """Enable a disabled user."""
    from ..users import find_user, set_disabled

    set_disabled(find_user(name), False)
    click.echo(f"enabled {name}")


@users_group.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_app
def users_delete(app: Flask, name: str, yes: bool) -> None:
    """Delete a user and everything of theirs."""
    from ..users import delete_user, find_user

    user = find_user(name)
    if not yes:
        click.confirm(f"delete user {name} and their sessions, tokens and history?", abort=True)
    delete_user(user)
    click.echo(f"deleted {name}")


@users_group.command("reset-mfa")
@click.argument("name")
@with_app
def users_reset_mfa(app: Flask, name: str) -> None:
    """Remove a user's authenticator and recovery codes (a lost phone)."""
    from ..users import find_user, reset_second_factors

    reset_second_factors(find_user(name), initiated_by="cli")
    click.echo(f"second factors of {name} removed; they register again at the next sign-in")
