"""Every HTML form refuses a post without its CSRF token, or with a token of another session
(another browser, or this one before it signed out): 400, the same "form expired" page, and
nothing done. Protocol endpoints never ask for a token. The rules for a new password are the
form's validators, checked in order."""

from __future__ import annotations

import inspect
import re
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa

from idp.models import SignIn, User, UserRisk
from idp.services import services
from idp.users import find_user, set_password
from tests.conftest import PASSWORD, csrf_from
from tests.idp.conftest import LONDON, TOR, form_page
from tests.idp.test_admin_dashboard import _admin, _admin_sign_in
from tests.idp.test_api_support import rows
from tests.idp.test_consent import allow, consent_row, consent_url, open_account, third_party

FORM_EXPIRED = "The form expired or was not sent by this site"
BAD_TOKENS = ["missing", "empty", "forged", "other-session"]


def bad_token(app, kind):
    """None (no field), or a token this browser's session did not hand out."""
    if kind == "other-session":
        # A real token, handed to another browser (its session): copied, it is worth nothing.
        return csrf_from(app.test_client().get("/password/reset"))
    return {"missing": None, "empty": "", "forged": "forged"}[kind]


def post(app, browser, url, data, kind):
    token = bad_token(app, kind)
    return browser.post(url, data=data if token is None else {**data, "csrf_token": token})


def refused(response):
    assert response.status_code == 400, response.status_code
    assert response.mimetype == "text/html"
    assert FORM_EXPIRED in response.get_data(as_text=True)


def test_a_token_of_another_session_is_a_valid_token_there(provider):
    """The other-session token above is real: its own browser may use it."""
    other = provider.app.test_client()
    token = csrf_from(other.get("/password/reset"))
    started = other.post("/password/reset", data={"csrf_token": token, "username": "alice"})
    assert started.status_code == 302 and started.location.endswith("/password/reset/verify")


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_sign_in(provider, kind):
    provider.user()
    rp = provider.rp()
    login = rp.browser.get(rp.authorize_url()).location
    rp.browser.get(login)
    refused(
        post(provider.app, rp.browser, login, {"username": "alice", "password": PASSWORD}, kind)
    )
    # Not signed in, no guess counted or logged; the page still works with its own token.
    assert rows(provider, SignIn) == []
    assert "/login" in rp.browser.get(rp.authorize_url()).location
    assert rp.code_from(rp.submit_login(login, "alice", PASSWORD))


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_totp_challenge(stepup, kind):
    stepup.user()
    secret = stepup.register_totp()
    rp = stepup.browser_rp(TOR)
    url = rp.sign_in().location
    assert "/mfa/verify" in url
    rp.browser.get(url)
    code = stepup.code(secret)
    refused(post(stepup.app, rp.browser, url, {"code": code}, kind))
    # The code was not spent and no failure was logged: it passes with the page's token.
    assert [r.kind for r in rows(stepup, SignIn) if r.outcome == "failure"] == []
    _, token = form_page(rp.browser, url)
    passed = rp.browser.post(url, data={"csrf_token": token, "code": code})
    assert rp.code_from(rp.browser.get(passed.location))


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_second_factor_registration(stepup, kind):
    stepup.user()
    rp = stepup.browser_rp(LONDON)
    url = rp.sign_in().location
    assert "/mfa/register" in url
    rp.browser.get(url)
    refused(post(stepup.app, rp.browser, url, {"action": "skip"}, kind))
    # Not skipped: the registration page is still where the sign-in waits.
    again = rp.browser.get(url)
    assert again.status_code == 200 and "Skip for now" in again.get_data(as_text=True)


def _temporary(provider):
    provider.user()
    with provider.app.app_context():
        set_password(provider.app, find_user("alice"), "temp-pass-123", temporary=True)


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_forced_password_change(provider, kind):
    _temporary(provider)
    rp = provider.rp()
    url = rp.sign_in("alice", "temp-pass-123").location
    assert "/password/change" in url
    rp.browser.get(url)
    refused(
        post(
            provider.app,
            rp.browser,
            url,
            {"new_password": "brand-new-pass-1", "confirm_password": "brand-new-pass-1"},
            kind,
        )
    )
    # Unchanged: the temporary password still signs in and still must be changed.
    again = provider.rp().sign_in("alice", "temp-pass-123")
    assert again.status_code == 302 and "/password/change" in again.location


def _reset_verified(stepup, browser, secret):
    _, token = form_page(browser, "/password/reset")
    browser.post("/password/reset", data={"csrf_token": token, "username": "alice"})
    _, token = form_page(browser, "/password/reset/verify")
    verified = browser.post(
        "/password/reset/verify", data={"csrf_token": token, "code": stepup.code(secret)}
    )
    assert verified.location.endswith("/password/reset/new")


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_self_service_reset(stepup, kind):
    stepup.user()
    secret = stepup.register_totp()
    browser = stepup.app.test_client()
    browser.get("/password/reset")
    # Start: no reset begins.
    refused(post(stepup.app, browser, "/password/reset", {"username": "alice"}, kind))
    assert "expired=1" in browser.get("/password/reset/verify").location
    # Verify: the code is not checked (nor spent).
    _, token = form_page(browser, "/password/reset")
    browser.post("/password/reset", data={"csrf_token": token, "username": "alice"})
    browser.get("/password/reset/verify")
    refused(
        post(stepup.app, browser, "/password/reset/verify", {"code": stepup.code(secret)}, kind)
    )
    assert browser.get("/password/reset/new").status_code == 302
    # New password: not set.
    verifier = stepup.app.test_client()
    _reset_verified(stepup, verifier, secret)
    refused(
        post(
            stepup.app,
            verifier,
            "/password/reset/new",
            {"new_password": "reset-by-me-123", "confirm_password": "reset-by-me-123"},
            kind,
        )
    )
    fresh = stepup.browser_rp(LONDON)
    assert fresh.sign_in("alice", "reset-by-me-123").status_code == 401


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_consent(provider, kind):
    alice = provider.user()
    rp = third_party(provider)
    url = consent_url(rp.sign_in())
    rp.browser.get(url)
    refused(post(provider.app, rp.browser, url, {"action": "allow"}, kind))
    assert consent_row(provider.app, alice, rp.client_id) is None


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_remove_access(provider, kind):
    alice = provider.user()
    rp = third_party(provider)
    rp.code_from(allow(rp))
    assert open_account(rp.browser).status_code == 200
    refused(
        post(provider.app, rp.browser, "/account/apps/remove", {"client_id": rp.client_id}, kind)
    )
    assert consent_row(provider.app, alice, rp.client_id) is not None


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_this_was_not_me(provider, kind):
    from idp.accounts import report_link

    provider.user()
    with provider.app.test_request_context():
        link = report_link(find_user("alice"), "password_change")
    path = urlparse(link).path + "?" + urlparse(link).query
    browser = provider.app.test_client()
    assert browser.get(path).status_code == 200
    refused(post(provider.app, browser, path, {}, kind))
    assert rows(provider, UserRisk) == []


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_logout_confirmation(provider, kind):
    provider.user()
    rp = provider.rp()
    rp.tokens()
    url = f"/logout?client_id={rp.client_id}"
    assert 'name="confirm"' in rp.browser.get(url).get_data(as_text=True)
    refused(post(provider.app, rp.browser, url, {"confirm": "yes"}, kind))
    # Still signed in: the next authorization request needs no password.
    assert rp.code_from(rp.browser.get(rp.authorize_url()))


@pytest.fixture
def console(stepup):
    browser, secret = _admin(stepup)
    _admin_sign_in(stepup, browser, secret=secret)
    return browser, stepup.user("bob")


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_admin_console_actions(stepup, console, kind):
    browser, bob = console
    browser.get(f"/admin/users/{bob}")
    refused(post(stepup.app, browser, f"/admin/users/{bob}/confirmCompromised", {}, kind))
    assert rows(stepup, UserRisk, user_id=bob) == []
    refused(post(stepup.app, browser, f"/admin/users/{bob}/disable", {}, kind))
    assert not rows(stepup, User, id=bob)[0].disabled
    refused(post(stepup.app, browser, "/admin/whatif", {"candidate": "", "days": "30"}, kind))
    refused(post(stepup.app, browser, "/admin/logout", {}, kind))
    # Still signed in to the console.
    assert browser.get("/admin").status_code == 200


def test_token_outlives_the_sign_in_but_not_the_sign_out(provider):
    """The session keeps its token when its handle changes (sign-in), and loses it with the
    session (sign-out): a page from before the sign-out cannot post after it."""
    _temporary(provider)
    rp = provider.rp()
    login = rp.browser.get(rp.authorize_url()).location
    before = csrf_from(rp.browser.get(login))
    url = rp.submit_login(login, "alice", "temp-pass-123").location
    assert "/password/change" in url
    changed = rp.browser.post(
        url,
        data={
            "csrf_token": before,
            "new_password": "brand-new-pass-1",
            "confirm_password": "brand-new-pass-1",
        },
    )
    assert changed.status_code == 302
    code = rp.code_from(rp.browser.get(changed.location))
    id_token = rp.redeem(code).get_json()["id_token"]
    assert rp.browser.get(f"/logout?id_token_hint={id_token}").status_code == 200
    login = rp.browser.get(rp.authorize_url()).location
    refused(
        rp.browser.post(
            login, data={"csrf_token": before, "username": "alice", "password": "brand-new-pass-1"}
        )
    )


# Posted by programs, not by a page of ours: no token.
PROTOCOL = {
    "oauth.authorize",
    "oauth.token",
    "oauth.userinfo",
    "oauth.revoke",
    "oauth.introspect",
    "registration.register",
}


def test_every_page_post_goes_through_a_form(app):
    """A view that takes a post from a page reads it through a form of idp.forms (so its
    token is checked); only the protocol endpoints and the admin API do not."""
    checked = []
    for rule in app.url_map.iter_rules():
        if (
            "POST" not in (rule.methods or ())
            or rule.endpoint in PROTOCOL
            or rule.endpoint.startswith("api.")
        ):
            continue
        source = inspect.getsource(inspect.unwrap(app.view_functions[rule.endpoint]))
        assert re.search(r"\w+Form\b|check_csrf\(\)", source), rule.endpoint
        checked.append(rule.endpoint)
    assert len(checked) >= 20


def test_protocol_endpoints_need_no_token(provider):
    """Programs post to these without a page: no CSRF token is asked for."""
    provider.user()
    rp = provider.rp(post_logout=["https://rp.example/bye"])
    tokens = rp.tokens()  # /token, from a browser with a session cookie and no token
    http = provider.app.test_client()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert http.post("/userinfo", headers=bearer).status_code == 200
    introspected = rp.app.test_client().post(
        "/introspect", data={"token": tokens["access_token"]}, auth=(rp.client_id, rp.secret)
    )
    assert introspected.is_json and FORM_EXPIRED not in introspected.get_data(as_text=True)
    registered = http.post("/register", json={"redirect_uris": ["https://new.example/cb"]})
    assert registered.is_json and FORM_EXPIRED not in registered.get_data(as_text=True)
    assert (
        http.post("/api/v1/identityProtection/riskyUsers/dismiss", json={"userIds": []}).status_code
        == 401
    )
    revoked = rp.app.test_client().post(
        "/revoke", data={"token": tokens["refresh_token"]}, auth=(rp.client_id, rp.secret)
    )
    assert revoked.status_code == 200
    # RP-initiated logout with an id_token_hint, posted: no confirmation, no token.
    ended = rp.browser.post(
        "/logout",
        data={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://rp.example/bye",
        },
    )
    assert ended.status_code == 302 and ended.location.startswith("https://rp.example/bye")


# --- the rules for a new password, as the form's validators ---------------------------


def _problem(app, new, confirm, user=None):
    from idp.forms import NewPasswordForm

    with app.test_request_context(
        "/", method="POST", data={"new_password": new, "confirm_password": confirm}
    ):
        form = NewPasswordForm(user, meta={"csrf": False})
        return None if form.validate_on_submit() else form.error


def test_new_password_rules_in_order(provider):
    app = provider.app
    shortest = services(app).passwords.settings.min_length
    # The confirmation first, then the length, each stopping the rest.
    assert _problem(app, "a", "b") == "The two passwords do not match."
    assert _problem(app, "a", "a") == f"Use at least {shortest} characters."
    assert _problem(app, "x" * 1025, "x" * 1025) == "Use at most 1024 characters."
    assert _problem(app, "a-fine-password-9", "a-fine-password-9") is None
    provider.user()
    with app.app_context():
        alice = find_user("alice")
        assert _problem(app, PASSWORD, PASSWORD, alice) == (
            "Choose a password different from your current one."
        )
        assert _problem(app, "a-fine-password-9", "a-fine-password-9", alice) is None


@pytest.mark.parametrize("size", [1025, 5000, 30_000])
def test_a_huge_new_password_is_refused_with_a_message(provider, size):
    _temporary(provider)
    rp = provider.rp()
    url = rp.sign_in("alice", "temp-pass-123").location
    page, token = form_page(rp.browser, url)
    response = rp.browser.post(
        url, data={"csrf_token": token, "new_password": "x" * size, "confirm_password": "x" * size}
    )
    assert response.status_code == 400
    assert "Use at most 1024 characters." in response.get_data(as_text=True)


def test_a_nul_byte_in_a_new_password_is_400(provider):
    _temporary(provider)
    rp = provider.rp()
    url = rp.sign_in("alice", "temp-pass-123").location
    _, token = form_page(rp.browser, url)
    response = rp.browser.post(
        url,
        data={
            "csrf_token": token,
            "new_password": "a\x00bcdefghij",
            "confirm_password": "a\x00bcdefghij",
        },
    )
    assert response.status_code == 400
    assert "NUL" in response.get_data(as_text=True)


def test_a_json_body_is_no_form(provider):
    """A form reads the posted fields only: a JSON body (with or without a token) is a post
    without a token, never a 500."""
    provider.user()
    rp = provider.rp()
    login = rp.browser.get(rp.authorize_url()).location
    token = csrf_from(rp.browser.get(login))
    for body in ({"csrf_token": token, "username": "alice", "password": PASSWORD}, [1], 7):
        refused(rp.browser.post(login, json=body))
    with provider.app.app_context():
        from idp.extensions import db

        assert db.session.scalar(sa.select(sa.func.count()).select_from(SignIn)) == 0


def test_a_page_from_before_a_key_rotation_still_posts(provider):
    """The old secret key, kept as a fallback, still verifies a page's token (as it still
    reads the session cookie); once dropped, the token is refused."""
    from flask import session
    from itsdangerous import URLSafeTimedSerializer
    from werkzeug.exceptions import BadRequest

    from idp.forms import Form

    app = provider.app
    old = URLSafeTimedSerializer("the old key", salt="wtf-csrf-token").dumps("raw-token")

    def validates() -> bool:
        with app.test_request_context("/", method="POST", data={"csrf_token": old}):
            session["csrf_token"] = "raw-token"
            try:
                return Form().validate_on_submit()
            except BadRequest:  # the "form expired" page
                return False

    assert not validates()
    app.config["SECRET_KEY_FALLBACKS"] = ["the old key"]
    try:
        assert validates()
    finally:
        app.config["SECRET_KEY_FALLBACKS"] = []
