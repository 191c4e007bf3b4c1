"""OpenID Connect provider with real-time, explainable risk-based sign-in."""

from __future__ import annotations

from typing import Any

from flask import Flask

from .app import create_app as _create_app
from .config import Settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, *, clock: Any = None) -> Flask:
    """The app (see idp.app.create_app), with the `idp` commands on its CLI: this is the
    factory `flask --app idp` finds."""
    from .cli import register_commands  # idp.cli builds apps with idp.app, never with this

    app = _create_app(settings, clock=clock)
    register_commands(app)
    return app
