"""The process's risk engine: built at start-up from the [risk] settings and feeds over the
SQL history repository, then shared by every request."""

from __future__ import annotations

from flask import Flask, current_app

from risk.engine import RiskEngine
from risk.errors import RiskConfigError
from risk.feeds import Feeds
from risk.settings import RiskSettings

from .errors import ConfigError
from .risk_repository import SqlHistoryRepository


def load_engine(app: Flask) -> RiskEngine:
    """Build the process's risk engine; a bad [risk] setting or feed stops start-up."""
    settings = app.extensions["idp.settings"]
    try:
        risk_settings = RiskSettings.from_mapping(settings.risk)
        feeds = Feeds.load(risk_settings)
    except RiskConfigError as exc:
        raise ConfigError(str(exc)) from None
    clock = app.extensions["idp.clock"]
    return RiskEngine(risk_settings, feeds, SqlHistoryRepository(), clock=clock.now)


def engine() -> RiskEngine:
    return current_app.extensions["idp.risk"]  # type: ignore[no-any-return]
