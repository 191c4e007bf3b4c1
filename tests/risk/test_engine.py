from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from risk.context import IpInfo, SignInContext
from risk.detections import Detection
from risk.detectors import DetectorEnv, NotEvaluated, Result
from risk.engine import RiskEngine, aggregate_sign_in_level
from risk.levels import Level
from risk.settings import RiskSettings
from risk.vocabulary import RiskEventType
from tests.risk.conftest import LONDON_IP, T0, TOR_IP, FrozenClock, make_ctx

L, M, H = Level.LOW, Level.MEDIUM, Level.HIGH
SIGN_IN_TYPES = [
    RiskEventType.ANONYMIZED_IP_ADDRESS,
    RiskEventType.UNLIKELY_TRAVEL,
    RiskEventType.NEW_COUNTRY,
    RiskEventType.UNFAMILIAR_FEATURES,
]


def detections(*levels: Level) -> list[Detection]:
    return [Detection(SIGN_IN_TYPES[i], level) for i, level in enumerate(levels)]


@pytest.mark.parametrize(
    ("levels", "trusted", "expected"),
    [
        ((), False, Level.NONE),
        ((L,), False, L),
        ((L, L), False, L),
        ((M,), False, M),
        ((M, L), False, M),
        ((M, M), False, H),
        ((H, M), False, H),
        ((L, L, L), False, L),
        ((M,), True, L),
        ((M, M), True, M),
        ((L,), True, Level.NONE),
        ((H,), True, M),
    ],
    ids=[
        "nothing",
        "one-low",
        "two-lows-stay-low",
        "one-medium",
        "medium-and-low",
        "two-mediums-raise",
        "high-capped",
        "three-lows",
        "trusted-lowers-medium",
        "trusted-after-raise",
        "trusted-lowers-low-to-none",
        "trusted-lowers-high",
    ],
)
def test_default_aggregation_rule(
    levels: tuple[Level, ...], trusted: bool, expected: Level
) -> None:
    level = aggregate_sign_in_level(detections(*levels), RiskSettings(), trusted_location=trusted)
    assert level is expected


@pytest.mark.parametrize(
    ("changes", "levels", "expected"),
    [
        ({"aggregate_raise_min_count": 0}, (M, M), M),
        ({"aggregate_raise_min_level": Level.LOW}, (L, L), M),
        ({"aggregate_raise_min_count": 3}, (M, M), M),
        ({"aggregate_raise_min_count": 3}, (M, M, M), H),
        ({"trusted_location_lower_steps": 0}, (M,), M),
    ],
    ids=["raise-off", "lows-count", "three-needed-two", "three-needed-three", "trust-no-effect"],
)
def test_aggregation_rule_is_configurable(
    changes: dict[str, object], levels: tuple[Level, ...], expected: Level
) -> None:
    settings = replace(RiskSettings(), **changes)  # type: ignore[arg-type]
    trusted = "trusted_location_lower_steps" in changes
    assert aggregate_sign_in_level(detections(*levels), settings, trusted_location=trusted) is (
        expected
    )


def test_user_scope_detections_do_not_raise_sign_in_risk() -> None:
    found = [Detection(RiskEventType.LEAKED_CREDENTIALS, H), Detection(RiskEventType.MFA_FRAUD, M)]
    assert aggregate_sign_in_level(found, RiskSettings()) is Level.NONE


def test_trusted_location_lowers_a_real_assessment(engine: RiskEngine) -> None:
    risky = engine.evaluate(make_ctx(ip=TOR_IP))
    assert risky.sign_in_risk_level is Level.MEDIUM and not risky.trusted_location
    trusting = RiskEngine(
        replace(engine.settings, trusted_locations=("185.220.101.0/24",)),
        engine.feeds,
        engine.repository,
    )
    lowered = trusting.evaluate(make_ctx(ip=TOR_IP))
    assert lowered.trusted_location and lowered.sign_in_risk_level is Level.LOW
    assert lowered.risk_event_types == ("anonymizedIPAddress",)


class Exploding:
    name = "unlikelyTravel"

    def evaluate(self, ctx: SignInContext, env: DetectorEnv) -> Result:
        raise RuntimeError("database went away")


class Unsure:
    name = "newCountry"

    def evaluate(self, ctx: SignInContext, env: DetectorEnv) -> Result:
        return NotEvaluated(self.name, "no data")


def test_a_failing_detector_is_recorded_and_fails_towards_step_up(
    engine: RiskEngine, caplog: pytest.LogCaptureFixture
) -> None:
    broken = RiskEngine(
        engine.settings, engine.feeds, engine.repository, detectors=[Exploding(), Unsure()]
    )
    with caplog.at_level(logging.ERROR, logger="risk.engine"):
        result = broken.evaluate(make_ctx(correlation_id="c-42"))
    assert result.degraded
    assert result.sign_in_risk_level is Level.MEDIUM
    assert result.not_evaluated == (
        NotEvaluated("unlikelyTravel", "error: RuntimeError"),
        NotEvaluated("newCountry", "no data"),
    )
    assert "risk detector unlikelyTravel failed for correlation_id=c-42" in caplog.text


def test_a_clean_sign_in_has_no_risk_and_says_what_it_could_not_check(engine: RiskEngine) -> None:
    result = engine.evaluate(make_ctx(ip=LONDON_IP))
    assert result.sign_in_risk_level is Level.NONE and result.detections == ()
    assert {n.detector for n in result.not_evaluated} == {
        "unlikelyTravel",
        "unfamiliarFeatures",
        "newCountry",
    }
    assert result.ip_info.city == "London" and not result.degraded
    assert ("country", "GB") in result.features


def test_pre_resolved_ip_info_replaces_the_geoip_lookup(engine: RiskEngine) -> None:
    info = IpInfo(ip=LONDON_IP, country="NO", city="Oslo", asn=2119)
    result = engine.evaluate(make_ctx(ip=LONDON_IP, ip_info=info))
    assert result.ip_info is info
    assert ("city", "Oslo, NO") in result.features


def test_evaluated_at_comes_from_the_injected_clock(engine: RiskEngine, clock: FrozenClock) -> None:
    clock.advance(minutes=3)
    assert engine.evaluate(make_ctx()).evaluated_at == T0 + timedelta(minutes=3)


@pytest.mark.parametrize(
    "when",
    [datetime(2026, 3, 2, 9, 0), datetime(2026, 3, 2, 10, 0, tzinfo=timezone(timedelta(hours=1)))],
    ids=["naive", "not-utc"],
)
def test_context_refuses_non_utc_times(when: datetime) -> None:
    with pytest.raises(ValueError, match="timezone-aware UTC"):
        make_ctx(time=when)


def test_context_refuses_a_bad_ip_and_hides_the_password() -> None:
    with pytest.raises(ValueError, match="must be an IP address"):
        make_ctx(ip="not-an-ip")
    ctx = make_ctx(password="pa55word!", password_valid=True)
    assert "pa55word!" not in repr(ctx)
    assert make_ctx(time=datetime(2026, 1, 1, tzinfo=UTC)).time.tzinfo is UTC


def test_risk_imports_without_flask_sqlalchemy_or_authlib() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import risk\n"
        "names = [m.name for m in pkgutil.walk_packages(risk.__path__, 'risk.')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "assert 'risk.engine' in names and 'risk.replay' in names, names\n"
        "bad = {m.split('.')[0] for m in sys.modules} & {'flask', 'sqlalchemy', 'authlib'}\n"
        "assert not bad, bad\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=root
    )
    assert done.returncode == 0, done.stderr
