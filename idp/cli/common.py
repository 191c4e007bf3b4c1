"""What the command modules share: `--config`, running inside the app, reading a password."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import click

from ..errors import IdpError
from ..startup import build_app, fail

__all__ = ["build_app", "config_option", "fail", "read_password", "with_app"]


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
                fail(str(exc))

    return wrapper


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        fail("the password is empty")
    return password
