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
        "passwordResetRequired", admin.actor, "2026-03-02T09:03:00Z")
    # The next sign-in proves the second factor before the new password.
    assert "/mfa/verify" in stepup.browser_rp(LONDON).sign_in().location


def test_require_reset_refused_without_totp(provider):
    alice = provider.user()
    response = AdminApi(provider).post(f"/users/{alice}/resetPassword",
                                       {"mode": "requireReset"})
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
        "none", "remediated", "adminGeneratedTemporaryPassword")
    newest = admin.value(f"/identityProtection/riskyUsers/{bob}/history")[0]
    assert (newest["initiatedBy"], newest["riskLastUpdatedDateTime"]) == (
        admin.actor, "2026-03-02T09:07:00Z")
    assert session.sign_in("bob", LEAKED_PASSWORD).status_code == 401
    fresh = stepup.browser_rp(LONDON).sign_in("bob", temporary)
    assert fresh.status_code == 302 and "/login" not in fresh.location
    # A second call makes a new password: the first is shown once and never again.
    again = admin.post(f"/users/{bob}/resetPassword", {"mode": "temporaryPassword"})
    assert again.get_json()["temporaryPassword"] != temporary


@pytest.mark.parametrize("body", [None, {}, {"mode": "email"}, {"mode": ["requireReset"]}, []],
                         ids=["no-body", "no-mode", "unknown-mode", "list-mode", "list"])
def test_bad_reset_body_is_400(provider, body):
    alice = provider.user()
    response = AdminApi(provider).post(f"/users/{alice}/resetPassword", body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_reset_unknown_user_is_404(provider):
    response = AdminApi(provider).post("/users/nobody/resetPassword",
                                       {"mode": "temporaryPassword"})
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
    refresh = rp.token_request({"grant_type": "refresh_token",
                                "refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 400
    assert admin.post("/users/nobody/revokeSignInSessions").status_code == 404
