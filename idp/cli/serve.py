"""`idp serve`: gunicorn (or granian) workers, each building the app from the same config."""

from __future__ import annotations

from functools import partial

import click

from ..errors import IdpError
from ..services import services
from .common import build_app, config_option, fail


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, 64),
    help="Worker processes (default: [server] workers, 2).",
)
@click.option(
    "--threads",
    default=None,
    type=click.IntRange(1, 256),
    help="Threads per worker (default: [server] threads, 8).",
)
@config_option
def serve(
    config: str | None, host: str, port: int, workers: int | None, threads: int | None
) -> None:
    """Serve the provider with gunicorn (or granian: [server] engine)."""
    from ..migrate import check_current

    app = build_app(config)
    with app.app_context():
        problem = check_current(app.config["SQLALCHEMY_DATABASE_URI"])
        if not problem:
            problem = _signing_keys_unreadable()
    from ..serve import cannot_listen, gunicorn_options, run_granian, run_gunicorn

    problem = problem or cannot_listen(host, port)
    if problem:
        fail(problem)
    from ..extensions import db

    server = services(app).settings.server
    with app.app_context():
        # The workers make their own connections; none of this process's may reach them.
        db.engine.dispose()
    try:
        if server.engine == "granian":
            run_granian(config, server, host, port, workers, threads)
            return
        options = gunicorn_options(server, host, port, workers, threads)
    except IdpError as exc:
        fail(f"configuration error: {exc}")
        return
    run_gunicorn(partial(build_app, config), options)


def _signing_keys_unreadable() -> str | None:
    """A secret_key that cannot open the stored signing keys would make every JWKS, token
    and ID token answer a 500: say so before serving."""
    from ..secretbox import SecretUnreadable
    from ..sessions import clock_now

    try:
        services().keys.published(clock_now())
    except SecretUnreadable:
        return (
            "configuration error: secret_key cannot decrypt the stored signing keys; set "
            "the secret_key they were sealed with, or list it in old_secret_keys"
        )
    return None
