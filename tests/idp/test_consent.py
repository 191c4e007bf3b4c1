"""Consent for third-party clients: the page, remembering it, prompt=consent/none, Deny,
removing an app's access, and the attacks on each step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import sqlalchemy as sa

from idp.clock import FrozenClock
from tests.conftest import ISSUER, PASSWORD, REDIRECT_URI, Provider, RelyingParty, csrf_from

SCOPE = "openid profile email"


def third_party(
    provider: Provider, scopes: list[str] | None = None, name: str = "Photo Printer"
) -> RelyingParty:
    """A third-party confidential client (the kind that asks each user's consent)."""
    from idp.clients import create_client

    with provider.app.app_context():
        client, secret = create_client(
            name,
            redirect_uris=[REDIRECT_URI],
            post_logout_redirect_uris=[],
            public=False,
            grant_types=[],
            scopes=scopes or [],
            first_party=False,
        )
        return RelyingParty(provider.app, client.client_id, secret)


def path_of(url: str) -> str:
    parts = urlparse(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def consent_url(response: Any) -> str:
    """The consent page the authorization endpoint sent the browser to."""
    assert response.status_code == 302, response.get_data(as_text=True)
    assert urlparse(response.location).path == "/consent", response.location
    return path_of(response.location)


def answer(rp: RelyingParty, url: str, action: str, csrf: str | None = None, **extra: str) -> Any:
    """Post the consent form and follow the way back to the authorization endpoint."""
    if csrf is None:
        csrf = csrf_from(rp.browser.get(url))
    response = rp.browser.post(url, data={"csrf_token": csrf, "action": action, **extra})
    if response.status_code == 302 and urlparse(response.location).path == "/authorize":
        response = rp.browser.get(path_of(response.location))
    return response


def params(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.location.startswith(REDIRECT_URI), response.location
    return parse_qs(urlparse(response.location).query)


def consent_row(app: Any, user_id: str, client_id: str) -> Any:
    from idp.extensions import db
    from idp.models import Consent

    with app.app_context():
        row = db.session.get(Consent, (user_id, client_id))
        return None if row is None else sorted(row.scopes)


def count_codes(app: Any, client_id: str) -> int:
    from idp.extensions import db
    from idp.models import AuthorizationCode

    with app.app_context():
        return int(
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(AuthorizationCode)
                .filter_by(client_id=client_id)
            )
            or 0
        )


def sign_ins(app: Any, client_id: str) -> list[tuple[str, int | None, str | None]]:
    from idp.extensions import db
    from idp.models import SignIn

    with app.app_context():
        rows = db.session.execute(
            sa.select(SignIn.outcome, SignIn.error_code, SignIn.reason)
            .filter_by(client_id=client_id)
            .order_by(SignIn.created_at)
        ).all()
        return [tuple(row) for row in rows]


def allow(rp: RelyingParty, **authorize: Any) -> Any:
    """Sign in (if needed), allow on the consent page, return the response with the code."""
    return answer(rp, consent_url(rp.sign_in(**authorize)), "allow")


# --- who sees the page --------------------------------------------------------------------


@pytest.mark.parametrize("prompt", [None, "consent"], ids=["plain", "prompt-consent"])
def test_first_party_client_never_sees_the_page(provider, prompt):
    provider.user()
    rp = provider.rp()
    assert rp.code_from(rp.sign_in(prompt=prompt))


def test_third_party_client_shows_the_page_with_name_scopes_and_claims(provider):
    provider.user()
    rp = third_party(provider)
    url = consent_url(rp.sign_in(scope="openid profile email offline_access"))
    page = rp.browser.get(url)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Photo Printer" in html and "wants to" in html
    for line in (
        "Sign you in",
        "See your name and profile details",
        "See your email address",
        "Stay signed in to the app",
    ):
        assert line in html
    # The claims each scope releases are named beside it.
    assert "email_verified" in html and "preferred_username" in html
    assert 'value="allow"' in html and 'value="deny"' in html
    assert count_codes(provider.app, rp.client_id) == 0
    # Allow and Deny both lead (through redirects) to the app: the CSP lets the form go there.
    csp = page.headers["Content-Security-Policy"]
    assert "form-action 'self' https://rp.example" in csp and "script-src" not in csp


def test_allow_issues_a_code_and_stores_the_consent(provider):
    alice = provider.user()
    rp = third_party(provider)
    code = rp.code_from(allow(rp))
    assert consent_row(provider.app, alice, rp.client_id) == ["email", "openid", "profile"]
    tokens = rp.redeem(code).get_json()
    assert rp.verify_id_token(tokens["id_token"])["sub"] == alice
    logged = sorted((o, c) for o, c, _ in sign_ins(provider.app, rp.client_id))
    assert logged == [("interrupted", 65001), ("success", None)]


@pytest.mark.parametrize(
    "scope", [SCOPE, "openid", "openid email"], ids=["same-scopes", "fewer-scopes", "subset"]
)
def test_remembered_consent_skips_the_page(provider, scope):
    provider.user()
    rp = third_party(provider)
    rp.code_from(allow(rp))
    assert rp.code_from(rp.browser.get(rp.authorize_url(scope=scope)))


def test_more_scopes_ask_again_listing_what_is_new(provider):
    alice = provider.user()
    rp = third_party(provider, scopes=["openid", "profile", "email", "groups"])
    rp.code_from(allow(rp, scope="openid profile"))
    url = consent_url(rp.browser.get(rp.authorize_url(scope="openid profile groups email")))
    html = rp.browser.get(url).get_data(as_text=True)
    new = html[html.index('id="consent-scopes"') : html.index('id="consent-known-scopes"')]
    known = html[html.index('id="consent-known-scopes"') :]
    assert 'data-scope="groups"' in new and 'data-scope="email"' in new
    assert 'data-scope="profile"' not in new and 'data-scope="profile"' in known
    rp.code_from(answer(rp, url, "allow"))
    assert consent_row(provider.app, alice, rp.client_id) == [
        "email",
        "groups",
        "openid",
        "profile",
    ]


def test_prompt_consent_asks_again_once(provider):
    provider.user()
    rp = third_party(provider)
    rp.code_from(allow(rp))
    url = consent_url(rp.browser.get(rp.authorize_url(prompt="consent")))
    # Allowing answers this flow's prompt: the code comes, no loop back to the page.
    assert rp.code_from(answer(rp, url, "allow"))


@pytest.mark.parametrize(
    "scope", [SCOPE, "openid profile email groups"], ids=["never-allowed", "new-scope"]
)
def test_prompt_none_needing_consent_is_consent_required(provider, scope):
    alice = provider.user()
    rp = third_party(provider, scopes=["openid", "profile", "email", "groups"])
    other = third_party(provider, name="Other app")
    other.browser = rp.browser
    if scope != SCOPE:
        rp.code_from(allow(rp))
    else:
        # A signed-in session, from another app's sign-in that waits at its consent page.
        consent_url(other.sign_in())
    got = params(rp.browser.get(rp.authorize_url(prompt="none", scope=scope)))
    assert got["error"] == ["consent_required"]
    assert got["state"] == ["st-123"] and got["iss"] == [ISSUER]
    assert got["error_description"][0].startswith("65001")
    assert ("interrupted", 65001) in [r[:2] for r in sign_ins(provider.app, rp.client_id)]
    expected = None if scope == SCOPE else ["email", "openid", "profile"]
    assert consent_row(provider.app, alice, rp.client_id) == expected


def test_deny_sends_access_denied_and_logs_the_refusal(provider):
    alice = provider.user()
    rp = third_party(provider)
    got = params(answer(rp, consent_url(rp.sign_in()), "deny"))
    assert got["error"] == ["access_denied"]
    assert got["state"] == ["st-123"] and got["iss"] == [ISSUER]
    assert got["error_description"][0].startswith("65004")
    assert "code" not in got
    declined = [r for r in sign_ins(provider.app, rp.client_id) if r[0] == "failure"]
    assert [(o, c) for o, c, _ in declined] == [("failure", 65004)]
    assert "declined" in declined[0][2]
    assert consent_row(provider.app, alice, rp.client_id) is None
    assert count_codes(provider.app, rp.client_id) == 0
    # Declining is not remembered: the next request asks again.
    consent_url(rp.browser.get(rp.authorize_url()))


# --- attacks on the consent step ------------------------------------------------------------


def _flow_at_password_step(rp: RelyingParty) -> str:
    """A flow of rp's browser that waits at the sign-in page (prompt=login)."""
    response = rp.browser.get(rp.authorize_url(prompt="login", nonce="n2"))
    assert urlparse(response.location).path == "/login"
    return parse_qs(urlparse(response.location).query)["flow"][0]


@pytest.mark.parametrize(
    "where", ["other-browser", "flow-at-password-step", "unknown-id", "no-flow"]
)
def test_allow_for_a_flow_not_at_consent_grants_nothing(provider, where):
    alice = provider.user()
    rp = third_party(provider)
    url = consent_url(rp.sign_in())
    csrf = csrf_from(rp.browser.get(url))
    if where == "other-browser":
        # Mallory signs in herself, then posts victim's flow id from her own browser.
        provider.user("mallory")
        thief = third_party(provider, name="Thief")
        thief_csrf = csrf_from(thief.browser.get(consent_url(thief.sign_in("mallory"))))
        response = thief.browser.post(url, data={"csrf_token": thief_csrf, "action": "allow"})
        assert response.status_code == 400
    else:
        target = {
            "flow-at-password-step": f"/consent?flow={_flow_at_password_step(rp)}",
            "unknown-id": "/consent?flow=" + "x" * 43,
            "no-flow": "/consent",
        }[where]
        response = rp.browser.post(target, data={"csrf_token": csrf, "action": "allow"})
        if where == "flow-at-password-step":
            # Not this step's turn: back to the endpoint, which sends it to the password.
            assert urlparse(response.location).path == "/authorize"
            assert urlparse(rp.browser.get(path_of(response.location)).location).path == "/login"
        else:
            assert response.status_code == 400
    assert consent_row(provider.app, alice, rp.client_id) is None
    assert count_codes(provider.app, rp.client_id) == 0
    # The real flow still waits at its consent page.
    assert rp.code_from(answer(rp, url, "allow", csrf))


def test_a_cookie_copied_before_the_sign_in_cannot_allow(provider):
    alice = provider.user()
    rp = third_party(provider)
    login = rp.browser.get(rp.authorize_url())
    before = rp.browser.get_cookie("idp_session").value
    csrf = csrf_from(rp.browser.get(path_of(login.location)))
    url = consent_url(rp.submit_login(path_of(login.location), "alice", PASSWORD))
    # The copy knows the browser id, the flow and the CSRF token, but not the new session.
    thief = provider.app.test_client()
    thief.set_cookie("idp_session", before)
    stolen = thief.post(url, data={"csrf_token": csrf, "action": "allow"})
    assert urlparse(stolen.location).path == "/authorize"
    assert urlparse(thief.get(path_of(stolen.location)).location).path == "/login"
    assert consent_row(provider.app, alice, rp.client_id) is None
    assert count_codes(provider.app, rp.client_id) == 0


@pytest.mark.parametrize("csrf", ["", "forged", None], ids=["empty", "forged", "missing"])
def test_allow_without_the_csrf_token_is_refused(provider, csrf):
    alice = provider.user()
    rp = third_party(provider)
    url = consent_url(rp.sign_in())
    rp.browser.get(url)
    data = {"action": "allow"} if csrf is None else {"action": "allow", "csrf_token": csrf}
    assert rp.browser.post(url, data=data).status_code == 400
    assert consent_row(provider.app, alice, rp.client_id) is None
    assert count_codes(provider.app, rp.client_id) == 0


def test_allow_for_an_expired_flow_is_refused(provider, make_app):
    clock = FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    p = Provider(make_app(clock=clock))
    alice = p.user()
    rp = third_party(p)
    url = consent_url(rp.sign_in())
    csrf = csrf_from(rp.browser.get(url))
    clock.advance(seconds=31 * 60)
    response = rp.browser.post(url, data={"csrf_token": csrf, "action": "allow"})
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    assert consent_row(p.app, alice, rp.client_id) is None
    assert count_codes(p.app, rp.client_id) == 0


@pytest.mark.parametrize("first", ["allow", "deny"], ids=["after-allow", "after-deny"])
def test_replayed_allow_issues_no_further_code(provider, first):
    alice = provider.user()
    rp = third_party(provider)
    url = consent_url(rp.sign_in())
    csrf = csrf_from(rp.browser.get(url))
    ended = params(answer(rp, url, first, csrf))
    assert ("code" in ended) == (first == "allow")
    replay = rp.browser.post(url, data={"csrf_token": csrf, "action": "allow"})
    assert replay.status_code == 400
    assert count_codes(provider.app, rp.client_id) == (first == "allow")
    assert (consent_row(provider.app, alice, rp.client_id) is None) == (first == "deny")


def test_prompt_none_with_remembered_consent_issues_a_code(provider):
    provider.user()
    rp = third_party(provider)
    rp.code_from(allow(rp))
    assert rp.code_from(rp.browser.get(rp.authorize_url(prompt="none", scope="openid")))


def test_consent_comes_only_after_the_second_factor(stepup):
    from idp.clients import create_client
    from tests.idp.conftest import TOR

    alice = stepup.user()
    secret = stepup.register_totp()
    with stepup.app.app_context():
        client, key = create_client(
            "Photo Printer",
            redirect_uris=[REDIRECT_URI],
            post_logout_redirect_uris=[],
            public=False,
            grant_types=[],
            scopes=[],
            first_party=False,
        )
        rp = RelyingParty(stepup.app, client.client_id, key)
    rp.browser.environ_base["HTTP_X_FORWARDED_FOR"] = TOR
    challenge = rp.sign_in()
    assert urlparse(challenge.location).path == "/mfa/verify"
    flow = parse_qs(urlparse(challenge.location).query)["flow"][0]
    csrf = csrf_from(rp.browser.get(path_of(challenge.location)))
    # Skipping the second factor by answering the consent page of the same flow.
    skipped = rp.browser.post(f"/consent?flow={flow}", data={"csrf_token": csrf, "action": "allow"})
    assert urlparse(skipped.location).path == "/authorize"
    assert urlparse(rp.browser.get(path_of(skipped.location)).location).path == "/mfa/verify"
    assert rp.browser.get(f"/consent?flow={flow}").status_code == 302
    assert consent_row(stepup.app, alice, rp.client_id) is None
    assert count_codes(stepup.app, rp.client_id) == 0
    passed = rp.browser.post(
        path_of(challenge.location), data={"csrf_token": csrf, "code": stepup.code(secret)}
    )
    url = consent_url(rp.browser.get(path_of(passed.location)))
    assert rp.code_from(answer(rp, url, "allow"))


def test_a_blocked_sign_in_never_reaches_the_consent_page(stepup):
    from idp.clients import create_client
    from tests.idp.conftest import MALICIOUS

    stepup.user()
    with stepup.app.app_context():
        client, key = create_client(
            "Photo Printer",
            redirect_uris=[REDIRECT_URI],
            post_logout_redirect_uris=[],
            public=False,
            grant_types=[],
            scopes=[],
            first_party=False,
        )
        rp = RelyingParty(stepup.app, client.client_id, key)
    rp.browser.environ_base["HTTP_X_FORWARDED_FOR"] = MALICIOUS
    blocked = rp.sign_in()
    assert blocked.status_code == 403 and "53004" in blocked.get_data(as_text=True)


@pytest.mark.parametrize("action", ["allow-everything", "", "ALLOW"])
def test_only_allow_or_deny_is_an_answer(provider, action):
    alice = provider.user()
    rp = third_party(provider)
    url = consent_url(rp.sign_in())
    assert answer(rp, url, action).status_code == 400
    assert consent_row(provider.app, alice, rp.client_id) is None


def test_only_requested_scopes_the_client_may_have_are_stored(provider):
    alice = provider.user()
    rp = third_party(provider, scopes=["openid", "profile", "email", "groups"])
    url = consent_url(rp.sign_in(scope="openid email phone"))
    html = rp.browser.get(url).get_data(as_text=True)
    # phone is not registered for this client: it is neither shown nor stored.
    assert 'data-scope="phone"' not in html
    # Extra form fields naming more scopes are ignored.
    rp.code_from(
        answer(rp, url, "allow", scope="openid profile groups offline_access", scopes="groups")
    )
    assert consent_row(provider.app, alice, rp.client_id) == ["email", "openid"]
    consent_url(rp.browser.get(rp.authorize_url(scope="openid groups")))


def test_claims_requested_by_name_need_their_scope_allowed(provider):
    alice = provider.user()
    rp = third_party(provider)
    claims = json.dumps({"userinfo": {"email": None}})
    url = consent_url(rp.sign_in(scope="openid", claims=claims))
    html = rp.browser.get(url).get_data(as_text=True)
    assert 'data-scope="email"' in html
    rp.code_from(answer(rp, url, "allow"))
    assert consent_row(provider.app, alice, rp.client_id) == ["email", "openid"]


def test_one_users_consent_is_not_anothers(provider):
    alice = provider.user()
    bob = provider.user("bob")
    rp = third_party(provider)
    rp.code_from(allow(rp))
    bobs = RelyingParty(provider.app, rp.client_id, rp.secret)
    consent_url(bobs.sign_in("bob"))
    assert consent_row(provider.app, bob, rp.client_id) is None
    assert consent_row(provider.app, alice, rp.client_id) is not None


def test_another_flow_of_the_session_keeps_its_own_scopes(provider):
    alice = provider.user()
    rp = third_party(provider, scopes=["openid", "profile", "email", "groups"])
    small = consent_url(rp.sign_in(scope="openid"))
    big = consent_url(rp.browser.get(rp.authorize_url(scope="openid groups", nonce="n2")))
    assert small != big
    rp.code_from(answer(rp, small, "allow"))
    assert consent_row(provider.app, alice, rp.client_id) == ["openid"]
    # The other tab's flow still asks for what it wanted.
    assert 'data-scope="groups"' in rp.browser.get(big).get_data(as_text=True)


def test_a_new_session_in_the_same_browser_voids_the_pending_consent(provider):
    alice = provider.user()
    provider.user("bob")
    rp = third_party(provider)
    url = consent_url(rp.sign_in())
    csrf = csrf_from(rp.browser.get(url))
    # Bob signs in in the same browser (prompt=login): alice's consent page is not his.
    bob_flow = rp.browser.get(rp.authorize_url(prompt="login", nonce="n3"))
    rp.submit_login(path_of(bob_flow.location), "bob", PASSWORD)
    response = rp.browser.post(url, data={"csrf_token": csrf, "action": "allow"})
    # The flow is bound to bob's session now and waits at no step of his.
    assert urlparse(response.location).path == "/authorize"
    assert consent_row(provider.app, alice, rp.client_id) is None


# --- the account page: "Apps you allowed" and "Remove access" ---------------------------


def open_account(browser: Any) -> Any:
    """GET /account, following the account pages' own sign-in through the provider."""
    response = browser.get("/account")
    for _ in range(6):
        if response.status_code != 302:
            return response
        response = browser.get(path_of(response.location))
    raise AssertionError("too many redirects")


def remove(browser: Any, client_id: str, csrf: str | None = None) -> Any:
    page = open_account(browser)
    assert page.status_code == 200
    token = csrf_from(page)
    data = {"client_id": client_id}
    if csrf != "":
        data["csrf_token"] = csrf or token
    return browser.post("/account/apps/remove", data=data)


def test_account_page_lists_the_apps_you_allowed(provider):
    provider.user()
    rp = third_party(provider)
    url = consent_url(rp.sign_in())
    page = open_account(rp.browser)
    assert page.status_code == 200 and "You have not allowed any apps." in page.get_data(
        as_text=True
    )
    rp.code_from(answer(rp, url, "allow"))
    html = open_account(rp.browser).get_data(as_text=True)
    assert "Apps you allowed" in html and "Photo Printer" in html and "Remove access" in html
    assert f'value="{rp.client_id}"' in html


def test_remove_access_revokes_tokens_and_asks_again(provider):
    alice = provider.user()
    rp = third_party(provider)
    tokens = rp.redeem(rp.code_from(allow(rp, scope=SCOPE + " offline_access"))).get_json()
    first_party = provider.rp()
    first_party.browser = rp.browser
    kept = first_party.redeem(
        first_party.code_from(first_party.browser.get(first_party.authorize_url()))
    ).get_json()
    response = remove(rp.browser, rp.client_id)
    assert response.status_code == 302
    assert "can no longer access" in open_account(rp.browser).get_data(as_text=True)
    assert consent_row(provider.app, alice, rp.client_id) is None
    refreshed = rp.token_request(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"
    userinfo = provider.app.test_client().get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 401
    # Another app's tokens are untouched.
    assert (
        provider.app.test_client()
        .get("/userinfo", headers={"Authorization": f"Bearer {kept['access_token']}"})
        .status_code
        == 200
    )
    consent_url(rp.browser.get(rp.authorize_url()))


def test_remove_access_burns_a_code_not_yet_redeemed(provider):
    provider.user()
    rp = third_party(provider)
    code = rp.code_from(allow(rp))
    remove(rp.browser, rp.client_id)
    assert rp.redeem(code).get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "target", ["someone-elses", "never-allowed", "first-party", "unknown", "empty"]
)
def test_remove_of_an_app_you_did_not_allow_changes_nothing(provider, target):
    provider.user()
    bob = provider.user("bob")
    rp = third_party(provider)
    bobs = RelyingParty(provider.app, rp.client_id, rp.secret)
    bob_tokens = bobs.redeem(bobs.code_from(allow(bobs, username="bob"))).get_json()
    other = third_party(provider, name="Never allowed")
    own = provider.rp()
    own_tokens = RelyingParty(provider.app, own.client_id, own.secret)
    own_tokens.browser = rp.browser
    rp.sign_in()  # alice signs in (to the consent page: enough for a session)
    alice_own = own_tokens.redeem(
        own_tokens.code_from(own_tokens.browser.get(own_tokens.authorize_url()))
    ).get_json()
    client_id = {
        "someone-elses": rp.client_id,
        "never-allowed": other.client_id,
        "first-party": own.client_id,
        "unknown": "no-such-client",
        "empty": "",
    }[target]
    response = remove(rp.browser, client_id)
    assert response.status_code == 302
    assert "had no access to remove" in open_account(rp.browser).get_data(as_text=True)
    assert consent_row(provider.app, bob, rp.client_id) == ["email", "openid", "profile"]
    http = provider.app.test_client()
    for token in (bob_tokens["access_token"], alice_own["access_token"]):
        assert (
            http.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        )


def test_remove_access_needs_the_csrf_token(provider):
    alice = provider.user()
    rp = third_party(provider)
    rp.code_from(allow(rp))
    assert remove(rp.browser, rp.client_id, csrf="").status_code == 400
    assert remove(rp.browser, rp.client_id, csrf="forged").status_code == 400
    assert consent_row(provider.app, alice, rp.client_id) is not None


def test_account_page_needs_a_completed_sign_in(provider):
    provider.user()
    rp = third_party(provider)
    rp.code_from(allow(rp))
    stranger = provider.app.test_client()
    response = stranger.get("/account")
    assert response.status_code == 302 and response.location.endswith("/account/login")
    signin = stranger.get("/account/login")
    assert urlparse(signin.location).path == "/authorize"
    assert stranger.get(path_of(signin.location)).location.startswith("/login")
    posted = stranger.post("/account/apps/remove", data={"client_id": rp.client_id})
    assert posted.status_code == 302 and posted.location.endswith("/account/login")


@pytest.mark.parametrize(
    "query",
    ["state=forged&code=abc", "code=abc", "error=access_denied"],
    ids=["forged-state", "no-state", "error"],
)
def test_account_callback_refuses_what_it_did_not_start(provider, query):
    provider.user()
    rp = third_party(provider)
    rp.code_from(allow(rp))
    response = rp.browser.get(f"/account/callback?{query}")
    assert response.status_code == 400
    assert rp.browser.get("/account").status_code == 302


# --- clients and admins ---------------------------------------------------------------------


def test_deleting_a_client_deletes_its_consents(provider):
    from idp.clients import delete_client, find_client

    alice = provider.user()
    rp = third_party(provider)
    rp.code_from(allow(rp))
    with provider.app.app_context():
        delete_client(find_client(rp.client_id))
    assert consent_row(provider.app, alice, rp.client_id) is None


def test_cli_third_party_flag(tmp_path, database_url):
    config = tmp_path / "idp.toml"
    config.write_text(
        f'secret_key = "test-secret-key-0123456789"\n'
        f'issuer = "http://127.0.0.1:5999"\ndatabase_url = "{database_url}"\n'
    )

    def add(*flags: str) -> str:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "idp",
                "clients",
                "add",
                "App",
                "--redirect-uri",
                REDIRECT_URI,
                *flags,
                "--json",
                "--config",
                str(config),
            ],
            capture_output=True,
            text=True,
            env=dict(os.environ),
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return str(json.loads(done.stdout)["client_id"])

    third, first = add("--third-party"), add()
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        rows = dict(
            conn.execute(sa.text("SELECT client_id, first_party FROM oauth2_clients")).all()
        )
    engine.dispose()
    assert not rows[third] and rows[first]


def test_deleting_a_user_deletes_their_consents(provider):
    from idp.users import delete_user, find_user

    alice = provider.user()
    rp = third_party(provider)
    rp.code_from(allow(rp))
    with provider.app.app_context():
        delete_user(find_user("alice"))
    assert consent_row(provider.app, alice, rp.client_id) is None


def test_admin_pages_show_third_party_clients_and_a_users_consents(stepup):
    from tests.idp.test_admin_dashboard import _admin, _admin_sign_in

    alice = stepup.user("alice")
    stepup.register_totp("alice")
    rp = third_party(stepup)
    rp.browser.environ_base["HTTP_X_FORWARDED_FOR"] = "81.2.69.142"
    rp.code_from(allow(rp))
    browser, secret = _admin(stepup)
    _admin_sign_in(stepup, browser, secret=secret)
    clients = browser.get("/admin/clients").get_data(as_text=True)
    row = clients[clients.index(rp.client_id) :]
    assert "third party: users are asked" in row[: row.index("</tr>")]
    user_page = browser.get(f"/admin/users/{alice}").get_data(as_text=True)
    apps = user_page[user_page.index('id="allowed-apps"') :]
    assert "Photo Printer" in apps[: apps.index("</table>")]
