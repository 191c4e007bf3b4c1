"""The engine: runs every detector on a sign-in and aggregates a sign-in risk level."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

# Assessment is re-exported: it was defined here, and callers import it from here.
from risk.assessment import Assessment as Assessment
from risk.assessment import NotEvaluated
from risk.context import IpInfo, SignInContext, check_utc
from risk.detections import Detection
from risk.detectors import Detector, DetectorEnv, default_detectors
from risk.features import sign_in_features
from risk.feeds import Feeds
from risk.iplists import IpRangeSet
from risk.levels import Level
from risk.repository import HistoryRepository
from risk.settings import RiskSettings
from risk.vocabulary import Scope

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


def aggregate_sign_in_level(
    detections: Iterable[Detection],
    settings: RiskSettings,
    *,
    trusted_location: bool = False,
    degraded: bool = False,
) -> Level:
    """Sign-in risk from sign-in-scope detections, by the documented rule.

    1. Start from the highest level among them (NONE when there are none).
    2. Raise it one step when `aggregate_raise_min_count` or more of them are at or above
       `aggregate_raise_min_level` (default: two MEDIUM-or-higher detections make HIGH).
    3. Lower it `trusted_location_lower_steps` steps (default 1) on a trusted location.
    4. When a detector raised, never go below `detector_error_level` (fail towards step-up).
    """
    levels = [d.level for d in detections if d.scope is Scope.SIGN_IN]
    level = max(levels, default=Level.NONE)
    strong = sum(1 for lvl in levels if lvl >= settings.aggregate_raise_min_level)
    if settings.aggregate_raise_min_count and strong >= settings.aggregate_raise_min_count:
        level = level.raised()
    if trusted_location:
        level = level.lowered(settings.trusted_location_lower_steps)
    if degraded:
        level = max(level, settings.detector_error_level)
    return level


class RiskEngine:
    """Evaluates sign-ins in real time; build one per process and share it."""

    def __init__(
        self,
        settings: RiskSettings,
        feeds: Feeds,
        repository: HistoryRepository,
        clock: Clock | None = None,
        detectors: Sequence[Detector] | None = None,
    ) -> None:
        self.settings = settings
        self.feeds = feeds
        self.repository = repository
        self.clock: Clock = clock or utc_now
        self.detectors: tuple[Detector, ...] = (
            tuple(detectors) if detectors is not None else default_detectors(settings, feeds)
        )
        self._trusted = IpRangeSet(settings.trusted_locations)

    def is_trusted_location(self, ip: str) -> bool:
        """True when `ip` is inside one of the configured trusted-location CIDRs."""
        return self._trusted.match(ip) is not None

    def resolve(self, ctx: SignInContext) -> IpInfo:
        """The IpInfo for this sign-in: the one supplied with it, else the GeoIP lookup."""
        return ctx.ip_info if ctx.ip_info is not None else self.feeds.lookup(ctx.ip)

    def evaluate(self, ctx: SignInContext) -> Assessment:
        """Run every detector on `ctx` and aggregate; never raises because a detector did."""
        self.feeds.refresh()
        ip_info = self.resolve(ctx)
        trusted = self.is_trusted_location(ip_info.ip)
        features = sign_in_features(ctx, ip_info)
        env = DetectorEnv(self.settings, self.feeds, self.repository, ip_info, trusted, features)
        detections: list[Detection] = []
        not_evaluated: list[NotEvaluated] = []
        degraded = False
        for detector in self.detectors:
            try:
                result = detector.evaluate(ctx, env)
            except Exception as exc:  # a broken detector must not break sign-in
                degraded = True
                logger.error(
                    "risk detector %s failed for correlation_id=%s",
                    detector.name,
                    ctx.correlation_id,
                    exc_info=True,
                )
                not_evaluated.append(NotEvaluated(detector.name, f"error: {type(exc).__name__}"))
                continue
            if isinstance(result, Detection):
                detections.append(result)
            elif isinstance(result, NotEvaluated):
                not_evaluated.append(result)
        level = aggregate_sign_in_level(
            detections, self.settings, trusted_location=trusted, degraded=degraded
        )
        evaluated_at = self.clock()
        check_utc("clock()", evaluated_at)
        if detections or not_evaluated:
            logger.debug(
                "risk correlation_id=%s level=%s detections=%s not_evaluated=%s",
                ctx.correlation_id,
                level.value,
                ",".join(d.risk_event_type.value for d in detections) or "-",
                ",".join(f"{n.detector}({n.reason})" for n in not_evaluated) or "-",
            )
        return Assessment(
            correlation_id=ctx.correlation_id,
            sign_in_risk_level=level,
            detections=tuple(detections),
            not_evaluated=tuple(not_evaluated),
            ip_info=ip_info,
            trusted_location=trusted,
            features=features,
            evaluated_at=evaluated_at,
            degraded=degraded,
            novelty=env.novelty,
        )
