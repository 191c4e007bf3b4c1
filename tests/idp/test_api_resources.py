"""The admin API's resources, pinned: exact JSON of each from known rows, and the OpenAPI
document generated from the same models staying OpenAPI 3.0.

The serializers are called on rows built in memory, so a change to a property's name, order,
null or format shows here as a plain diff.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from idp.models import RiskDetection, RiskHistory, SignIn, User, UserRisk
from idp.views.api import serializers
from idp.views.api.openapi import document
from tests.idp.test_api_support import AdminApi

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 3, 2, 9, 5, 30, 250000, tzinfo=UTC)


def _user() -> User:
    return User(id="u-1", username="alice", display_name=None)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def test_risky_user():
    risk = UserRisk(
        user_id="u-1", risk_level="high", risk_state="atRisk", risk_detail="none", updated_at=LATER
    )
    assert _compact(serializers.risky_user(_user(), risk)) == (
        '{"id":"u-1","userPrincipalName":"alice","userDisplayName":null,"riskLevel":"high",'
        '"riskState":"atRisk","riskDetail":"none",'
        '"riskLastUpdatedDateTime":"2026-03-02T09:05:30.250000Z","isDeleted":false,'
        '"isProcessing":false}'
    )


def test_history_item_lists_the_event_type_only_for_a_detection():
    item = RiskHistory(
        id="h-1",
        user_id="u-1",
        at=AT,
        initiated_by="client:c1",
        activity="leakedCredentials",
        risk_level="high",
        risk_state="atRisk",
        risk_detail="none",
        note="",
    )
    assert serializers.history_item(_user(), item) == {
        "id": "h-1",
        "userId": "u-1",
        "userPrincipalName": "alice",
        "userDisplayName": None,
        "initiatedBy": "client:c1",
        "activity": {"detail": "none", "riskEventTypes": ["leakedCredentials"]},
        "riskLevel": "high",
        "riskState": "atRisk",
        "riskDetail": "none",
        "riskLastUpdatedDateTime": "2026-03-02T09:00:00Z",
        "isDeleted": False,
        "isProcessing": False,
        "action": "leakedCredentials",
        "note": "",
    }
    item.activity = "dismissed"
    assert serializers.history_item(_user(), item)["activity"]["riskEventTypes"] == []


def test_risk_detection_keeps_coordinates_as_stored_and_evidence_as_a_json_string():
    row = RiskDetection(
        id="d-1",
        user_id="u-1",
        correlation_id="c-1",
        risk_event_type="unlikelyTravel",
        risk_level="medium",
        scope="signIn",
        risk_state="atRisk",
        risk_detail="none",
        detected_at=AT,
        last_updated_at=LATER,
        ip="81.2.69.142",
        location={
            "city": "London",
            "countryOrRegion": "GB",
            "geoCoordinates": {"latitude": 51, "longitude": -0.0931},
        },
        evidence={"speed_kmh": 5000, "from": "Paris", "at": AT},
        description="Too fast.",
        source="realtime",
    )
    assert _compact(serializers.risk_detection(row, _user())) == (
        '{"id":"d-1","requestId":"c-1","correlationId":"c-1","riskEventType":"unlikelyTravel",'
        '"riskLevel":"medium","riskState":"atRisk","riskDetail":"none","source":"realtime",'
        '"detectionTimingType":"realtime","activity":"signin","tokenIssuerType":"idp",'
        '"ipAddress":"81.2.69.142","location":{"city":"London","state":null,'
        '"countryOrRegion":"GB","geoCoordinates":{"latitude":51,"longitude":-0.0931,'
        '"altitude":null}},"activityDateTime":"2026-03-02T09:00:00Z",'
        '"detectedDateTime":"2026-03-02T09:00:00Z",'
        '"lastUpdatedDateTime":"2026-03-02T09:05:30.250000Z","userId":"u-1",'
        '"userPrincipalName":"alice","userDisplayName":null,'
        '"additionalInfo":"[{\\"Key\\":\\"at\\",\\"Value\\":\\"2026-03-02 09:00:00+00:00\\"},'
        '{\\"Key\\":\\"from\\",\\"Value\\":\\"Paris\\"},'
        '{\\"Key\\":\\"speed_kmh\\",\\"Value\\":5000}]","description":"Too fast."}'
    )


def test_admin_detection_without_location():
    row = RiskDetection(
        id="d-2",
        user_id="u-1",
        correlation_id=None,
        risk_event_type="adminConfirmedUserCompromised",
        risk_level="high",
        scope="user",
        risk_state="confirmedCompromised",
        risk_detail="adminConfirmedUserCompromised",
        detected_at=AT,
        last_updated_at=AT,
        ip=None,
        location={"geoCoordinates": "garbage"},
        evidence={},
        description="",
        source="admin",
    )
    shown = serializers.risk_detection(row, _user())
    assert (shown["requestId"], shown["correlationId"], shown["ipAddress"]) == (None,) * 3
    assert shown["detectionTimingType"] == "offline" and shown["activity"] == "user"
    assert shown["location"] == {
        "city": None,
        "state": None,
        "countryOrRegion": None,
        "geoCoordinates": {"latitude": None, "longitude": None, "altitude": None},
    }
    assert shown["additionalInfo"] == "[]"


def _sign_in(**changes: Any) -> SignIn:
    values: dict[str, Any] = dict(
        id="s-1",
        created_at=AT,
        correlation_id="c-1",
        user_id=None,
        username="mallory",
        client_id="app-1",
        ip="185.220.101.1",
        user_agent=None,
        kind="password",
        outcome="failure",
        error_code=None,
        reason=None,
        risk_level_during_sign_in="none",
        risk_level_aggregated="none",
        risk_state="none",
        risk_detail="none",
        risk_event_types=None,
        policies=None,
        country=None,
        city=None,
        latitude=None,
        longitude=None,
    )
    values.update(changes)
    return SignIn(**values)


def test_sign_in_of_an_unknown_user():
    assert _compact(serializers.sign_in(_sign_in(), None)) == (
        '{"id":"s-1","createdDateTime":"2026-03-02T09:00:00Z","userId":null,'
        '"userPrincipalName":"mallory","userDisplayName":null,"appId":"app-1",'
        '"ipAddress":"185.220.101.1","userAgent":null,"location":{"city":null,"state":null,'
        '"countryOrRegion":null,"geoCoordinates":{"latitude":null,"longitude":null,'
        '"altitude":null}},"correlationId":"c-1","riskLevelDuringSignIn":"none",'
        '"riskLevelAggregated":"none","riskState":"none","riskDetail":"none",'
        '"riskEventTypes":[],"riskEventTypes_v2":[],"status":{"errorCode":0,'
        '"failureReason":null,"additionalDetails":null},"conditionalAccessStatus":"notApplied",'
        '"appliedConditionalAccessPolicies":[],"outcome":"failure"}'
    )


def test_sign_in_policies_and_conditional_access_status():
    def policy(name: str, result: str) -> dict[str, str]:
        return {"displayName": name, "result": result, "reason": f"{name} {result}"}

    row = _sign_in(
        user_id="u-1",
        username="alice",
        error_code=50076,
        outcome="interrupted",
        reason="step-up",
        risk_event_types=["anonymizedIPAddress"],
        latitude=51.5,
        longitude=-0.1,
        city="London",
        country="GB",
        policies=[
            policy("signInRiskPolicy", "failure"),
            policy("userRiskPolicy", "reportOnlyFailure"),
        ],
    )
    shown = serializers.sign_in(row, User(id="u-1", username="alice", display_name="Alice"))
    assert shown["userDisplayName"] == "Alice"
    assert shown["status"] == {
        "errorCode": 50076,
        "failureReason": "step-up",
        "additionalDetails": None,
    }
    assert shown["riskEventTypes"] == shown["riskEventTypes_v2"] == ["anonymizedIPAddress"]
    assert shown["location"]["geoCoordinates"] == {
        "latitude": 51.5,
        "longitude": -0.1,
        "altitude": None,
    }
    assert shown["conditionalAccessStatus"] == "failure"
    assert shown["appliedConditionalAccessPolicies"][1] == {
        "id": "userRiskPolicy",
        "displayName": "userRiskPolicy",
        "result": "reportOnlyFailure",
        "reason": "userRiskPolicy reportOnlyFailure",
    }
    # Report-only results enforce nothing: they neither succeed nor fail a sign-in.
    only_report = _sign_in(policies=[policy("userRiskPolicy", "reportOnlySuccess")])
    assert serializers.sign_in(only_report, None)["conditionalAccessStatus"] == "notApplied"
    success = _sign_in(policies=[policy("signInRiskPolicy", "success")])
    assert serializers.sign_in(success, None)["conditionalAccessStatus"] == "success"


def test_recommendation():
    item = {
        "id": "usersWithoutSecondFactor",
        "title": "Register a second factor",
        "description": "2 users",
        "impactedCount": 2,
        "status": "active",
        "actionUrl": "http://idp.test/admin/users",
    }
    assert serializers.recommendation(item) == item


def test_user_resource(provider):
    user_id = provider.user()
    admin = AdminApi(provider)
    changed = admin.http.patch(
        f"/api/v1/users/{user_id}",
        headers=admin.headers(),
        json={"displayName": "Alice A", "city": "Paris", "claims": {"email_verified": True}},
    )
    assert changed.status_code == 200, changed.get_json()
    shown = admin.get(f"/users/{user_id}").get_json()
    assert list(shown) == sorted(shown)  # Flask writes keys sorted
    claims = shown.pop("claims")
    assert shown == {
        "id": user_id,
        "userPrincipalName": "alice",
        "displayName": "Alice A",
        "givenName": None,
        "surname": None,
        "mail": shown["mail"],
        "mobilePhone": None,
        "preferredLanguage": None,
        "streetAddress": None,
        "city": "Paris",
        "state": None,
        "postalCode": None,
        "country": None,
        "accountEnabled": True,
        "createdDateTime": shown["createdDateTime"],
    }
    assert shown["createdDateTime"].endswith("Z")
    assert claims["name"] == "Alice A" and claims["address"] == {"locality": "Paris"}
    assert claims["preferred_username"] == "alice" and isinstance(claims["updated_at"], int)
    assert None not in claims.values()


def _walk(node: Any, path: str = ""):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}/{index}")


def test_the_generated_document_is_openapi_3_0():
    doc = document()
    schemas = doc["components"]["schemas"]
    assert doc["openapi"] == "3.0.3"
    for path, node in _walk(doc):
        if "$ref" in node:
            assert set(node) == {"$ref"}, path  # 3.0 ignores a $ref's siblings
            assert node["$ref"].removeprefix("#/components/schemas/") in schemas, path
    for path, node in _walk(schemas):
        if path.endswith("/properties"):
            continue
        assert not {"const", "$defs", "prefixItems", "examples"} & set(node), path
        assert not isinstance(node.get("type"), list), path
        assert node.get("type") != "null", path
        assert not isinstance(node.get("title"), str), path
    # Every response object says every property, and nothing else.
    for name in (
        "RiskyUser",
        "RiskyUserHistoryItem",
        "RiskDetection",
        "SignIn",
        "User",
        "Recommendation",
        "SignInStatus",
        "SignInLocation",
        "GeoCoordinates",
    ):
        assert schemas[name]["required"] == list(schemas[name]["properties"]), name
        assert schemas[name]["additionalProperties"] is False, name
    assert schemas["SignIn"]["properties"]["userId"] == {"type": "string", "nullable": True}
    assert schemas["RiskyUser"]["properties"]["riskLastUpdatedDateTime"] == {
        "type": "string",
        "format": "date-time",
    }
    assert schemas["SignIn"]["properties"]["riskLevelAggregated"]["enum"] == [
        "none",
        "low",
        "medium",
        "high",
    ]
    assert "required" not in schemas["UserUpdate"]
