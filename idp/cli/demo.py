"""`idp demo`: one command to try it, with a demo client and user on SQLite."""

from __future__ import annotations

import os
import secrets
from dataclasses import replace
from functools import partial
from pathlib import Path

import click

from ..config import Settings, demo_settings, load_settings
from ..errors import ConfigError, IdpError
from ..services import services
from .common import config_option, fail

DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password-1"
DEMO_CLIENT_ID = "demo-client"


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
    url = (
        base.database_url if loaded.database_url == Settings().database_url else loaded.database_url
    )
    return replace(loaded, database_url=url, secret_key=loaded.secret_key or base.secret_key)


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@config_option
def demo(config: str | None, host: str, port: int) -> None:
    """Try it: SQLite in the instance folder, a demo client and user, served on HOST:PORT
    by one gunicorn worker, the same server as `idp serve`."""
    from ..app import create_app
    from ..clients import ensure_demo_client
    from ..extensions import db
    from ..keys import ensure_key, reseal_clear_keys
    from ..migrate import upgrade
    from ..serve import cannot_listen, gunicorn_options, run_gunicorn
    from ..users import ensure_user

    problem = cannot_listen(host, port)
    if problem:
        fail(problem)
    instance = Path(os.environ.get("IDP_INSTANCE_PATH") or Path.cwd() / "instance")
    instance.mkdir(parents=True, exist_ok=True)
    try:
        settings = _demo_settings(instance, config)
        issuer = f"http://{host}:{port}"
        settings = replace(settings, issuer=issuer)
        app = create_app(settings)
    except ConfigError as exc:
        fail(f"configuration error: {exc}")
        return
    with app.app_context():
        upgrade(settings.database_url)
        ensure_key(services(app).clock.now())
        reseal_clear_keys()
        ensure_demo_client(DEMO_CLIENT_ID, f"{issuer}/demo/callback", f"{issuer}/demo")
        ensure_user(app, DEMO_USER, DEMO_PASSWORD, email="demo@example.org", groups=["users"])
        # The worker makes its own connections; none of this process's may reach it.
        db.engine.dispose()
    try:
        # What an attacker can send is what `idp serve` copes with: idle and stalled
        # clients wait in the poller and are let go, not a thread each for ever.
        options = gunicorn_options(settings.server, host, port, 1, None)
    except IdpError as exc:
        fail(f"configuration error: {exc}")
        return
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
    run_gunicorn(partial(create_app, settings), options)
