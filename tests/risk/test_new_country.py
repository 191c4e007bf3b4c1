from __future__ import annotations

from datetime import timedelta

import pytest

from risk.engine import RiskEngine
from risk.levels import Level
from tests.risk.conftest import (
    CHANGCHUN_IP,
    LINKOPING_IP,
    LONDON_IP,
    MILTON_IP,
    NO_RECORD_IP,
    T0,
    reasons_of,
    sign_in,
    types_of,
)

NEW = "newCountry"


def test_first_country_for_user_and_org_is_low(engine: RiskEngine) -> None:
    sign_in(engine, ip=LONDON_IP, time=T0)
    result = sign_in(engine, ip=LINKOPING_IP, time=T0 + timedelta(days=1))
    (detection,) = [d for d in result.detections if d.risk_event_type == NEW]
    assert detection.level is Level.LOW
    assert detection.evidence_dict == {"ip": LINKOPING_IP, "country": "SE"}
    assert detection.describe() == "First sign-in from SE for this user and for the organisation"


@pytest.mark.parametrize(
    ("colleague_ip", "fires"),
    [(LINKOPING_IP, False), (MILTON_IP, True)],
    ids=["org-has-seen-it", "org-has-seen-another"],
)
def test_a_country_the_organisation_knows_is_not_new(
    engine: RiskEngine, colleague_ip: str, fires: bool
) -> None:
    sign_in(engine, ip=colleague_ip, user_id="u-bob", username="bob", time=T0)
    sign_in(engine, ip=LONDON_IP, time=T0)
    result = sign_in(engine, ip=LINKOPING_IP, time=T0 + timedelta(days=1))
    assert (NEW in types_of(result)) is fires


def test_a_country_the_user_knows_is_not_new(engine: RiskEngine) -> None:
    sign_in(engine, ip=CHANGCHUN_IP, time=T0)
    result = sign_in(engine, ip=CHANGCHUN_IP, time=T0 + timedelta(days=1))
    assert NEW not in types_of(result)


@pytest.mark.parametrize(
    ("history", "ip", "reason"),
    [
        (False, LINKOPING_IP, "no previous successful sign-in"),
        (True, NO_RECORD_IP, "no location for this IP"),
        (True, "192.168.1.20", "private IP address"),
    ],
    ids=["no-history", "no-country", "private-ip"],
)
def test_cannot_evaluate_without_country_or_history(
    engine: RiskEngine, history: bool, ip: str, reason: str
) -> None:
    if history:
        sign_in(engine, ip=LONDON_IP, time=T0)
    result = sign_in(engine, ip=ip, time=T0 + timedelta(days=1))
    assert reasons_of(result)[NEW] == reason and NEW not in types_of(result)
