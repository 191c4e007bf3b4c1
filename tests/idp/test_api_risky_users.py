"""riskyUsers: list, filters, paging, one user, history, and the three admin actions."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qs, urlparse

import pytest

from idp.models import RiskDetection
from tests.conftest import PASSWORD
from tests.idp.conftest import LONDON, T0
from tests.idp.test_api_support import (
    AdminApi,
    failed_codes_user,
    leaked_password_user,
    rows,
)

RISKY_USER_KEYS = {
    "id",
    "userPrincipalName",
    "userDisplayName",
    "riskLevel",
    "riskState",
    "riskDetail",
    "riskLastUpdatedDateTime",
    "isDeleted",
    "isProcessing",
}


def test_lists_users_made_risky_by_real_sign_ins(stepup):
    alice = failed_codes_user(stepup)
    stepup.clock.advance(minutes=5)
    bob = leaked_password_user(stepup)
    stepup.user("carol")  # never risky: not listed
    admin = AdminApi(stepup)
    users = admin.value("/identityProtection/riskyUsers")
    assert [u["userPrincipalName"] for u in users] == ["bob", "alice"]  # newest change first
    assert all(set(u) == RISKY_USER_KEYS for u in users)
    by_name = {u["userPrincipalName"]: u for u in users}
    assert by_name["alice"] | {"riskLastUpdatedDateTime": None} == {
        "id": alice,
        "userPrincipalName": "alice",
        "userDisplayName": None,
        "riskLevel": "medium",
        "riskState": "atRisk",
        "riskDetail": "none",
        "riskLastUpdatedDateTime": None,
        "isDeleted": False,
        "isProcessing": False,
    }
    assert (by_name["bob"]["id"], by_name["bob"]["riskLevel"]) == (bob, "high")
    assert by_name["alice"]["riskLastUpdatedDateTime"] == "2026-03-02T09:00:00Z"
    assert datetime.fromisoformat(by_name["bob"]["riskLastUpdatedDateTime"]) == (
        T0.replace(minute=5)
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"riskLevel": "high"}, ["bob"]),
        ({"riskLevel": ["high", "medium"]}, ["bob", "alice"]),
        ({"riskState": "atRisk", "riskLevel": "medium"}, ["alice"]),
        ({"userPrincipalName": "alice"}, ["alice"]),
        ({"$filter": "riskLevel eq 'high'"}, ["bob"]),
        ({"$filter": "riskLevel ne 'high' and riskState eq 'atRisk'"}, ["alice"]),
        ({"$filter": "riskLastUpdatedDateTime ge 2026-03-02T09:01:00Z"}, ["bob"]),
        ({"$filter": "riskLastUpdatedDateTime lt '2026-03-02T09:01:00Z'"}, ["alice"]),
        ({"since": "2026-03-02T09:05:00Z"}, ["bob"]),
        ({"until": "2026-03-02T09:05:00+00:00"}, ["alice"]),
        ({"riskLevel": "low"}, []),
    ],
    ids=[
        "level",
        "level-any",
        "state-and-level",
        "upn",
        "filter-eq",
        "filter-ne-and",
        "filter-time-ge",
        "filter-time-quoted",
        "since",
        "until",
        "none-match",
    ],
)
def test_filters(stepup, query, expected):
    failed_codes_user(stepup)
    stepup.clock.advance(minutes=5)
    leaked_password_user(stepup)
    users = AdminApi(stepup).value("/identityProtection/riskyUsers", query)
    assert [u["userPrincipalName"] for u in users] == expected


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"riskLevel": "severe"}, "riskLevel must be one of"),
        ({"colour": "red"}, "unknown query parameter 'colour'"),
        ({"$filter": "riskLevel eq high"}, "single quotes"),
        ({"$filter": "riskLevel gt 'low'"}, "eq or ne"),
        ({"$filter": "password eq 'x'"}, "cannot use 'password'"),
        ({"$filter": "riskLevel eq 'high' or riskLevel eq 'low'"}, "joined by `and`"),
        ({"$filter": "contains(userPrincipalName, 'a')"}, "$filter supports"),
        ({"$filter": "riskLastUpdatedDateTime ge yesterday"}, "ISO 8601"),
        ({"since": "0001-01-01T00:00:00+01:00"}, "ISO 8601"),
        ({"$top": "0"}, "$top must be"),
        ({"$top": "1001"}, "$top must be"),
        ({"$top": "ten"}, "$top must be"),
        ({"$skiptoken": "garbage"}, "$skiptoken"),
    ],
    ids=[
        "bad-enum",
        "unknown-param",
        "unquoted",
        "ordered-enum",
        "unknown-prop",
        "or",
        "function",
        "bad-time",
        "time-overflow",
        "top-0",
        "top-big",
        "top-word",
        "skiptoken",
    ],
)
def test_bad_queries_are_400_with_a_reason(provider, query, words):
    response = AdminApi(provider).get("/identityProtection/riskyUsers", query)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_request"
    assert words in body["error_description"]


def test_paging_follows_next_link_without_gaps_or_repeats(stepup):
    # Same timestamp for all: the id breaks the tie, so no page repeats or skips a user.
    names = [f"user{i}" for i in range(5)]
    for name in names:
        failed_codes_user(stepup, name)
    admin = AdminApi(stepup)
    seen, pages = [], 0
    response = admin.get("/identityProtection/riskyUsers", {"$top": "2", "riskLevel": "medium"})
    while True:
        assert response.status_code == 200
        body = response.get_json()
        assert len(body["value"]) <= 2
        seen += [u["userPrincipalName"] for u in body["value"]]
        pages += 1
        if "@odata.nextLink" not in body:
            break
        link = urlparse(body["@odata.nextLink"])
        assert link.netloc == "idp.test"  # built from the issuer
        assert parse_qs(link.query)["riskLevel"] == ["medium"]  # filters carry over
        response = admin.http.get(f"{link.path}?{link.query}", headers=admin.headers())
    assert pages == 3
    assert sorted(seen) == names


def test_get_one_risky_user(stepup):
    alice = failed_codes_user(stepup)
    plain = stepup.user("carol")
    admin = AdminApi(stepup)
    one = admin.get(f"/identityProtection/riskyUsers/{alice}")
    assert one.status_code == 200
    assert one.get_json()["riskLevel"] == "medium"
    for missing in (plain, "no-such-user"):
        response = admin.get(f"/identityProtection/riskyUsers/{missing}")
        assert response.status_code == 404
        assert response.get_json()["error"] == "not_found"


@pytest.mark.parametrize(
    ("action", "state", "detail", "level", "detection_state"),
    [
        ("dismiss", "dismissed", "adminDismissedAllRiskForUser", "none", "dismissed"),
        ("confirmSafe", "confirmedSafe", "adminConfirmedSigninSafe", "none", "confirmedSafe"),
        (
            "confirmCompromised",
            "confirmedCompromised",
            "adminConfirmedUserCompromised",
            "high",
            "atRisk",
        ),
    ],
    ids=["dismiss", "confirm-safe", "confirm-compromised"],
)
def test_user_actions_change_risk_and_are_in_history(
    stepup, action, state, detail, level, detection_state
):
    alice = failed_codes_user(stepup)
    bob = leaked_password_user(stepup)
    stepup.clock.advance(hours=1)
    admin = AdminApi(stepup)
    response = admin.post(
        f"/identityProtection/riskyUsers/{action}", {"userIds": [alice, bob, alice]}
    )
    assert response.status_code == 204 and response.get_data() == b""
    for user_id in (alice, bob):
        user = admin.get(f"/identityProtection/riskyUsers/{user_id}").get_json()
        assert (user["riskState"], user["riskDetail"], user["riskLevel"]) == (state, detail, level)
        assert user["riskLastUpdatedDateTime"] == "2026-03-02T10:00:00Z"
        history = admin.value(f"/identityProtection/riskyUsers/{user_id}/history")
        newest = history[0]
        assert newest["initiatedBy"] == admin.actor
        assert newest["action"] == state  # the history names the action after its state
        assert newest["riskLastUpdatedDateTime"] == "2026-03-02T10:00:00Z"
        assert (newest["riskState"], newest["activity"]["detail"]) == (state, detail)
        assert newest["userId"] == user_id
        # The sign-in that made the user risky is the older entry, initiated by the system.
        assert history[-1]["initiatedBy"] == "system"
    tor_detection = [
        d
        for d in rows(stepup, RiskDetection, user_id=alice)
        if d.risk_event_type == "anonymizedIPAddress"
    ]
    assert [d.risk_state for d in tor_detection] == [detection_state]


def test_confirm_compromised_forces_secure_password_change(stepup):
    from tests.idp.conftest import submit_code

    alice = stepup.user()
    secret = stepup.register_totp()
    admin = AdminApi(stepup)
    assert (
        admin.post(
            "/identityProtection/riskyUsers/confirmCompromised", {"userIds": [alice]}
        ).status_code
        == 204
    )
    detections = admin.value("/identityProtection/riskDetections", {"userId": alice})
    assert [(d["riskEventType"], d["source"], d["riskState"]) for d in detections] == [
        ("adminConfirmedUserCompromised", "admin", "confirmedCompromised")
    ]
    rp = stepup.browser_rp(LONDON)
    challenge = rp.sign_in("alice", PASSWORD)
    assert "/mfa/verify" in challenge.location
    change = rp.browser.get(submit_code(rp, challenge.location, stepup.code(secret)).location)
    assert "/password/change" in change.location


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"users": ["x"]},
        {"userIds": []},
        {"userIds": "abc"},
        {"userIds": [1]},
        {"userIds": ["a\x00b"]},
    ],
    ids=["no-body", "list", "wrong-key", "empty", "string", "number", "nul"],
)
def test_malformed_action_bodies_are_400(provider, body):
    response = AdminApi(provider).post("/identityProtection/riskyUsers/dismiss", body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_malformed_json_is_400(provider):
    admin = AdminApi(provider)
    response = admin.http.post(
        "/api/v1/identityProtection/riskyUsers/confirmSafe",
        data="{not json",
        content_type="application/json",
        headers=admin.headers(),
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_unknown_user_id_changes_nobody(stepup):
    alice = failed_codes_user(stepup)
    admin = AdminApi(stepup)
    response = admin.post(
        "/identityProtection/riskyUsers/dismiss", {"userIds": [alice, "no-such-user"]}
    )
    assert response.status_code == 400
    assert "no-such-user" in response.get_json()["error_description"]
    user = admin.get(f"/identityProtection/riskyUsers/{alice}").get_json()
    assert user["riskState"] == "atRisk"


def test_history_of_unknown_user_is_404(provider):
    response = AdminApi(provider).get("/identityProtection/riskyUsers/nobody/history")
    assert response.status_code == 404
