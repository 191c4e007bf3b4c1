"""User risk: a pure aggregation of a user's stored detections."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from risk.context import check_utc
from risk.levels import Level
from risk.settings import RiskSettings
from risk.vocabulary import IP_REPUTATION_EVENTS, RiskDetail, RiskState, Scope


@dataclass(frozen=True, slots=True)
class StoredDetection:
    """A detection as idp/ keeps it, with its current state."""

    risk_event_type: str
    level: Level
    scope: Scope
    state: RiskState
    detected_at: datetime
    risk_detail: RiskDetail = RiskDetail.NONE


def counts_towards_user_risk(detection: StoredDetection, now: datetime, age_out_days: int) -> bool:
    """True when the detection is still active and, if LOW, younger than the age-out; an
    IP-reputation detection never counts unless an admin confirmed the compromise."""
    if detection.state is RiskState.CONFIRMED_COMPROMISED:
        return True
    if detection.risk_event_type in IP_REPUTATION_EVENTS:
        return False
    if detection.state is not RiskState.AT_RISK or detection.level is Level.NONE:
        return False
    if detection.level is Level.LOW:
        return now - detection.detected_at < timedelta(days=age_out_days)
    return True


def user_risk_level(
    detections: Iterable[StoredDetection], now: datetime, settings: RiskSettings
) -> Level:
    """The user's risk level: the highest active detection, HIGH if confirmed compromised.

    Active means user-scope detections and risky sign-in detections still `atRisk`
    (not remediated, dismissed or confirmed safe), or `confirmedCompromised`. LOW ones
    stop counting after `low_risk_age_out_days`; MEDIUM and HIGH stay until remediated.
    Detections about the IP address (IP_REPUTATION_EVENTS) raise only their sign-in's risk.
    """
    check_utc("now", now)
    level = Level.NONE
    for detection in detections:
        if not counts_towards_user_risk(detection, now, settings.low_risk_age_out_days):
            continue
        if detection.state is RiskState.CONFIRMED_COMPROMISED:
            return Level.HIGH
        level = max(level, detection.level)
    return level
