from __future__ import annotations

from datetime import timedelta

import pytest

from risk.context import SignInKind
from risk.engine import RiskEngine
from risk.levels import Level
from risk.vocabulary import Scope
from tests.risk.conftest import T0, sign_in, types_of

FRAUD = "mfaFraud"


def wrong_codes(engine: RiskEngine, count: int, minutes_apart: float) -> set[str]:
    found: set[str] = set()
    for index in range(count):
        when = T0 + timedelta(minutes=index * minutes_apart)
        found = types_of(sign_in(engine, kind=SignInKind.MFA_FAILED, time=when))
    return found


@pytest.mark.parametrize(
    ("count", "minutes_apart", "fires"),
    [(4, 1, False), (5, 1, True), (5, 3.75, True), (5, 3.76, False)],
    ids=["4-codes", "5-codes", "5-codes-in-15-min", "5-codes-over-15-min"],
)
def test_fires_on_the_nth_wrong_code_inside_the_window(
    engine: RiskEngine, count: int, minutes_apart: float, fires: bool
) -> None:
    assert (FRAUD in wrong_codes(engine, count, minutes_apart)) is fires


def test_mfa_fraud_is_user_risk_and_leaves_sign_in_risk_alone(engine: RiskEngine) -> None:
    wrong_codes(engine, 4, 1)
    result = sign_in(engine, kind=SignInKind.MFA_FAILED, time=T0 + timedelta(minutes=5))
    (detection,) = result.user_detections
    assert detection.risk_event_type == FRAUD and detection.scope is Scope.USER
    assert detection.level is Level.MEDIUM
    assert detection.evidence_dict["failed_codes"] == 5
    assert result.sign_in_risk_level is Level.NONE
    assert detection.describe() == (
        "5 wrong verification codes after a correct password in 15 minutes"
    )


def test_other_kinds_never_raise_mfa_fraud(engine: RiskEngine) -> None:
    wrong_codes(engine, 6, 1)
    result = sign_in(engine, kind=SignInKind.PASSWORD, time=T0 + timedelta(minutes=7))
    assert FRAUD not in types_of(result)
