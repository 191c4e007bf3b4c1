"""The process's risk engine: built at start-up from the [risk] settings and feeds over the
SQL history repository, then shared by every request."""

from __future__ import annotations

from flask import Flask, current_app

from risk.engine import RiskEngine
from risk.errors import RiskConfigError
from risk.feeds import Feeds

from .errors import ConfigError
from .risk_repository import SqlHistoryRepository


def load_engine(app: Flask) -> RiskEngine:
    """Build the process's risk engine; a feed that cannot be read stops start-up (the
    [risk] settings themselves were validated with the rest of the configuration)."""
    risk_settings = app.extensions["idp.settings"].risk
    try:
        feeds = Feeds.load(risk_settings)
    except RiskConfigError as exc:
        raise ConfigError(str(exc)) from None
    clock = app.extensions["idp.clock"]
    return RiskEngine(risk_settings, feeds, SqlHistoryRepository(), clock=clock.now)


def engine() -> RiskEngine:
    return current_app.extensions["idp.risk"]  # type: ignore[no-any-return]
