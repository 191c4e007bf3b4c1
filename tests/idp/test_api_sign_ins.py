"""auditLogs/signIns and the JSON lines export, from sign-ins made through the real pages."""

from __future__ import annotations

import json
from urllib.parse import urlparse

import pytest

from tests.idp.conftest import LONDON, TOR
from tests.idp.test_api_support import AdminApi, challenged_from_tor


def _three_sign_ins(stepup):
    """09:00 success from London, 09:01 wrong password, 09:02 challenged from Tor."""
    alice = stepup.user()
    stepup.register_totp()
    rp = stepup.browser_rp(LONDON)
    rp.tokens()
    stepup.clock.advance(minutes=1)
    assert stepup.browser_rp(LONDON).sign_in("alice", "wrong password").status_code == 401
    stepup.clock.advance(minutes=1)
    tor = stepup.browser_rp(TOR)
    assert "/mfa/verify" in tor.sign_in().location
    return alice, rp.client_id, tor.client_id


def test_sign_ins_newest_first_in_graph_shape(stepup):
    alice, london_app, tor_app = _three_sign_ins(stepup)
    admin = AdminApi(stepup)
    challenged, failed, success = admin.value("/auditLogs/signIns")
    assert [s["createdDateTime"] for s in (challenged, failed, success)] == [
        "2026-03-02T09:02:00Z",
        "2026-03-02T09:01:00Z",
        "2026-03-02T09:00:00Z",
    ]

    assert success["userId"] == alice and success["userPrincipalName"] == "alice"
    assert success["appId"] == london_app and success["ipAddress"] == LONDON
    assert success["status"] == {"errorCode": 0, "failureReason": None, "additionalDetails": None}
    assert success["location"]["city"] == "London"
    assert success["location"]["countryOrRegion"] == "GB"
    assert success["conditionalAccessStatus"] == "notApplied"
    assert success["outcome"] == "success"
    assert {p["displayName"]: p["result"] for p in success["appliedConditionalAccessPolicies"]} == {
        "mfaRegistrationPolicy": "notApplied",
        "signInRiskPolicy": "notApplied",
        "userRiskPolicy": "notApplied",
    }

    assert failed["status"]["errorCode"] == 50126 and failed["outcome"] == "failure"

    assert challenged["appId"] == tor_app and challenged["ipAddress"] == TOR
    assert challenged["status"]["errorCode"] == 50076
    assert challenged["outcome"] == "interrupted"
    assert challenged["riskLevelDuringSignIn"] == "medium"
    assert challenged["riskLevelAggregated"] == "medium"
    # The Tor detection is about the address: it raises this sign-in's risk, not alice's.
    assert challenged["riskState"] == "none"
    assert (
        challenged["riskEventTypes"] == challenged["riskEventTypes_v2"] == ["anonymizedIPAddress"]
    )
    assert challenged["conditionalAccessStatus"] == "failure"
    policies = {p["displayName"]: p for p in challenged["appliedConditionalAccessPolicies"]}
    assert policies["signInRiskPolicy"]["result"] == "failure"
    assert "mfa_at medium" in policies["signInRiskPolicy"]["reason"]
    assert challenged["correlationId"]


@pytest.mark.parametrize(
    ("query", "minutes"),
    [
        ({"riskLevel": "medium"}, [2]),
        ({"riskLevelDuringSignIn": "none"}, [1, 0]),
        ({"$filter": "status/errorCode eq 0"}, [0]),
        ({"$filter": "status/errorCode ne 0"}, [2, 1]),
        (
            {
                "$filter": "createdDateTime ge 2026-03-02T09:01:00Z and createdDateTime le "
                "2026-03-02T09:01:00Z"
            },
            [1],
        ),
        ({"$filter": "createdDateTime gt 2026-03-02T09:01:00Z"}, [2]),
        ({"since": "2026-03-02T09:01:00Z", "until": "2026-03-02T09:02:00Z"}, [1]),
        ({"ipAddress": TOR}, [2]),
        ({"$filter": "ipAddress eq '81.2.69.142'"}, [1, 0]),
    ],
    ids=[
        "risk-level",
        "risk-none",
        "success",
        "not-success",
        "time-window",
        "time-gt",
        "since-until",
        "ip",
        "filter-ip",
    ],
)
def test_filters(stepup, query, minutes):
    _three_sign_ins(stepup)
    sign_ins = AdminApi(stepup).value("/auditLogs/signIns", query)
    assert [int(s["createdDateTime"][14:16]) for s in sign_ins] == minutes


def test_filter_by_user_and_app(stepup):
    alice, london_app, _ = _three_sign_ins(stepup)
    bob = stepup.user("bob")
    admin = AdminApi(stepup)
    assert len(admin.value("/auditLogs/signIns", {"userId": alice})) == 3
    assert admin.value("/auditLogs/signIns", {"userId": bob}) == []
    assert len(admin.value("/auditLogs/signIns", {"appId": london_app})) == 1
    assert len(admin.value("/auditLogs/signIns", {"$filter": f"userId eq '{alice}'"})) == 3


def test_paging_with_top(stepup):
    _three_sign_ins(stepup)
    admin = AdminApi(stepup)
    first = admin.get("/auditLogs/signIns", {"$top": "2"}).get_json()
    assert [s["status"]["errorCode"] for s in first["value"]] == [50076, 50126]
    link = urlparse(first["@odata.nextLink"])
    second = admin.http.get(f"{link.path}?{link.query}", headers=admin.headers()).get_json()
    assert [s["status"]["errorCode"] for s in second["value"]] == [0]
    assert "@odata.nextLink" not in second
    exact = admin.get("/auditLogs/signIns", {"$top": "3"}).get_json()
    assert len(exact["value"]) == 3 and "@odata.nextLink" not in exact


def _lines(response):
    assert response.status_code == 200, response.get_data()
    assert response.mimetype == "application/x-ndjson"
    text = response.get_data(as_text=True)
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_export_sign_ins_oldest_first_in_batches(stepup, monkeypatch):
    from idp.views.api import export

    _three_sign_ins(stepup)
    admin = AdminApi(stepup)
    listed = admin.value("/auditLogs/signIns")
    # Batches smaller than the log, so the keyset between batches is exercised.
    monkeypatch.setattr(export, "EXPORT_BATCH", 2)
    exported = _lines(admin.get("/export/signIns.jsonl"))
    assert exported == list(reversed(listed))
    monkeypatch.setattr(export, "EXPORT_BATCH", 3)
    assert _lines(admin.get("/export/signIns.jsonl")) == exported
    since = _lines(admin.get("/export/signIns.jsonl", {"since": "2026-03-02T09:01:00Z"}))
    assert [s["status"]["errorCode"] for s in since] == [50126, 50076]
    assert _lines(admin.get("/export/signIns.jsonl", {"since": "2026-03-03T00:00:00Z"})) == []


def test_export_risk_detections(stepup):
    alice = challenged_from_tor(stepup)
    stepup.clock.advance(minutes=1)
    challenged_from_tor(stepup, "bob")
    admin = AdminApi(stepup)
    exported = _lines(admin.get("/export/riskDetections.jsonl"))
    assert [d["userPrincipalName"] for d in exported] == ["alice", "bob"]
    assert exported[0]["userId"] == alice
    assert exported == list(reversed(admin.value("/identityProtection/riskDetections")))
    later = _lines(admin.get("/export/riskDetections.jsonl", {"since": "2026-03-02T09:00:30"}))
    assert [d["userPrincipalName"] for d in later] == ["bob"]


@pytest.mark.parametrize(
    "query",
    [{"since": "soon"}, {"until": "2026-03-02T00:00:00Z"}],
    ids=["bad-since", "unknown-param"],
)
def test_export_bad_query_is_400(provider, query):
    admin = AdminApi(provider)
    for path in ("/export/signIns.jsonl", "/export/riskDetections.jsonl"):
        response = admin.get(path, query)
        assert response.status_code == 400
        assert response.get_json()["error"] == "invalid_request"
