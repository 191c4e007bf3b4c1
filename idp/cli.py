"""The `idp` command line (a Flask CLI group, so `flask --app idp` works too)."""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from flask import Flask

from .config import Settings, demo_settings, load_settings
from .errors import ConfigError, IdpError, PasswordPolicyError

DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password-1"
DEMO_CLIENT_ID = "demo-client"


def _fail(message: str) -> None:
    click.echo(f"idp: {message}", err=True)
    sys.exit(2)


def build_app(config: str | None, **overrides: Any) -> Flask:
    """Load settings and create the app, turning a bad config into one line on stderr."""
    from .app import create_app

    try:
        settings = load_settings(config)
        if overrides:
            settings = replace(settings, **overrides)
        return create_app(settings)
    except ConfigError as exc:
        _fail(f"configuration error: {exc}")
        raise AssertionError from None


def config_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--config",
        "config",
        type=click.Path(dir_okay=False),
        envvar="IDP_CONFIG",
        help="TOML configuration file (or IDP_CONFIG).",
    )(func)


def with_app(func: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command `--config` and run it inside the configured app's context."""

    @config_option
    @functools.wraps(func)
    def wrapper(config: str | None, **kwargs: Any) -> Any:
        app = build_app(config)
        with app.app_context():
            try:
                return func(app, **kwargs)
            except IdpError as exc:
                _fail(str(exc))

    return wrapper


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        _fail("the password is empty")
    return password


cli = click.version_option(package_name="idp", prog_name="idp")(
    click.Group("idp", help="OpenID Connect provider with risk-based sign-in."))


@cli.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@with_app
def db_upgrade(app: Flask) -> None:
    """Create or migrate the schema to the newest revision (Alembic)."""
    from .keys import ensure_key, reseal_clear_keys
    from .migrate import upgrade

    upgrade(app.config["SQLALCHEMY_DATABASE_URI"])
    ensure_key(app.extensions["idp.clock"].now())
    reseal_clear_keys()
    click.echo("database is up to date")


@cli.group("users")
def users_group() -> None:
    """Manage users."""


@users_group.command("add")
@click.argument("name")
@click.option("--email", default=None)
@click.option("--name", "display_name", default=None, help="Display name (the `name` claim).")
@click.option("--group", "groups", multiple=True, help="Group membership (repeatable).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_app
def users_add(
    app: Flask, name: str, email: str | None, display_name: str | None,
    groups: tuple[str, ...], password_stdin: bool
) -> None:
    """Create a user."""
    from .claims import CLAIMS, set_claims
    from .users import create_user

    if display_name:
        check = CLAIMS["name"].check
        assert check is not None
        check("name", display_name)  # refused before the user exists
    password = _read_password(password_stdin)
    user = create_user(app, name, password, email=email, groups=list(groups))
    if display_name:
        set_claims(user, {"name": display_name})
    click.echo(f"created user {user.username} ({user.id})")


@users_group.command("set-claims")
@click.argument("name")
@click.argument("assignments", nargs=-1, metavar="CLAIM=VALUE...")
@click.option("--unset", "unset", multiple=True, metavar="CLAIM",
              help="Remove a claim (repeatable); address.FIELD removes one address field.")
@with_app
def users_set_claims(app: Flask, name: str, assignments: tuple[str, ...],
                     unset: tuple[str, ...]) -> None:
    """Set OpenID Connect profile claims: given_name=Ada, address.locality=Berlin,
    email_verified=true ...; nothing changes unless every value is valid."""
    from .claims import parse_assignment, set_claims
    from .users import find_user

    if not assignments and not unset:
        _fail("name at least one CLAIM=VALUE or --unset CLAIM")
    changes: dict[str, Any] = dict(parse_assignment(text) for text in assignments)
    for claim in unset:
        if claim in changes:
            _fail(f"{claim} is both set and unset")
        changes[claim] = None
    user = find_user(name)
    changed = set_claims(user, changes)
    click.echo(f"updated {', '.join(changed)} for {user.username}" if changed
               else f"nothing changed for {user.username}")


@users_group.command("set-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--temporary", is_flag=True, help="The user must change it at the next sign-in.")
@with_app
def users_set_password(app: Flask, name: str, password_stdin: bool, temporary: bool) -> None:
    """Set a user's password."""
    from .users import find_user, set_password

    user = find_user(name)
    password = _read_password(password_stdin)
    set_password(app, user, password, temporary=temporary)
    click.echo(f"password set for {user.username}" + (" (temporary)" if temporary else ""))


@users_group.command("list")
@with_app
def users_list(app: Flask) -> None:
    """Every user: name, id, groups, second factor, state."""
    from .extensions import db
    from .models import User
    from .passkeys import factors

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
    from .users import find_user, set_disabled

    set_disabled(find_user(name), True)
    click.echo(f"disabled {name}; their sessions and tokens are revoked")


@users_group.command("enable")
@click.argument("name")
@with_app
def users_enable(app: Flask, name: str) -> None:
    """Enable a disabled user."""
    from .users import find_user, set_disabled

    set_disabled(find_user(name), False)
    click.echo(f"enabled {name}")


@users_group.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_app
def users_delete(app: Flask, name: str, yes: bool) -> None:
    """Delete a user and everything of theirs."""
    from .users import delete_user, find_user

    user = find_user(name)
    if not yes:
        click.confirm(f"delete user {name} and their sessions, tokens and history?",
                      abort=True)
    delete_user(user)
    click.echo(f"deleted {name}")


@users_group.command("reset-mfa")
@click.argument("name")
@with_app
def users_reset_mfa(app: Flask, name: str) -> None:
    """Remove a user's authenticator and recovery codes (a lost phone)."""
    from .users import find_user, reset_second_factors

    reset_second_factors(find_user(name), initiated_by="cli")
    click.echo(f"second factors of {name} removed; they register again at the next sign-in")


@cli.group("clients")
def clients_group() -> None:
    """Manage OAuth clients (relying parties)."""


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
@click.option("--third-party", "third_party", is_flag=True,
              help="Not the operator's own app: each user is asked to allow its scopes.")
@click.option("--backchannel-logout-uri", "backchannel_logout_uri", default=None,
              metavar="URI", help="Where logout tokens are POSTed when a session of the "
              "user's ends (OpenID Connect Back-Channel Logout).")
@click.option("--backchannel-logout-session-required", "backchannel_session_required",
              is_flag=True, help="Every logout token must carry the session's sid.")
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
    from .clients import create_client

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
    from .extensions import db
    from .models import Client

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
    from .clients import find_client, rotate_secret

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
    from .clients import delete_client, find_client

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
    click.echo(f"digest: {hashlib.sha256(token.encode()).hexdigest()}   "
               "(add to registration.initial_access_token_sha256)")


@cli.group("keys")
def keys_group() -> None:
    """Signing keys."""


@keys_group.command("rotate")
@with_app
def keys_rotate(app: Flask) -> None:
    """Make a new signing key current; old keys stay in the JWKS until their tokens expire."""
    from .keys import rotate

    tokens = app.extensions["idp.settings"].tokens
    publish_for = timedelta(
        seconds=max(tokens.id_token_lifetime_seconds, tokens.access_token_lifetime_seconds) + 300
    )
    row = rotate(app.extensions["idp.clock"].now(), publish_for)
    click.echo(f"new signing key {row.kid}; previous keys published for {publish_for}")


@keys_group.command("reseal")
@with_app
def keys_reseal(app: Flask) -> None:
    """Seal every signing key and TOTP secret again under the current secret_key (after
    changing it, with the old one in old_secret_keys)."""
    from .keys import reseal_all
    from .secretbox import SecretUnreadable

    try:
        keys, secrets_ = reseal_all()
    except SecretUnreadable as exc:
        _fail(f"{exc}: add the secret_key they were sealed with to old_secret_keys")
        return
    click.echo(f"resealed {keys} signing keys and {secrets_} TOTP secrets under the current "
               "secret_key; old_secret_keys can now be emptied")


@keys_group.command("list")
@with_app
def keys_list(app: Flask) -> None:
    """The signing keys: id, created, retired, published until."""
    from .extensions import db
    from .models import SigningKey

    rows = db.session.scalars(sa.select(SigningKey).order_by(SigningKey.created_at))
    for row in rows:
        state = "current" if row.retired_at is None else (
            f"retired {row.retired_at:%Y-%m-%d %H:%M}, published until "
            f"{row.publish_until:%Y-%m-%d %H:%M}" if row.publish_until else "retired")
        click.echo(f"{row.kid}  {row.alg}  created {row.created_at:%Y-%m-%d %H:%M}  {state}")


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=None, type=click.IntRange(1, 64),
              help="Worker processes (default: [server] workers, 2).")
@click.option("--threads", default=None, type=click.IntRange(1, 256),
              help="Threads per worker (default: [server] threads, 8).")
@config_option
def serve(config: str | None, host: str, port: int, workers: int | None,
          threads: int | None) -> None:
    """Serve the provider with gunicorn (or granian: [server] engine)."""
    from .migrate import check_current

    app = build_app(config)
    with app.app_context():
        problem = check_current(app.config["SQLALCHEMY_DATABASE_URI"])
    if problem:
        _fail(problem)
    from .extensions import db
    from .serve import gunicorn_options, run_granian, run_gunicorn

    server = app.extensions["idp.settings"].server
    with app.app_context():
        # The workers make their own connections; none of this process's may reach them.
        db.engine.dispose()
    try:
        if server.engine == "granian":
            run_granian(config, server, host, port, workers, threads)
            return
        options = gunicorn_options(server, host, port, workers, threads)
    except IdpError as exc:
        _fail(f"configuration error: {exc}")
        return
    run_gunicorn(config, options)


def demo_secret_key(instance: Path) -> str:
    """The demo's secret key, made once and kept in the instance folder so TOTP secrets
    sealed with it stay readable across restarts."""
    path = instance / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


def _demo_settings(instance: Path, config: str | None) -> Settings:
    """Demo defaults, overlaid with the user's file (which needs no production secret)."""
    base = replace(demo_settings(str(instance)), secret_key=demo_secret_key(instance))
    if not config:
        return base
    loaded = load_settings(config, demo=True)
    url = base.database_url if loaded.database_url == Settings().database_url \
        else loaded.database_url
    return replace(loaded, database_url=url, secret_key=loaded.secret_key or base.secret_key)


@cli.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@config_option
def demo(config: str | None, host: str, port: int) -> None:
    """Try it: SQLite in the instance folder, a demo client and user, served on HOST:PORT."""
    from werkzeug.serving import run_simple

    from .app import create_app
    from .clients import ensure_demo_client
    from .keys import ensure_key, reseal_clear_keys
    from .migrate import upgrade
    from .users import ensure_user

    instance = Path(os.environ.get("IDP_INSTANCE_PATH") or Path.cwd() / "instance")
    instance.mkdir(parents=True, exist_ok=True)
    try:
        settings = _demo_settings(instance, config)
        issuer = f"http://{host}:{port}"
        settings = replace(settings, issuer=issuer)
        app = create_app(settings)
    except ConfigError as exc:
        _fail(f"configuration error: {exc}")
        return
    with app.app_context():
        upgrade(settings.database_url)
        ensure_key(app.extensions["idp.clock"].now())
        reseal_clear_keys()
        ensure_demo_client(DEMO_CLIENT_ID, f"{issuer}/demo/callback", f"{issuer}/demo")
        ensure_user(app, DEMO_USER, DEMO_PASSWORD, email="demo@example.org", groups=["users"])
    click.echo(f"""
idp demo: an OpenID Connect provider on {issuer}
  database   {settings.database_url}
  secret key kept in {instance / "secret_key"} (delete it with the database to start over)
  try it     {issuer}/demo   (a built-in demo app: click "Sign in")
  discovery  {issuer}/.well-known/openid-configuration
  sign in as user "{DEMO_USER}" with password "{DEMO_PASSWORD}"
  client     {DEMO_CLIENT_ID} (public, PKCE), redirect URI {issuer}/demo/callback
Press Ctrl+C to stop.
""")
    from .logs import configure

    configure(settings.logging.format, settings.logging.level)
    # Our request lines replace werkzeug's, which print query strings (codes, hints).
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from .backchannel import enable_background

    enable_background(app)
    run_simple(host, port, app, threaded=True, use_reloader=False)


def register_commands(app: Flask) -> None:
    """Expose the same commands under `flask --app idp`."""
    for name, command in cli.commands.items():
        app.cli.add_command(command, name)


def main() -> None:
    try:
        cli.main(prog_name="idp")
    except (ConfigError, PasswordPolicyError) as exc:
        _fail(str(exc))
    except sa.exc.OperationalError as exc:
        _fail(f"database error: {exc.orig}")


from .cli_risk import risk_group  # noqa: E402

cli.add_command(risk_group)

from .cli_admin import notify_group, policy_group  # noqa: E402

cli.add_command(notify_group)
cli.add_command(policy_group)

from .cli_backchannel import backchannel_group  # noqa: E402

cli.add_command(backchannel_group)
