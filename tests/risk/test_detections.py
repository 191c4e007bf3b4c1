from __future__ import annotations

import json

import pytest

from risk.detections import Detection, admin_confirmed_compromised, anomalous_token
from risk.levels import Level
from risk.vocabulary import RiskEventType, Scope

E = RiskEventType


@pytest.mark.parametrize(
    ("detection", "text"),
    [
        (
            Detection.of(
                E.MALICIOUS_IP_ADDRESS,
                Level.MEDIUM,
                ip="45.9.148.7",
                list="malicious_ip_list",
                entry="45.9.148.0/24",
            ),
            "45.9.148.7 is listed in malicious_ip_list as 45.9.148.0/24",
        ),
        (
            Detection.of(
                E.ANONYMIZED_IP_ADDRESS,
                Level.MEDIUM,
                ip="185.220.101.1",
                source="anonymous_ip_db",
                flags=("Tor exit node",),
            ),
            "185.220.101.1 is an anonymizing service (Tor exit node) per the Anonymous-IP database",
        ),
        (
            Detection.of(
                E.SUSPICIOUS_IP_ADDRESS,
                Level.MEDIUM,
                ip="45.9.148.7",
                failed_accounts=1234,
                window_minutes=60,
            ),
            "45.9.148.7 failed sign-ins for 1,234 accounts in the last 60 minutes",
        ),
        (
            Detection.of(
                E.UNLIKELY_TRAVEL,
                Level.HIGH,
                from_place="London, GB",
                to_place="Changchun, CN",
                distance_km=8200.4,
                allowance_km=0,
                minutes=40,
                speed_kmh=12300.6,
            ),
            "London, GB to Changchun, CN, 8,200 km in 40 minutes (12,301 km/h)",
        ),
        (
            Detection.of(
                E.UNFAMILIAR_FEATURES,
                Level.MEDIUM,
                bits=10.4,
                one_in=1351,
                new_features=("network 5607: ...: 8.4 bits", "device d2: ...: 2.0 bits"),
                low_bits=7.0,
                medium_bits=10.0,
                high_bits=14.0,
            ),
            "About 1 in 1,351 sign-ins look this new (10.4 bits; low at 7.0, medium at 10.0, "
            "high at 14.0): network 5607: ...: 8.4 bits; device d2: ...: 2.0 bits",
        ),
        (
            Detection.of(E.LEAKED_CREDENTIALS, Level.HIGH, times_seen=9659365),
            "The password just typed is in the leaked-password corpus (seen 9,659,365 times)",
        ),
        (
            anomalous_token(client_id="app", token_family="fam-1"),
            "A rotated refresh token of client app was presented again",
        ),
        (
            admin_confirmed_compromised(admin="root"),
            "Administrator root confirmed this user compromised",
        ),
    ],
    ids=[
        "listed",
        "anonymous-db",
        "suspicious",
        "travel",
        "unfamiliar",
        "leaked",
        "token",
        "admin",
    ],
)
def test_describe_is_plain_language(detection: Detection, text: str) -> None:
    assert detection.describe() == text


def test_helpers_build_consistent_user_risk_detections() -> None:
    token = anomalous_token(client_id="app", token_family="fam-1")
    admin = admin_confirmed_compromised(admin="root")
    assert (token.risk_event_type, token.level, token.scope) == (
        "anomalousToken",
        Level.HIGH,
        Scope.USER,
    )
    assert (admin.risk_event_type, admin.level, admin.scope) == (
        "adminConfirmedUserCompromised",
        Level.HIGH,
        Scope.USER,
    )
    assert admin.evidence_dict == {"admin": "root"}


def test_evidence_is_json_ready_and_typed() -> None:
    detection = Detection.of(E.UNFAMILIAR_FEATURES, Level.LOW, new_features=("a", "b"), n=2)
    assert json.loads(json.dumps(detection.evidence_dict)) == {"new_features": ["a", "b"], "n": 2}
    with pytest.raises(TypeError, match="plain JSON value"):
        Detection.of(E.NEW_COUNTRY, Level.LOW, country={"iso": "SE"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("event_type", "scope"),
    [
        (E.LEAKED_CREDENTIALS, Scope.USER),
        (E.MFA_FRAUD, Scope.USER),
        (E.ANOMALOUS_TOKEN, Scope.USER),
        (E.ADMIN_CONFIRMED_USER_COMPROMISED, Scope.USER),
        (E.UNLIKELY_TRAVEL, Scope.SIGN_IN),
        (E.PASSWORD_SPRAY, Scope.SIGN_IN),
    ],
    ids=lambda v: str(v),
)
def test_scope_follows_the_event_type(event_type: RiskEventType, scope: Scope) -> None:
    assert Detection(event_type, Level.LOW).scope is scope


def test_vocabulary_matches_the_spec_strings() -> None:
    assert {t.value for t in RiskEventType} == {
        "leakedCredentials",
        "anonymizedIPAddress",
        "maliciousIPAddress",
        "malwareInfectedIPAddress",
        "suspiciousIPAddress",
        "passwordSpray",
        "unlikelyTravel",
        "unfamiliarFeatures",
        "newCountry",
        "adminConfirmedUserCompromised",
        "anomalousToken",
        "mfaFraud",
        "userReportedSuspiciousActivity",
    }


@pytest.mark.parametrize(
    "minutes, text",
    [
        (0.5, "in 30 seconds"),
        (1, "in 1 minute ("),
        (1.4, "in 1 minute ("),
        (2, "in 2 minutes"),
    ],
    ids=["seconds", "one-minute", "rounds-to-one", "plural"],
)
def test_travel_duration_wording(minutes, text):
    detection = Detection.of(
        RiskEventType.UNLIKELY_TRAVEL,
        Level.HIGH,
        from_place="London, GB",
        to_place="Changchun, CN",
        distance_km=8200,
        minutes=minutes,
        speed_kmh=9000,
    )
    assert text in detection.describe()
