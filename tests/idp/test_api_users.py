"""users/{id}/resetPassword in both modes, and users/{id}/revokeSignInSessions."""

from __future__ import annotations

import pytest

from idp.models import User
from tests.conftest import PASSWORD
from tests.idp.conftest import LEAKED_PASSWORD, LONDON
from tests.idp.test_api_support import AdminApi, leaked_password_user, rows


def test_require_reset_for_user_with_totp(stepup):
    alice = stepup.user()
    stepup.register_totp()
    stepup.clock.advance(minutes=3)
    admin = AdminApi(stepup)
    response = admin.post(f"/users/{alice}/resetPassword", {"mode": "requireReset"})
    assert response.status_code == 204
    assert rows(stepup, User, id=alice)[0].password_must_change is True
    newest = admin.value(f"/identityProtection/riskyUsers/{alice}/history")[0]
    assert (newest["action"], newest["initiatedBy"], newest["riskLastUpdatedDateTime"]) == (
        "passwordResetRequired",
        admin.actor,
        "2026-03-02T09:03:00Z",
    )
    # The next sign-in proves the second factor before the new password.
    assert "/mfa/verify" in stepup.browser_rp(LONDON).sign_in().location


def test_require_reset_refused_without_totp(provider):
    alice = provider.user()
    response = AdminApi(provider).post(f"/users/{alice}/resetPassword", {"mode": "requireReset"})
    assert response.status_code == 400
    assert "no TOTP" in response.get_json()["error_description"]
    assert rows(provider, User, id=alice)[0].password_must_change is False


def test_temporary_password_replaces_the_old_one_and_remediates(stepup):
    bob = leaked_password_user(stepup)
    session = stepup.browser_rp(LONDON)
    stepup.clock.advance(minutes=7)
    admin = AdminApi(stepup)
    response = admin.post(f"/users/{bob}/resetPassword", {"mode": "temporaryPassword"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    temporary = response.get_json()["temporaryPassword"]
    assert len(temporary) >= 12 and set(response.get_json()) == {"temporaryPassword"}
    user = admin.get(f"/identityProtection/riskyUsers/{bob}").get_json()
    assert (user["riskLevel"], user["riskState"], user["riskDetail"]) == (
        "none",
        "remediated",
        "adminGeneratedTemporaryPassword",
    )
    newest = admin.value(f"/identityProtection/riskyUsers/{bob}/history")[0]
    assert (newest["initiatedBy"], newest["riskLastUpdatedDateTime"]) == (
        admin.actor,
        "2026-03-02T09:07:00Z",
    )
    assert session.sign_in("bob", LEAKED_PASSWORD).status_code == 401
    fresh = stepup.browser_rp(LONDON).sign_in("bob", temporary)
    assert fresh.status_code == 302 and "/login" not in fresh.location
    # A second call makes a new password: the first is shown once and never again.
    again = admin.post(f"/users/{bob}/resetPassword", {"mode": "temporaryPassword"})
    assert again.get_json()["temporaryPassword"] != temporary


@pytest.mark.parametrize(
    "body",
    [None, {}, {"mode": "email"}, {"mode": ["requireReset"]}, []],
    ids=["no-body", "no-mode", "unknown-mode", "list-mode", "list"],
)
def test_bad_reset_body_is_400(provider, body):
    alice = provider.user()
    response = AdminApi(provider).post(f"/users/{alice}/resetPassword", body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_reset_unknown_user_is_404(provider):
    response = AdminApi(provider).post("/users/nobody/resetPassword", {"mode": "temporaryPassword"})
    assert response.status_code == 404


def test_revoke_sign_in_sessions(provider):
    alice = provider.user()
    rp = provider.rp()
    tokens = rp.tokens()
    admin = AdminApi(provider)
    response = admin.post(f"/users/{alice}/revokeSignInSessions")
    assert response.status_code == 200 and response.get_json() == {"value": True}
    newest = admin.value(f"/identityProtection/riskyUsers/{alice}/history")[0]
    assert (newest["action"], newest["initiatedBy"]) == ("sessionsRevoked", admin.actor)
    assert "/login" in rp.browser.get(rp.authorize_url()).location
    assert rp.code_from(rp.sign_in("alice", PASSWORD))
    refresh = rp.token_request(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 400
    assert admin.post("/users/nobody/revokeSignInSessions").status_code == 404


# --- users/{id}: the profile claims ---------------------------------------------------------


def _patch(admin, user_id, body, **kwargs):
    kwargs.setdefault("headers", admin.headers())
    return admin.http.patch(f"/api/v1/users/{user_id}", json=body, **kwargs)


def test_get_user_shows_graph_properties_and_claims(provider):
    alice = provider.user(email="alice@example.org")
    body = AdminApi(provider).get(f"/users/{alice}").get_json()
    assert body["id"] == alice and body["userPrincipalName"] == "alice"
    assert body["mail"] == "alice@example.org" and body["displayName"] is None
    assert body["accountEnabled"] is True
    assert body["claims"]["preferred_username"] == "alice"
    assert body["claims"]["email_verified"] is False


def test_patch_user_sets_claims_by_graph_and_openid_names(provider):
    alice = provider.user()
    admin = AdminApi(provider)
    response = _patch(
        admin,
        alice,
        {
            "displayName": "Alice Liddell",
            "givenName": "Alice",
            "surname": "Liddell",
            "mail": "alice@example.org",
            "mobilePhone": "+44 20 7946 0000",
            "city": "Oxford",
            "country": "GB",
            "claims": {
                "nickname": "Al",
                "birthdate": "0000-05-04",
                "email_verified": True,
                "zoneinfo": "Europe/London",
                "website": "https://alice.example",
            },
        },
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (
        body["displayName"],
        body["givenName"],
        body["surname"],
        body["mobilePhone"],
        body["city"],
    ) == ("Alice Liddell", "Alice", "Liddell", "+442079460000", "Oxford")
    assert body["claims"]["address"] == {"locality": "Oxford", "country": "GB"}
    assert body["claims"]["email_verified"] is True
    assert admin.get(f"/users/{alice}").get_json() == body
    user = rows(provider, User, id=alice)[0]
    assert user.display_name == "Alice Liddell" and user.claims["nickname"] == "Al"
    # What was set is what the user's apps get.
    rp = provider.rp()
    access = rp.tokens(scope="openid profile address")["access_token"]
    info = (
        provider.app.test_client()
        .get("/userinfo", headers={"Authorization": f"Bearer {access}"})
        .get_json()
    )
    assert info["name"] == "Alice Liddell" and info["address"]["locality"] == "Oxford"
    assert info["updated_at"] == int(user.profile_updated_at.timestamp())


def test_patch_null_removes_a_claim(provider):
    alice = provider.user()
    admin = AdminApi(provider)
    _patch(admin, alice, {"givenName": "Alice", "claims": {"nickname": "Al"}})
    body = _patch(admin, alice, {"givenName": None, "claims": {"nickname": None}}).get_json()
    assert body["givenName"] is None and "nickname" not in body["claims"]


@pytest.mark.parametrize(
    "body, names",
    [
        (None, "JSON object"),
        ([], "JSON object"),
        ({"userPrincipalName": "root"}, "cannot be changed"),
        ({"accountEnabled": False}, "cannot be changed"),
        ({"givenName": 5}, "given_name must be a string"),
        ({"givenName": "<script>\x00"}, "given_name"),
        ({"claims": []}, "claims must be an object"),
        ({"claims": {"sub": "x"}}, "sub cannot be set"),
        ({"claims": {"preferred_username": "root"}}, "preferred_username cannot be set"),
        ({"claims": {"updated_at": 0}}, "updated_at cannot be set"),
        ({"claims": {"shoe_size": 44}}, "unknown claim"),
        ({"claims": {"website": "javascript:alert(1)"}}, "website must be an absolute http"),
        ({"claims": {"birthdate": "1990-13-01"}}, "birthdate"),
        ({"claims": {"zoneinfo": "Nowhere/Else"}}, "zoneinfo must be an IANA time zone"),
        ({"claims": {"locale": "klingon!"}}, "locale"),
        ({"mobilePhone": "call me"}, "phone_number must be an E.164"),
        ({"claims": {"email_verified": "yes"}}, "email_verified must be true or false"),
        ({"mail": "alice"}, "email must be an email address"),
        ({"givenName": "A", "claims": {"given_name": "B"}}, "set twice"),
        ({"city": "Oxford", "claims": {"address": {"locality": "Bath"}}}, "address"),
        ({"claims": {"address": {"planet": "Mars"}}}, "no field 'planet'"),
        ({"claims": {"name": "x" * 201}}, "longer than 200"),
    ],
    ids=[
        "no-body",
        "list",
        "read-only-upn",
        "unknown-graph-property",
        "number",
        "nul",
        "claims-list",
        "sub",
        "preferred-username",
        "updated-at",
        "unknown-claim",
        "javascript-url",
        "bad-date",
        "bad-zone",
        "bad-locale",
        "bad-phone",
        "string-boolean",
        "bad-email",
        "named-twice",
        "address-both-ways",
        "address-unknown-field",
        "too-long",
    ],
)
def test_patch_user_refuses_invalid_values_and_changes_nothing(provider, body, names):
    alice = provider.user()
    admin = AdminApi(provider)
    _patch(admin, alice, {"claims": {"nickname": "Al"}})
    before = rows(provider, User, id=alice)[0]
    response = _patch(admin, alice, body)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"] == "invalid_request"
    assert names in response.get_json()["error_description"]
    after = rows(provider, User, id=alice)[0]
    assert (after.claims, after.display_name, after.profile_updated_at) == (
        before.claims,
        before.display_name,
        before.profile_updated_at,
    )


def test_patch_or_get_unknown_user_is_404(provider):
    admin = AdminApi(provider)
    assert admin.get("/users/nobody").status_code == 404
    assert _patch(admin, "nobody", {"givenName": "x"}).status_code == 404


def test_profile_operations_need_an_admin_token(provider):
    alice = provider.user()
    rp = provider.rp()
    user_token = rp.tokens()["access_token"]
    no_scope = AdminApi(provider, scopes=("openid",))
    for headers, status in (
        ({}, 401),
        ({"Authorization": "Bearer nope"}, 401),
        ({"Authorization": f"Bearer {user_token}"}, 403),
        (no_scope.headers(), 403),
    ):
        http = provider.app.test_client()
        assert http.get(f"/api/v1/users/{alice}", headers=headers).status_code == status
        assert (
            http.patch(
                f"/api/v1/users/{alice}", json={"givenName": "Mallory"}, headers=headers
            ).status_code
            == status
        )
    assert "given_name" not in (rows(provider, User, id=alice)[0].claims or {})
