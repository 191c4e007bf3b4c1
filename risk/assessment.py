"""What the engine says about one sign-in: the Assessment, and the detectors it could not run.

Below the engine, the detectors and the history repository, which all speak of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from risk.context import IpInfo
from risk.detections import Detection
from risk.features import Feature
from risk.levels import Level
from risk.novelty import Novelty
from risk.vocabulary import Scope


@dataclass(frozen=True, slots=True)
class NotEvaluated:
    """A detector that could not judge this sign-in (missing data), and why."""

    detector: str
    reason: str


@dataclass(frozen=True, slots=True)
class Assessment:
    """The engine's verdict on one sign-in, with everything needed to explain it."""

    correlation_id: str
    sign_in_risk_level: Level
    detections: tuple[Detection, ...]
    not_evaluated: tuple[NotEvaluated, ...]
    ip_info: IpInfo
    trusted_location: bool
    features: frozenset[Feature]
    evaluated_at: datetime
    degraded: bool = False
    """True when a detector raised; the level was then floored at `detector_error_level`."""
    novelty: Novelty | None = None
    """How new the sign-in was for its user (None while the user is learning)."""
    counted_novelty: tuple[str, ...] | None = None
    """The population counters to add one to, when `novelty` is not at hand: a server's
    flow keeps only these names (`novelty_counters`) until the sign-in succeeds."""

    @property
    def novelty_counters(self) -> tuple[str, ...]:
        """The population counters this sign-in adds one to once it succeeds."""
        if self.counted_novelty is not None:
            return self.counted_novelty
        return self.novelty.counter_names() if self.novelty is not None else ()

    @property
    def sign_in_detections(self) -> tuple[Detection, ...]:
        """Detections that count towards this sign-in's risk."""
        return tuple(d for d in self.detections if d.scope is Scope.SIGN_IN)

    @property
    def user_detections(self) -> tuple[Detection, ...]:
        """User-risk detections this sign-in raised (e.g. leakedCredentials, mfaFraud)."""
        return tuple(d for d in self.detections if d.scope is Scope.USER)

    @property
    def risk_event_types(self) -> tuple[str, ...]:
        """The riskEventType strings of every detection, for the sign-in log."""
        return tuple(d.risk_event_type.value for d in self.detections)
