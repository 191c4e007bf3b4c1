"""riskDetections: Graph's shape with the evidence, filters, one detection, and its actions."""

from __future__ import annotations

import json

import pytest

from tests.idp.conftest import TOR, submit_code
from tests.idp.test_api_support import (
    AdminApi,
    challenged_from_tor,
    failed_codes_user,
    leaked_password_user,
)


def test_detection_from_a_tor_sign_in(stepup):
    alice = challenged_from_tor(stepup)
    admin = AdminApi(stepup)
    [detection] = admin.value("/identityProtection/riskDetections")
    info = json.loads(detection.pop("additionalInfo"))
    assert {item["Key"]: item["Value"] for item in info}["ip"] == TOR
    assert detection.pop("id") and detection.pop("correlationId")
    assert detection.pop("requestId")
    assert TOR in detection.pop("description")
    assert detection == {
        "riskEventType": "anonymizedIPAddress",
        "riskLevel": "medium",
        "riskState": "atRisk",
        "riskDetail": "none",
        "source": "realtime",
        "detectionTimingType": "realtime",
        "activity": "signin",
        "tokenIssuerType": "idp",
        "ipAddress": TOR,
        "location": {
            "city": None,
            "state": None,
            "countryOrRegion": None,
            "geoCoordinates": {"latitude": None, "longitude": None, "altitude": None},
        },
        "activityDateTime": "2026-03-02T09:00:00Z",
        "detectedDateTime": "2026-03-02T09:00:00Z",
        "lastUpdatedDateTime": "2026-03-02T09:00:00Z",
        "userId": alice,
        "userPrincipalName": "alice",
        "userDisplayName": None,
    }


def test_detection_correlates_with_its_sign_in(stepup):
    challenged_from_tor(stepup)
    admin = AdminApi(stepup)
    [detection] = admin.value("/identityProtection/riskDetections")
    sign_ins = admin.value("/auditLogs/signIns", {"correlationId": detection["correlationId"]})
    assert [s["riskEventTypes"] for s in sign_ins] == [["anonymizedIPAddress"]]
    one = admin.get(f"/identityProtection/riskDetections/{detection['id']}")
    assert one.status_code == 200 and one.get_json() == detection


def test_user_detection_has_location_and_user_activity(stepup):
    leaked_password_user(stepup)
    [detection] = AdminApi(stepup).value("/identityProtection/riskDetections")
    assert (detection["riskEventType"], detection["activity"], detection["riskLevel"]) == (
        "leakedCredentials",
        "user",
        "high",
    )
    assert detection["location"]["city"] == "London"
    assert detection["location"]["countryOrRegion"] == "GB"
    assert detection["location"]["geoCoordinates"]["latitude"] == pytest.approx(51.5142)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"riskEventType": "leakedCredentials"}, ["leakedCredentials"]),
        ({"riskLevel": "medium"}, ["anonymizedIPAddress"]),
        ({"userPrincipalName": "alice"}, ["anonymizedIPAddress"]),
        (
            {"$filter": "riskEventType eq 'anonymizedIPAddress' and riskState eq 'atRisk'"},
            ["anonymizedIPAddress"],
        ),
        ({"$filter": "detectedDateTime ge 2026-03-02T09:30:00Z"}, ["leakedCredentials"]),
        ({"since": "2026-03-02T10:00:00Z"}, ["leakedCredentials"]),
        ({"since": "2026-03-02T10:00:01Z"}, []),
        ({"until": "2026-03-02T10:00:00Z"}, ["anonymizedIPAddress"]),
    ],
    ids=[
        "type",
        "level",
        "upn",
        "filter",
        "filter-time",
        "since-inclusive",
        "since-after",
        "until-exclusive",
    ],
)
def test_filters(stepup, query, expected):
    challenged_from_tor(stepup)
    stepup.clock.advance(hours=1)
    leaked_password_user(stepup)
    detections = AdminApi(stepup).value("/identityProtection/riskDetections", query)
    assert [d["riskEventType"] for d in detections] == expected


def test_unknown_detection_is_404(provider):
    admin = AdminApi(provider)
    assert admin.get("/identityProtection/riskDetections/nope").status_code == 404
    response = admin.post("/identityProtection/riskDetections/nope/resolve")
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


@pytest.mark.parametrize(
    ("action", "state", "user_state"),
    [
        ("resolve", "remediated", "remediated"),
        ("falsePositive", "confirmedSafe", "remediated"),
        ("ignore", "dismissed", "remediated"),
    ],
    ids=["resolve", "false-positive", "ignore"],
)
def test_detection_actions(stepup, action, state, user_state):
    alice = failed_codes_user(stepup)
    admin = AdminApi(stepup)
    [detection] = admin.value("/identityProtection/riskDetections", {"riskEventType": "mfaFraud"})
    stepup.clock.advance(minutes=10)
    response = admin.post(f"/identityProtection/riskDetections/{detection['id']}/{action}")
    assert response.status_code == 204
    after = admin.get(f"/identityProtection/riskDetections/{detection['id']}").get_json()
    assert after["riskState"] == state
    assert after["lastUpdatedDateTime"] == "2026-03-02T09:10:00Z"
    user = admin.get(f"/identityProtection/riskyUsers/{alice}").get_json()
    assert (user["riskLevel"], user["riskState"]) == ("none", user_state)
    newest = admin.value(f"/identityProtection/riskyUsers/{alice}/history")[0]
    assert newest["initiatedBy"] == admin.actor
    assert detection["id"] in newest["note"]
    # Closed: doing it again does not apply; reactivating opens it again.
    again = admin.post(f"/identityProtection/riskDetections/{detection['id']}/{action}")
    assert again.status_code == 400 and "not active" in again.get_json()["error_description"]
    reopened = admin.post(f"/identityProtection/riskDetections/{detection['id']}/reactivate")
    assert reopened.status_code == 204
    user = admin.get(f"/identityProtection/riskyUsers/{alice}").get_json()
    assert (user["riskLevel"], user["riskState"]) == ("medium", "atRisk")


def test_reactivate_refuses_what_the_user_remediated(stepup):
    alice = stepup.user("alice")
    secret = stepup.register_totp("alice")
    rp = stepup.browser_rp(TOR)
    challenge = rp.sign_in("alice")
    rp.code_from(rp.browser.get(submit_code(rp, challenge.location, stepup.code(secret)).location))
    admin = AdminApi(stepup)
    [detection] = admin.value("/identityProtection/riskDetections", {"userId": alice})
    assert detection["riskDetail"] == "userPassedMFADrivenByRiskBasedPolicy"
    response = admin.post(f"/identityProtection/riskDetections/{detection['id']}/reactivate")
    assert response.status_code == 400
    assert "cannot be reactivated" in response.get_json()["error_description"]
    active = admin.post(f"/identityProtection/riskDetections/{detection['id']}/resolve")
    assert active.status_code == 400


def test_unknown_detection_action_is_404(stepup):
    challenged_from_tor(stepup)
    admin = AdminApi(stepup)
    [detection] = admin.value("/identityProtection/riskDetections")
    response = admin.post(f"/identityProtection/riskDetections/{detection['id']}/delete")
    assert response.status_code == 404
