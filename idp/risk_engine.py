"""The process's risk engine: built at start-up from the [risk] settings and feeds over the
SQL history repository, then shared by every request."""

from __future__ import annotations

from risk.engine import RiskEngine
from risk.errors import RiskConfigError
from risk.feeds import Feeds
from risk.settings import RiskSettings

from .clock import Clock
from .errors import ConfigError
from .risk_repository import SqlHistoryRepository
from .services import services


def load_engine(risk_settings: RiskSettings, clock: Clock) -> RiskEngine:
    """Build the process's risk engine; a feed that cannot be read stops start-up (the
    [risk] settings themselves were validated with the rest of the configuration)."""
    try:
        feeds = Feeds.load(risk_settings)
    except RiskConfigError as exc:
        raise ConfigError(str(exc)) from None
    return RiskEngine(risk_settings, feeds, SqlHistoryRepository(), clock=clock.now)


def engine() -> RiskEngine:
    return services().risk
