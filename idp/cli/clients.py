"""`idp clients`: register and manage OAuth clients (relying parties)."""

from __future__ import annotations

import json
import secrets

import click
import sqlalchemy as sa
from flask import Flask

from .common import with_app

clients_group = click.Group("clients", help="Manage OAuth clients (relying parties).")


@clients_group.command("add")
@click.argument("name")
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Allowed redirect URI.")
@click.option("--post-logout-redirect-uri", "logout_uris", multiple=True)
@click.option("--public", is_flag=True, help="A public client (no secret; PKCE S256 required).")
@click.option(
    "--grant-type",
    "grant_types",
    multiple=True,
    type=click.Choice(["authorization_code", "refresh_token", "client_credentials"]),
)
@click.option("--scope", "scopes", multiple=True)
@click.option(
    "--third-party",
    "third_party",
    is_flag=True,
    help="Not the operator's own app: each user is asked to allow its scopes.",
)
@click.option(
    "--backchannel-logout-uri",
    "backchannel_logout_uri",
    default=None,
    metavar="URI",
    help="Where logout tokens are POSTed when a session of the "
    "user's ends (OpenID Connect Back-Channel Logout).",
)
@click.option(
    "--backchannel-logout-session-required",
    "backchannel_session_required",
    is_flag=True,
    help="Every logout token must carry the session's sid.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the credentials as JSON.")
@with_app
def clients_add(
    app: Flask,
    name: str,
    redirect_uris: tuple[str, ...],
    logout_uris: tuple[str, ...],
    public: bool,
    grant_types: tuple[str, ...],
    scopes: tuple[str, ...],
    third_party: bool,
    backchannel_logout_uri: str | None,
    backchannel_session_required: bool,
    as_json: bool,
) -> None:
    """Register a client and print its credentials."""
    from ..clients import create_client

    client, secret = create_client(
        name,
        redirect_uris=list(redirect_uris),
        post_logout_redirect_uris=list(logout_uris),
        public=public,
        grant_types=list(grant_types),
        scopes=list(scopes),
        first_party=not third_party,
        backchannel_logout_uri=backchannel_logout_uri,
        backchannel_logout_session_required=backchannel_session_required,
    )
    if as_json:
        click.echo(json.dumps({"client_id": client.client_id, "client_secret": secret}))
    else:
        click.echo(f"client_id:     {client.client_id}")
        if secret:
            click.echo(f"client_secret: {secret}   (shown once; store it now)")


@clients_group.command("list")
@with_app
def clients_list(app: Flask) -> None:
    """Every client: id, name, type, redirect URIs."""
    from ..extensions import db
    from ..models import Client

    for client in db.session.scalars(sa.select(Client).order_by(Client.name)):
        kind = "public" if client.is_public else "confidential"
        uris = " ".join(client.redirect_uris) or "-"
        click.echo(f"{client.client_id}  {client.name}  {kind}  {uris}")


@clients_group.command("rotate-secret")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True, help="Print the credentials as JSON.")
@with_app
def clients_rotate_secret(app: Flask, client_id: str, as_json: bool) -> None:
    """A new secret for a confidential client (the old one stops working at once)."""
    from ..clients import find_client, rotate_secret

    secret = rotate_secret(find_client(client_id))
    if as_json:
        click.echo(json.dumps({"client_id": client_id, "client_secret": secret}))
    else:
        click.echo(f"client_secret: {secret}   (shown once; store it now)")


@clients_group.command("delete")
@click.argument("client_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_app
def clients_delete(app: Flask, client_id: str, yes: bool) -> None:
    """Delete a client and the tokens issued to it."""
    from ..clients import delete_client, find_client

    client = find_client(client_id)
    if not yes:
        click.confirm(f"delete client {client.name} ({client_id}) and its tokens?", abort=True)
    delete_client(client)
    click.echo(f"deleted client {client_id}")


@clients_group.command("initial-access-token")
def clients_initial_access_token() -> None:
    """A new initial access token for dynamic registration, and the digest to configure."""
    import hashlib

    token = secrets.token_urlsafe(32)
    click.echo(f"token:  {token}   (give it to who may register clients; not stored)")
    click.echo(
        f"digest: {hashlib.sha256(token.encode()).hexdigest()}   "
        "(add to registration.initial_access_token_sha256)"
    )
