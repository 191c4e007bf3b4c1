from __future__ import annotations

from datetime import timedelta

import pytest

from risk.engine import RiskEngine
from risk.levels import Level
from tests.risk.conftest import T0, sign_in, types_of

ATTACKER = "45.9.148.7"


def spray(engine: RiskEngine, accounts: int, start_minutes_ago: float, repeat: int = 1) -> None:
    """Wrong passwords from ATTACKER for `accounts` distinct names, ending a minute before T0+1h."""
    now = T0 + timedelta(hours=1)
    for index in range(accounts):
        for _ in range(repeat):
            sign_in(
                engine,
                ip=ATTACKER,
                username=f"User{index}",
                user_id=f"u{index}",
                password_valid=False,
                time=now - timedelta(minutes=start_minutes_ago) + timedelta(seconds=index),
            )


def now_attempt(engine: RiskEngine, **overrides: object) -> set[str]:
    values: dict[str, object] = {"ip": ATTACKER, "time": T0 + timedelta(hours=1)}
    values.update(overrides)
    return types_of(sign_in(engine, **values))


@pytest.mark.parametrize(
    ("accounts", "minutes_ago", "suspicious"),
    [(9, 30, False), (10, 30, True), (10, 61, False), (10, 59, True)],
    ids=["9-accounts", "10-accounts", "outside-60min-window", "inside-window"],
)
def test_suspicious_ip_needs_enough_distinct_accounts_in_the_window(
    engine: RiskEngine, accounts: int, minutes_ago: float, suspicious: bool
) -> None:
    spray(engine, accounts, minutes_ago)
    found = now_attempt(engine, password_valid=False, username="someone")
    assert ("suspiciousIPAddress" in found) is suspicious


def test_retrying_one_account_is_not_spraying(engine: RiskEngine) -> None:
    spray(engine, 3, 30, repeat=20)
    assert not now_attempt(engine) & {"suspiciousIPAddress", "passwordSpray"}


def test_usernames_are_compared_casefolded(engine: RiskEngine) -> None:
    for name in ("Bob", "bob", "BOB", "bOb", "boB"):
        sign_in(engine, ip=ATTACKER, username=name, password_valid=False, time=T0)
    assert engine.repository.failed_accounts_from_ip(ATTACKER, T0) == 1


@pytest.mark.parametrize(
    ("accounts", "password_valid", "spray_expected"),
    [(4, True, False), (5, True, True), (5, False, False)],
    ids=["4-accounts", "5-accounts", "wrong-password-is-not-spray"],
)
def test_password_spray_is_a_correct_password_from_a_spraying_ip(
    engine: RiskEngine, accounts: int, password_valid: bool, spray_expected: bool
) -> None:
    spray(engine, accounts, 10)
    found = now_attempt(engine, password_valid=password_valid)
    assert ("passwordSpray" in found) is spray_expected


def test_spray_and_suspicious_together_make_high_with_evidence(engine: RiskEngine) -> None:
    spray(engine, 12, 10)
    result = sign_in(engine, ip=ATTACKER, time=T0 + timedelta(hours=1))
    assert {"passwordSpray", "suspiciousIPAddress"} <= types_of(result)
    assert result.sign_in_risk_level is Level.HIGH
    (detection,) = [d for d in result.detections if d.risk_event_type == "passwordSpray"]
    assert detection.evidence_dict == {"ip": ATTACKER, "failed_accounts": 12, "window_minutes": 60}
    assert detection.describe() == (
        f"Correct password from {ATTACKER}, which failed sign-ins for 12 accounts in the last "
        "60 minutes"
    )


def test_other_ips_are_not_affected(engine: RiskEngine) -> None:
    spray(engine, 20, 10)
    assert not now_attempt(engine, ip="45.9.148.8") & {"suspiciousIPAddress", "passwordSpray"}


def test_spray_and_suspicious_ip_ask_the_repository_once(engine, repo):
    """Both detectors need the same failed-account count; one query serves both."""
    calls = []
    original = repo.failed_accounts_from_ip

    def counting(ip, since):
        calls.append((ip, since))
        return original(ip, since)

    repo.failed_accounts_from_ip = counting
    sign_in(engine, password="right", password_valid=True)
    assert len(calls) == 1
