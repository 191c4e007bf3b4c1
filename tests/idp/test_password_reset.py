"""Self-service password reset: user name, TOTP, new password; it remediates user risk."""

from __future__ import annotations

import re

from idp.models import UserRisk
from tests.conftest import csrf_from
from tests.idp.conftest import LEAKED_PASSWORD, LONDON


def _reset(stepup, browser, username, code):
    page = browser.get("/password/reset")
    assert "Username" in page.get_data(as_text=True)
    verify = browser.post(
        "/password/reset", data={"csrf_token": csrf_from(page), "username": username}
    )
    page = browser.get(verify.location)
    return browser.post(verify.location, data={"csrf_token": csrf_from(page), "code": code})


def test_reset_with_totp_remediates_and_signs_out_everywhere(stepup):
    user_id = stepup.user("alice", LEAKED_PASSWORD)
    secret = stepup.register_totp()
    # The leaked password has made the user high risk (53004 is not reached: TOTP exists).
    laptop = stepup.browser_rp(LONDON)
    assert "/mfa/verify" in laptop.sign_in("alice", LEAKED_PASSWORD).location
    from idp.extensions import db

    assert stepup.with_app(lambda: db.session.get(UserRisk, user_id).risk_level) == "high"
    browser = stepup.app.test_client()
    verified = _reset(stepup, browser, "alice", stepup.code(secret))
    assert verified.status_code == 302 and verified.location.endswith("/password/reset/new")
    page = browser.get(verified.location)
    text = page.get_data(as_text=True)
    assert "New password" in text and "Confirm new password" in text
    leaked = browser.post(
        verified.location,
        data={
            "csrf_token": csrf_from(page),
            "new_password": "Password1234",
            "confirm_password": "Password1234",
        },
    )
    assert leaked.status_code == 400 and "leaked" in leaked.get_data(as_text=True)
    done = browser.post(
        verified.location,
        data={
            "csrf_token": csrf_from(page),
            "new_password": "reset-by-myself-1",
            "confirm_password": "reset-by-myself-1",
        },
    )
    assert done.status_code == 200 and "password was changed" in done.get_data(as_text=True)
    risk = stepup.with_app(lambda: db.session.get(UserRisk, user_id))
    assert (risk.risk_level, risk.risk_detail) == ("none", "userPerformedSecuredPasswordReset")
    # The laptop's half-finished session is gone; the new password signs in cleanly.
    assert "/login" in laptop.browser.get(laptop.authorize_url()).location
    fresh = stepup.browser_rp(LONDON)
    assert fresh.code_from(fresh.sign_in("alice", "reset-by-myself-1"))


def test_reset_needs_a_registered_authenticator(stepup):
    stepup.user()
    browser = stepup.app.test_client()
    refused = _reset(stepup, browser, "alice", "123456")
    assert refused.status_code == 400
    unknown = _reset(stepup, stepup.app.test_client(), "nobody", "123456")
    assert unknown.status_code == 400
    # Same answer whether the account exists or not.
    assert _mask(refused) == _mask(unknown)


def _mask(response):
    # CSRF tokens and passkey challenges differ per page; the rest must not.
    return re.sub(r'(value|data-options)="[^"]*"', "", response.get_data(as_text=True))


def test_new_password_page_needs_verification(stepup):
    browser = stepup.app.test_client()
    response = browser.get("/password/reset/new")
    assert response.status_code == 302 and "expired=1" in response.location


def test_login_page_links_to_reset(stepup):
    rp = stepup.browser_rp(LONDON)
    login = rp.browser.get(rp.browser.get(rp.authorize_url()).location)
    assert "Forgot password?" in login.get_data(as_text=True)
