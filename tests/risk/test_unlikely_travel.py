from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta

import pytest

from risk.assessment import Assessment
from risk.context import IpInfo
from risk.engine import RiskEngine
from risk.geo import EARTH_RADIUS_KM
from risk.levels import Level
from tests.risk.conftest import (
    CHANGCHUN_IP,
    LONDON_IP,
    NO_RECORD_IP,
    T0,
    place,
    reasons_of,
    sign_in,
    types_of,
)

TRAVEL = "unlikelyTravel"
HOME_IP, AWAY_IP = "81.2.69.142", "175.16.199.10"


def lon_for(km: float) -> float:
    """Longitude on the equator that lies `km` east of (0, 0)."""
    return math.degrees(km / EARTH_RADIUS_KM)


def travel(
    engine: RiskEngine, km: float, minutes: float, radius_before: float = 0, radius_after: float = 0
) -> tuple[Level | None, dict[str, object]]:
    sign_in(engine, ip=HOME_IP, time=T0, ip_info=place(HOME_IP, 0.0, 0.0, radius_before))
    away = place(AWAY_IP, 0.0, lon_for(km), radius_after, city="Faraway")
    result = sign_in(engine, ip=AWAY_IP, time=T0 + timedelta(minutes=minutes), ip_info=away)
    found = [d for d in result.detections if d.risk_event_type == TRAVEL]
    return (found[0].level, found[0].evidence_dict) if found else (None, {})


@pytest.mark.parametrize(
    ("km", "minutes", "radii", "expected"),
    [
        (899, 60, (0, 0), None),
        (901, 60, (0, 0), Level.MEDIUM),
        (900, 60, (0, 0), None),
        (901, 60, (1, 1), None),
        (1101, 60, (100, 100), Level.MEDIUM),
        (1099, 60, (100, 100), None),
        (1000, 61, (0, 0), Level.MEDIUM),
        (1000, 67, (0, 0), None),
        (1000, 2 * 24 * 60, (0, 0), None),
        (2699, 60, (0, 0), Level.MEDIUM),
        (2701, 60, (0, 0), Level.HIGH),
        (99, 1, (0, 0), None),
        (101, 1, (0, 0), Level.HIGH),
        (150, 1, (30, 30), None),
        (200, 10 / 60, (0, 0), Level.HIGH),
    ],
    ids=[
        "899kmh-under",
        "901kmh-over",
        "exactly-limit",
        "radii-push-under",
        "over-after-radii",
        "under-after-radii",
        "1000km-in-61min",
        "1000km-in-67min",
        "1000km-in-two-days",
        "below-3x",
        "above-3x-high",
        "under-min-distance",
        "over-min-distance",
        "radii-bring-under-min-distance",
        "ten-seconds-count-as-one-minute",
    ],
)
def test_speed_threshold_both_sides(
    engine: RiskEngine,
    km: float,
    minutes: float,
    radii: tuple[float, float],
    expected: Level | None,
) -> None:
    level, _ = travel(engine, km, minutes, *radii)
    assert level is expected


def test_evidence_and_description_from_real_geoip(engine: RiskEngine) -> None:
    sign_in(engine, ip=LONDON_IP, time=T0)
    result = sign_in(engine, ip=CHANGCHUN_IP, time=T0 + timedelta(minutes=40))
    (detection,) = [d for d in result.detections if d.risk_event_type == TRAVEL]
    evidence = detection.evidence_dict
    assert detection.level is Level.HIGH
    assert evidence["from_place"] == "London, GB" and evidence["to_place"] == "Changchun, CN"
    assert evidence["from_ip"] == LONDON_IP and evidence["to_ip"] == CHANGCHUN_IP
    assert 8100 < float(str(evidence["distance_km"])) < 8300
    assert evidence["allowance_km"] == 110 and evidence["minutes"] == 40
    assert evidence["max_speed_kmh"] == 900
    assert detection.describe().startswith("London, GB to Changchun, CN, 8,")
    assert " km in 40 minutes (12," in detection.describe()
    assert detection.describe().endswith(" km/h after allowing 110 km for location accuracy)")


def test_uses_the_last_successful_sign_in_not_failed_attempts(engine: RiskEngine) -> None:
    sign_in(engine, ip=HOME_IP, time=T0, ip_info=place(HOME_IP, 0.0, 0.0))
    far = place(AWAY_IP, 0.0, lon_for(5000))
    sign_in(engine, ip=AWAY_IP, time=T0 + timedelta(minutes=5), ip_info=far, password_valid=False)
    near = place("81.2.69.7", 0.0, lon_for(50))
    result = sign_in(engine, ip="81.2.69.7", time=T0 + timedelta(minutes=10), ip_info=near)
    assert TRAVEL not in types_of(result) and TRAVEL not in reasons_of(result)


@pytest.mark.parametrize(
    ("first", "second", "reason"),
    [
        (None, {"ip": LONDON_IP}, "no previous successful sign-in"),
        ({"ip": LONDON_IP}, {"ip": NO_RECORD_IP}, "no location for this IP"),
        ({"ip": LONDON_IP}, {"ip": "10.0.0.8"}, "private IP address"),
        ({"ip": "10.0.0.8"}, {"ip": LONDON_IP}, "no location for the previous sign-in"),
        ({"ip": LONDON_IP}, {"ip": LONDON_IP, "user_id": None}, "no such user"),
    ],
    ids=["no-history", "no-geoip-record", "private-ip", "previous-unlocated", "unknown-user"],
)
def test_cannot_evaluate_is_recorded_not_crashed(
    engine: RiskEngine,
    first: dict[str, object] | None,
    second: dict[str, object],
    reason: str,
) -> None:
    if first is not None:
        sign_in(engine, time=T0, **first)
    result = sign_in(engine, time=T0 + timedelta(minutes=5), **second)
    assert reasons_of(result)[TRAVEL] == reason
    assert TRAVEL not in types_of(result)


@pytest.mark.parametrize("trusted_side", ["before", "after"], ids=["previous", "current"])
def test_trusted_location_on_either_side_skips_travel(
    engine: RiskEngine, trusted_side: str
) -> None:
    engine = RiskEngine(
        replace(engine.settings, trusted_locations=("81.2.69.0/24",)),
        engine.feeds,
        engine.repository,
        engine.clock,
    )
    first, second = (LONDON_IP, CHANGCHUN_IP)
    if trusted_side == "after":
        first, second = second, first
    sign_in(engine, ip=first, time=T0)
    result = sign_in(engine, ip=second, time=T0 + timedelta(minutes=40))
    assert TRAVEL not in types_of(result)
    assert "trusted location" in reasons_of(result)[TRAVEL]


def test_threshold_comes_from_settings(engine: RiskEngine) -> None:
    engine = RiskEngine(
        replace(engine.settings, impossible_travel_kmh=1200.0),
        engine.feeds,
        engine.repository,
        engine.clock,
    )
    level, evidence = travel(engine, 1201, 60)
    assert level is Level.MEDIUM and evidence["max_speed_kmh"] == 1200
    fresh = RiskEngine(engine.settings, engine.feeds, type(engine.repository)(), engine.clock)
    assert travel(fresh, 1199, 60)[0] is None


def test_elapsed_time_under_a_minute_counts_as_one_minute(engine: RiskEngine) -> None:
    level, evidence = travel(engine, 200, 10 / 60)
    assert level is Level.HIGH
    assert evidence["minutes"] == 1.0 and evidence["speed_kmh"] == pytest.approx(12_000, abs=1)


HOME = place(HOME_IP, 0.0, 0.0)
AWAY = place(AWAY_IP, 0.0, lon_for(5000), city="Faraway", asn=64501)


def back_home(engine: RiskEngine, home: IpInfo = HOME, after_days: float = 3) -> Assessment:
    """Sign in at home, then away (days later, no travel), then from `home` 30 minutes
    after the away sign-in: 5,000 km in half an hour."""
    sign_in(engine, ip=HOME_IP, time=T0, ip_info=HOME)
    away_at = T0 + timedelta(days=after_days)
    sign_in(engine, ip=AWAY_IP, time=away_at, ip_info=AWAY)
    return sign_in(engine, ip=home.ip, time=away_at + timedelta(minutes=30), ip_info=home)


def test_travel_back_to_a_familiar_network_and_city_is_not_flagged(engine: RiskEngine) -> None:
    result = back_home(engine)
    assert TRAVEL not in types_of(result)
    assert reasons_of(result)[TRAVEL] == (
        "10,000 km/h from Faraway, GB, but to a network and city this user already signs in from"
    )


def test_familiar_places_are_flagged_when_the_setting_is_off(engine: RiskEngine) -> None:
    engine = RiskEngine(
        replace(engine.settings, impossible_travel_skip_familiar=False),
        engine.feeds,
        engine.repository,
        engine.clock,
    )
    result = back_home(engine)
    assert TRAVEL in types_of(result) and TRAVEL not in reasons_of(result)


@pytest.mark.parametrize(
    "home",
    [
        place("81.2.69.7", 0.0, 0.0, asn=64999),
        place("81.2.69.7", 0.0, 0.0, city="Nearby"),
        place("81.2.69.7", 0.0, 0.0, asn=None),
        place("81.2.69.7", 0.0, 0.0, city=None),
    ],
    ids=["new-network-familiar-city", "familiar-network-new-city", "no-network", "no-city"],
)
def test_travel_is_flagged_unless_both_network_and_city_are_familiar(
    engine: RiskEngine, home: IpInfo
) -> None:
    # Someone on the user's home ISP elsewhere, or a new network in the user's home city,
    # while the user is away: not a place the user is known at.
    result = back_home(engine, home)
    assert TRAVEL in types_of(result), reasons_of(result)


def test_a_place_unused_for_the_forget_period_is_not_familiar(engine: RiskEngine) -> None:
    forget = engine.settings.novelty_forget_days
    result = back_home(engine, after_days=forget + 1)
    assert TRAVEL in types_of(result), reasons_of(result)
    fresh = RiskEngine(engine.settings, engine.feeds, type(engine.repository)(), engine.clock)
    assert TRAVEL not in types_of(back_home(fresh, after_days=forget - 1))
