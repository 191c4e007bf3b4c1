from __future__ import annotations

from datetime import timedelta

import pytest

from risk.levels import Level
from risk.settings import RiskSettings
from risk.userrisk import StoredDetection, user_risk_level
from risk.vocabulary import RiskDetail, RiskState, Scope
from tests.risk.conftest import T0

NOW = T0 + timedelta(days=365)


def stored(
    level: Level,
    state: RiskState = RiskState.AT_RISK,
    days_ago: float = 1,
    scope: Scope = Scope.USER,
) -> StoredDetection:
    return StoredDetection(
        risk_event_type="leakedCredentials" if scope is Scope.USER else "unlikelyTravel",
        level=level,
        scope=scope,
        state=state,
        detected_at=NOW - timedelta(days=days_ago),
    )


@pytest.mark.parametrize(
    ("detections", "expected"),
    [
        ([], Level.NONE),
        ([stored(Level.HIGH)], Level.HIGH),
        ([stored(Level.HIGH, RiskState.REMEDIATED)], Level.NONE),
        ([stored(Level.HIGH, RiskState.DISMISSED)], Level.NONE),
        ([stored(Level.HIGH, RiskState.CONFIRMED_SAFE)], Level.NONE),
        ([stored(Level.LOW, RiskState.CONFIRMED_COMPROMISED, days_ago=900)], Level.HIGH),
        ([stored(Level.MEDIUM, scope=Scope.SIGN_IN), stored(Level.LOW)], Level.MEDIUM),
        ([stored(Level.MEDIUM, RiskState.REMEDIATED, scope=Scope.SIGN_IN)], Level.NONE),
        ([stored(Level.LOW, days_ago=179.9)], Level.LOW),
        ([stored(Level.LOW, days_ago=180)], Level.NONE),
        ([stored(Level.MEDIUM, days_ago=900)], Level.MEDIUM),
        ([stored(Level.LOW, days_ago=200), stored(Level.LOW, days_ago=3)], Level.LOW),
    ],
    ids=[
        "nothing",
        "active-high",
        "remediated",
        "dismissed",
        "confirmed-safe",
        "confirmed-compromised-is-high",
        "unremediated-risky-sign-in-counts",
        "remediated-sign-in",
        "low-just-inside-age-out",
        "low-aged-out-at-180-days",
        "medium-never-ages-out",
        "one-low-still-fresh",
    ],
)
def test_user_risk_aggregation(detections: list[StoredDetection], expected: Level) -> None:
    assert user_risk_level(detections, NOW, RiskSettings()) is expected


def test_age_out_is_configurable() -> None:
    settings = RiskSettings(low_risk_age_out_days=30)
    assert user_risk_level([stored(Level.LOW, days_ago=29)], NOW, settings) is Level.LOW
    assert user_risk_level([stored(Level.LOW, days_ago=31)], NOW, settings) is Level.NONE


def test_risk_detail_is_carried_but_state_decides() -> None:
    detection = StoredDetection(
        "unlikelyTravel",
        Level.HIGH,
        Scope.SIGN_IN,
        RiskState.REMEDIATED,
        NOW,
        RiskDetail.USER_PASSED_MFA_DRIVEN_BY_RISK_BASED_POLICY,
    )
    assert user_risk_level([detection], NOW, RiskSettings()) is Level.NONE
    assert detection.risk_detail == "userPassedMFADrivenByRiskBasedPolicy"
