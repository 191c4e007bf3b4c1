"""`idp keys`: the signing keys and the sealing of secrets."""

from __future__ import annotations

from datetime import timedelta

import click
import sqlalchemy as sa
from flask import Flask

from ..services import services
from .common import fail, with_app

keys_group = click.Group("keys", help="Signing keys.")


@keys_group.command("rotate")
@with_app
def keys_rotate(app: Flask) -> None:
    """Make a new signing key current; old keys stay in the JWKS until their tokens expire."""
    from ..keys import rotate

    tokens = services(app).settings.tokens
    publish_for = timedelta(
        seconds=max(tokens.id_token_lifetime_seconds, tokens.access_token_lifetime_seconds) + 300
    )
    row = rotate(services(app).clock.now(), publish_for)
    click.echo(f"new signing key {row.kid}; previous keys published for {publish_for}")


@keys_group.command("reseal")
@with_app
def keys_reseal(app: Flask) -> None:
    """Seal every signing key and TOTP secret again under the current secret_key (after
    changing it, with the old one in old_secret_keys)."""
    from ..keys import reseal_all
    from ..secretbox import SecretUnreadable

    try:
        keys, secrets_ = reseal_all()
    except SecretUnreadable as exc:
        fail(f"{exc}: add the secret_key they were sealed with to old_secret_keys")
        return
    click.echo(
        f"resealed {keys} signing keys and {secrets_} TOTP secrets under the current "
        "secret_key; old_secret_keys can now be emptied"
    )


@keys_group.command("list")
@with_app
def keys_list(app: Flask) -> None:
    """The signing keys: id, created, retired, published until."""
    from ..extensions import db
    from ..models import SigningKey

    rows = db.session.scalars(sa.select(SigningKey).order_by(SigningKey.created_at))
    for row in rows:
        state = (
            "current"
            if row.retired_at is None
            else (
                f"retired {row.retired_at:%Y-%m-%d %H:%M}, published until "
                f"{row.publish_until:%Y-%m-%d %H:%M}"
                if row.publish_until
                else "retired"
            )
        )
        click.echo(f"{row.kid}  {row.alg}  created {row.created_at:%Y-%m-%d %H:%M}  {state}")
