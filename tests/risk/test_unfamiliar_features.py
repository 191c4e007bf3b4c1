from __future__ import annotations

from datetime import timedelta

import pytest

from risk.context import IpInfo
from risk.engine import RiskEngine
from risk.levels import Level
from tests.risk.conftest import CHROME_WINDOWS, FIREFOX_LINUX, T0, reasons_of, sign_in

UNFAMILIAR = "unfamiliarFeatures"
HOME = IpInfo(ip="81.2.69.142", country="GB", city="London", asn=20712)
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0"


def learn(
    engine: RiskEngine, sign_ins: int = 10, days: float = 15, device: str | None = "d1"
) -> None:
    """`sign_ins` ordinary sign-ins from home, spread over `days` days starting at T0."""
    for index in range(sign_ins):
        when = T0 + timedelta(days=days * index / max(sign_ins - 1, 1))
        sign_in(engine, ip=HOME.ip, ip_info=HOME, time=when, device_id=device)


def attempt(
    engine: RiskEngine, days: float = 16, **overrides: object
) -> tuple[Level | None, dict[str, object], dict[str, str]]:
    values: dict[str, object] = {
        "ip": HOME.ip,
        "ip_info": HOME,
        "user_agent": CHROME_WINDOWS,
        "device_id": "d1",
        "time": T0 + timedelta(days=days),
    }
    values.update(overrides)
    result = sign_in(engine, **values)
    found = [d for d in result.detections if d.risk_event_type == UNFAMILIAR]
    return (
        (found[0].level, found[0].evidence_dict, reasons_of(result))
        if found
        else (None, {}, reasons_of(result))
    )


NEW_SUBNET = IpInfo(ip="81.2.70.1", country="GB", city="London", asn=20712)
NEW_ASN = IpInfo(ip="81.2.70.1", country="GB", city="London", asn=5607)
NEW_CITY = IpInfo(ip="81.2.70.1", country="GB", city="Boxford", asn=5607)
NEW_COUNTRY = IpInfo(ip="81.2.70.1", country="SE", city="Linköping", asn=29518)


@pytest.mark.parametrize(
    ("info", "agent", "device", "expected"),
    [
        (HOME, CHROME_WINDOWS, "d1", None),
        (HOME, CHROME_WINDOWS, "d2", None),
        (NEW_SUBNET, CHROME_WINDOWS, "d2", Level.LOW),
        (NEW_ASN, CHROME_WINDOWS, "d2", Level.LOW),
        (NEW_CITY, CHROME_WINDOWS, "d1", Level.LOW),
        (NEW_CITY, CHROME_WINDOWS, "d2", Level.MEDIUM),
        (NEW_CITY, FIREFOX_WINDOWS, "d2", Level.MEDIUM),
        (NEW_CITY, FIREFOX_LINUX, "d2", Level.HIGH),
        (NEW_COUNTRY, FIREFOX_LINUX, "d2", Level.HIGH),
        (HOME, CHROME_WINDOWS, None, None),
        (NEW_SUBNET, CHROME_WINDOWS, None, Level.LOW),
    ],
    ids=[
        "0-new",
        "1-new-device",
        "2-new-low",
        "3-new-low",
        "3-new-without-device",
        "4-new-medium",
        "5-new-medium",
        "6-new-high",
        "7-new-high",
        "cookie-missing-alone",
        "cookie-missing-counts-as-new-device",
    ],
)
def test_level_grows_with_the_number_of_new_properties(
    engine: RiskEngine, info: IpInfo, agent: str, device: str | None, expected: Level | None
) -> None:
    learn(engine)
    level, evidence, _ = attempt(
        engine, ip=info.ip, ip_info=info, user_agent=agent, device_id=device
    )
    assert level is expected
    if expected is not None:
        assert evidence["new_count"] == len(evidence["new_features"])  # type: ignore[arg-type]


def test_missing_cookie_is_not_new_for_users_who_never_had_one(engine: RiskEngine) -> None:
    learn(engine, device=None)
    level, evidence, _ = attempt(engine, ip=NEW_SUBNET.ip, ip_info=NEW_SUBNET, device_id=None)
    assert level is None and evidence == {}


def test_evidence_lists_the_new_properties(engine: RiskEngine) -> None:
    learn(engine)
    level, evidence, _ = attempt(
        engine, ip=NEW_CITY.ip, ip_info=NEW_CITY, user_agent=FIREFOX_WINDOWS, device_id="d2"
    )
    assert level is Level.MEDIUM
    assert evidence["new_features"] == [
        "ASN 5607",
        "city Boxford, GB",
        "network 81.2.70.0/24",
        "browser Firefox",
        "device d2",
    ]
    assert evidence["learned_sign_ins"] == 10


@pytest.mark.parametrize(
    ("sign_ins", "days", "at_day", "learning"),
    [
        (10, 14, 14, False),
        (10, 13, 13.99, True),
        (9, 20, 21, True),
        (10, 5, 14, False),
    ],
    ids=["10-sign-ins-14-days", "just-under-14-days", "9-sign-ins", "14-days-since-first"],
)
def test_learning_period_needs_both_days_and_sign_ins(
    engine: RiskEngine, sign_ins: int, days: float, at_day: float, learning: bool
) -> None:
    learn(engine, sign_ins=sign_ins, days=days)
    level, _, reasons = attempt(
        engine, days=at_day, ip=NEW_COUNTRY.ip, ip_info=NEW_COUNTRY, user_agent=FIREFOX_LINUX
    )
    if learning:
        assert level is None and reasons[UNFAMILIAR].startswith("learning: ")
    else:
        assert level is Level.HIGH and UNFAMILIAR not in reasons


def test_unknown_user_cannot_be_evaluated(engine: RiskEngine) -> None:
    _, _, reasons = attempt(engine, user_id=None)
    assert reasons[UNFAMILIAR] == "no such user"


def test_failed_and_blocked_sign_ins_teach_nothing(engine: RiskEngine) -> None:
    learn(engine)
    for day in (16, 17):
        attempt(engine, days=day, ip=NEW_COUNTRY.ip, ip_info=NEW_COUNTRY, password_valid=False)
        attempt(engine, days=day, ip=NEW_COUNTRY.ip, ip_info=NEW_COUNTRY, succeeded=False)
    level, _, _ = attempt(engine, days=18, ip=NEW_COUNTRY.ip, ip_info=NEW_COUNTRY)
    assert level is Level.MEDIUM
    level, _, _ = attempt(engine, days=19, ip=NEW_COUNTRY.ip, ip_info=NEW_COUNTRY)
    assert level is None
