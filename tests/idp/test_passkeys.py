"""Passkeys over HTTP: step-up, registration, strengths, remediation, reset, and every
bypass of the ceremony's binding to its flow (another flow, a replay, a stale challenge,
another user's credential, garbage)."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
import sqlalchemy as sa

from idp.models import (
    BackchannelLogout,
    RiskDetection,
    RiskHistory,
    SignIn,
    SsoSession,
    UserRisk,
    WebAuthnCredential,
)
from tests.conftest import PASSWORD, csrf_from
from tests.idp.conftest import LONDON, TOR, submit_code, with_policy
from tests.softkey import SoftKey, b64, unb64

ORIGIN = "http://idp.test"
PR = "urn:idp:acr:phishing-resistant"


def _rows(stepup: Any, model: Any, **filters: Any) -> list[Any]:
    from idp.extensions import db

    return stepup.with_app(lambda: list(db.session.scalars(sa.select(model).filter_by(**filters))))


def _user_id(stepup: Any, username: str) -> str:
    from idp.users import find_user

    return str(stepup.with_app(lambda: find_user(username).id))


def add_passkey(
    stepup: Any, username: str = "alice", name: str = "laptop", sign_count: int = 0
) -> SoftKey:
    """A passkey stored for the user as a registration would store it."""
    from idp.extensions import db

    user_id = _user_id(stepup, username)
    key = SoftKey(
        rp_id="idp.test", origin=ORIGIN, user_handle=user_id.encode(), sign_count=sign_count
    )

    def store() -> None:
        db.session.add(
            WebAuthnCredential(
                credential_id=b64(key.credential_id),
                user_id=user_id,
                public_key=key.cose_public_key(),
                sign_count=sign_count,
                transports=["internal"],
                name=name,
                aaguid="00000000-0000-0000-0000-000000000000",
                created_at=stepup.clock.now(),
            )
        )
        db.session.commit()

    stepup.with_app(store)
    return key


def options_of(page: Any) -> dict[str, Any]:
    found = re.search(r'data-options="([^"]*)"', page.get_data(as_text=True))
    assert found, page.get_data(as_text=True)
    return dict(json.loads(html.unescape(found.group(1))))


def challenge_of(page: Any) -> bytes:
    return unb64(options_of(page)["challenge"])


def post_passkey(browser: Any, url: str, credential: str, page: Any = None, **fields: str) -> Any:
    page = page if page is not None else browser.get(url)
    return browser.post(
        url,
        data={
            "csrf_token": csrf_from(page),
            "action": "passkey",
            "credential": credential,
            **fields,
        },
    )


def to_verify(stepup: Any, ip: str = TOR, username: str = "alice", **params: Any) -> Any:
    rp = stepup.browser_rp(ip)
    response = rp.sign_in(username, **params)
    assert response.status_code == 302 and "/mfa/verify" in response.location, response.get_data(
        as_text=True
    )
    return rp, response.location


def finish(rp: Any, response: Any) -> dict[str, Any]:
    assert response.status_code == 302, response.get_data(as_text=True)
    code = rp.code_from(rp.browser.get(response.location))
    return rp.verify_id_token(rp.redeem(code).get_json()["id_token"])


def test_discovery_advertises_the_phishing_resistant_acr(stepup):
    config = stepup.app.test_client().get("/.well-known/openid-configuration").get_json()
    assert PR in config["acr_values_supported"]


def test_risky_sign_in_steps_up_with_a_passkey(stepup):
    user_id = stepup.user()
    key = add_passkey(stepup)
    rp, url = to_verify(stepup)
    page = rp.browser.get(url)
    text = page.get_data(as_text=True)
    assert "Use a passkey" in text and 'name="code"' not in text  # no TOTP registered
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert (
        "unsafe-inline"
        not in page.headers["Content-Security-Policy"].split("script-src")[1].split(";")[0]
    )
    options = options_of(page)
    assert options["rpId"] == "idp.test" and options["userVerification"] == "required"
    claims = finish(rp, post_passkey(rp.browser, url, key.assert_(challenge_of(page)), page))
    assert {"hwk", "mfa", "pwd"} <= set(claims["amr"])
    assert claims["acr"] == PR
    detections = _rows(stepup, RiskDetection, user_id=user_id)
    assert [(d.risk_state, d.risk_detail) for d in detections] == [
        ("remediated", "userPassedMFADrivenByRiskBasedPolicy")
    ]
    stored = _rows(stepup, WebAuthnCredential, user_id=user_id)[0]
    assert stored.sign_count == 1 and stored.last_used_at is not None


def test_challenge_page_offers_both_factors(stepup):
    stepup.user()
    secret = stepup.register_totp()
    add_passkey(stepup)
    rp, url = to_verify(stepup)
    text = rp.browser.get(url).get_data(as_text=True)
    assert "Verification code" in text and "Use a passkey" in text
    claims = finish(rp, submit_code(rp, url, stepup.code(secret)))
    assert "hwk" not in claims["amr"] and claims["acr"] == "urn:idp:acr:mfa"


def test_static_script_is_served(stepup):
    with stepup.app.test_client().get("/static/passkey.js") as response:
        assert response.status_code == 200
        assert "navigator.credentials.get" in response.get_data(as_text=True)


def test_replayed_assertion_refused(stepup):
    stepup.user()
    key = add_passkey(stepup)
    rp, url = to_verify(stepup)
    page = rp.browser.get(url)
    assertion = key.assert_(challenge_of(page))
    first = post_passkey(rp.browser, url, assertion, page)
    assert first.status_code == 302
    # The same answer again, in the same flow (its challenge is spent) ...
    again = post_passkey(rp.browser, url, assertion, page)
    assert again.status_code in (302, 400)
    # ... and in a new sign-in, which has a challenge of its own.
    rp2, url2 = to_verify(stepup)
    replay = post_passkey(rp2.browser, url2, assertion)
    assert replay.status_code == 400
    assert "not accepted" in replay.get_data(as_text=True)
    assert (
        _rows(stepup, SignIn, kind="mfa", outcome="failure")[-1].reason
        == "passkey refused (challenge)"
    )


def test_challenge_is_spent_by_a_failed_attempt(stepup):
    stepup.user()
    key = add_passkey(stepup)
    rp, url = to_verify(stepup)
    page = rp.browser.get(url)
    challenge = challenge_of(page)
    bad = post_passkey(rp.browser, url, key.assert_(challenge, origin="http://evil.test"), page)
    assert bad.status_code == 400
    # The genuine answer to the spent challenge no longer counts.
    late = post_passkey(rp.browser, url, key.assert_(challenge), page)
    assert late.status_code == 400
    assert "expired or was already used" in late.get_data(
        as_text=True
    ) or "not accepted" in late.get_data(as_text=True)


def test_assertion_for_another_flow_refused(stepup):
    stepup.user()
    key = add_passkey(stepup)
    rp_a, url_a = to_verify(stepup)
    rp_b, url_b = to_verify(stepup)
    challenge_a = challenge_of(rp_a.browser.get(url_a))
    page_b = rp_b.browser.get(url_b)
    response = post_passkey(rp_b.browser, url_b, key.assert_(challenge_a), page_b)
    assert response.status_code == 400
    # Flow A still works with its own challenge... which was not replaced by B's page.
    page_a = rp_a.browser.get(url_a)
    assert (
        finish(rp_a, post_passkey(rp_a.browser, url_a, key.assert_(challenge_of(page_a)), page_a))[
            "acr"
        ]
        == PR
    )


def test_flow_of_another_browser_refused(stepup):
    stepup.user()
    key = add_passkey(stepup)
    rp_a, url_a = to_verify(stepup)
    page_a = rp_a.browser.get(url_a)
    thief = stepup.browser_rp(TOR)
    thief.browser.get("/")
    response = post_passkey(thief.browser, url_a, key.assert_(challenge_of(page_a)), page_a)
    assert response.status_code in (302, 400)
    assert _rows(stepup, SsoSession, revoked_at=None)[0].amr == ["pwd"]


def test_stale_challenge_refused(stepup):
    stepup.user()
    key = add_passkey(stepup)
    rp, url = to_verify(stepup)
    old = challenge_of(rp.browser.get(url))
    page = rp.browser.get(url)  # a reload: a new challenge replaces the old one
    assert challenge_of(page) != old
    assert post_passkey(rp.browser, url, key.assert_(old), page).status_code == 400


def test_passkey_of_another_user_refused(stepup):
    stepup.user("alice")
    stepup.user("bob")
    add_passkey(stepup, "alice")
    bobs = add_passkey(stepup, "bob")
    rp, url = to_verify(stepup, username="alice")
    page = rp.browser.get(url)
    # Bob's real credential, with Bob's user handle, on Alice's challenge.
    response = post_passkey(rp.browser, url, bobs.assert_(challenge_of(page)), page)
    assert response.status_code == 400
    assert (
        _rows(stepup, SignIn, kind="mfa", outcome="failure")[-1].reason
        == "passkey refused (credential of another user)"
    )
    # ... nor with Alice's user handle claimed on Bob's key.
    page = rp.browser.get(url)
    alice_id = _user_id(stepup, "alice").encode()
    forged = bobs.assert_(challenge_of(page), user_handle=alice_id)
    assert post_passkey(rp.browser, url, forged, page).status_code == 400


def test_sign_count_regression_refused_and_logged(stepup, caplog):
    stepup.user()
    key = add_passkey(stepup, sign_count=10)
    rp, url = to_verify(stepup)
    page = rp.browser.get(url)
    response = post_passkey(rp.browser, url, key.assert_(challenge_of(page), count=3), page)
    assert response.status_code == 400
    assert "may have been copied" in response.get_data(as_text=True)
    assert any("possible cloned authenticator" in r.getMessage() for r in caplog.records)
    assert _rows(stepup, WebAuthnCredential)[0].sign_count == 10


@pytest.mark.parametrize(
    "credential",
    [
        "",
        "null",
        "[]",
        "{",
        '"text"',
        '{"id": 1}',
        "x" * 20000,
        json.dumps(
            {
                "id": "AA",
                "rawId": "AA",
                "type": "public-key",
                "response": {"clientDataJSON": "%%", "authenticatorData": "!", "signature": "?"},
            }
        ),
    ],
    ids=["empty", "null", "list", "truncated", "string", "wrong-types", "huge", "bad-base64"],
)
def test_garbage_is_a_clear_400(stepup, credential):
    stepup.user()
    add_passkey(stepup)
    rp, url = to_verify(stepup)
    response = post_passkey(rp.browser, url, credential)
    assert response.status_code == 400
    assert "passkey" in response.get_data(as_text=True).lower()


def test_nul_byte_is_a_clear_400(stepup):
    stepup.user()
    key = add_passkey(stepup)
    rp, url = to_verify(stepup)
    page = rp.browser.get(url)
    response = post_passkey(rp.browser, url, key.assert_(challenge_of(page)) + "\x00", page)
    assert response.status_code == 400


def test_assertion_without_csrf_refused(stepup):
    stepup.user()
    key = add_passkey(stepup)
    rp, url = to_verify(stepup)
    page = rp.browser.get(url)
    response = rp.browser.post(
        url, data={"action": "passkey", "credential": key.assert_(challenge_of(page))}
    )
    assert response.status_code == 400


def _register_page(stepup, ip=LONDON, **params):
    rp = stepup.browser_rp(ip)
    response = rp.sign_in(**params)
    assert response.status_code == 302 and "/mfa/register" in response.location, response.get_data(
        as_text=True
    )
    return rp, response.location


def test_register_a_passkey_on_the_registration_page(stepup):
    user_id = stepup.user()
    rp, url = _register_page(stepup)
    page = rp.browser.get(url)
    text = page.get_data(as_text=True)
    assert "Add a passkey" in text and "Passkey name" in text and "otpauth://" in text
    assert "Skip for now" in text
    options = options_of(page)
    assert options["rp"]["id"] == "idp.test"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    key = SoftKey(rp_id="idp.test", origin=ORIGIN, user_handle=unb64(options["user"]["id"]))
    assert key.user_handle == user_id.encode()
    unnamed = post_passkey(rp.browser, url, key.register(challenge_of(page)), page, name=" ")
    assert unnamed.status_code == 400 and "Give the passkey a name" in unnamed.get_data(
        as_text=True
    )
    page = rp.browser.get(url)
    response = post_passkey(
        rp.browser, url, key.register(challenge_of(page)), page, name="Work laptop"
    )
    claims = finish(rp, response)
    assert {"hwk", "mfa"} <= set(claims["amr"])
    [row] = _rows(stepup, WebAuthnCredential, user_id=user_id)
    assert (row.name, row.transports, row.backed_up) == ("Work laptop", ["internal"], True)


def test_registration_refuses_a_bad_ceremony(stepup):
    stepup.user()
    rp, url = _register_page(stepup)
    page = rp.browser.get(url)
    options = options_of(page)
    key = SoftKey(rp_id="idp.test", origin=ORIGIN, user_handle=unb64(options["user"]["id"]))
    response = post_passkey(
        rp.browser, url, key.register(challenge_of(page), origin="http://evil.test"), page, name="x"
    )
    assert response.status_code == 400
    # Garbage too: a clear 400, not a 500.
    assert post_passkey(rp.browser, url, "{]", name="x").status_code == 400
    assert _rows(stepup, WebAuthnCredential) == []


def test_credential_ids_are_unique_across_users(stepup):
    stepup.user("alice")
    stepup.user("bob")
    rp, url = _register_page(stepup)
    page = rp.browser.get(url)
    key = SoftKey(rp_id="idp.test", origin=ORIGIN, user_handle=b"x")
    finish(rp, post_passkey(rp.browser, url, key.register(challenge_of(page)), page, name="a"))
    rp_b = stepup.browser_rp(LONDON)
    url_b = rp_b.sign_in("bob").location
    page = rp_b.browser.get(url_b)
    again = post_passkey(rp_b.browser, url_b, key.register(challenge_of(page)), page, name="b")
    assert again.status_code == 400
    assert len(_rows(stepup, WebAuthnCredential)) == 1


def test_risky_sign_in_cannot_register_a_passkey(stepup):
    stepup.user()
    rp = stepup.browser_rp(TOR)
    response = rp.sign_in()
    assert response.status_code == 403 and "53004" in response.get_data(as_text=True)
    # The blocked flow is over: no registration page answers, whatever flow is named.
    for url in ("/mfa/register", "/mfa/register?flow=nope"):
        assert rp.browser.get(url).status_code == 400
    assert _rows(stepup, SignIn, outcome="failure")[-1].error_code == 53004
    assert _rows(stepup, WebAuthnCredential) == []


def test_registration_needs_the_registration_step(stepup):
    """A flow waiting at the challenge cannot post a registration."""
    stepup.user()
    stepup.register_totp()
    rp, url = to_verify(stepup)
    register_url = url.replace("/mfa/verify", "/mfa/register")
    page = rp.browser.get(url)
    key = SoftKey(rp_id="idp.test", origin=ORIGIN, user_handle=b"x")
    response = rp.browser.post(
        register_url,
        data={
            "csrf_token": csrf_from(page),
            "action": "passkey",
            "name": "sneaky",
            "credential": key.register(
                challenge_of(page) if "data-options" in page.get_data(as_text=True) else b"0" * 32
            ),
        },
    )
    assert response.status_code == 302 and "/authorize" in response.location
    assert _rows(stepup, WebAuthnCredential) == []


def test_phishing_resistant_strength_blocks_totp_only_user(stepup_with):
    stepup = stepup_with(
        lambda s: with_policy(s, "sign_in_risk", mfa_strength="phishing-resistant")
    )
    stepup.user()
    stepup.register_totp()
    rp = stepup.browser_rp(TOR)
    response = rp.sign_in()
    text = response.get_data(as_text=True)
    assert response.status_code == 403 and "53004" in text
    assert "needs a passkey" in text and "/account" in text
    row = _rows(stepup, SignIn, outcome="failure")[-1]
    assert row.error_code == 53004 and "no passkey registered" in row.reason


def test_phishing_resistant_strength_refuses_a_code(stepup_with):
    stepup = stepup_with(
        lambda s: with_policy(s, "sign_in_risk", mfa_strength="phishing-resistant")
    )
    stepup.user()
    secret = stepup.register_totp()
    key = add_passkey(stepup)
    rp, url = to_verify(stepup)
    page = rp.browser.get(url)
    text = page.get_data(as_text=True)
    assert "needs a passkey" in text and 'name="code"' not in text
    refused = rp.browser.post(
        url, data={"csrf_token": csrf_from(page), "code": stepup.code(secret)}
    )
    assert refused.status_code == 400 and "needs a passkey" in refused.get_data(as_text=True)
    page = rp.browser.get(url)
    claims = finish(rp, post_passkey(rp.browser, url, key.assert_(challenge_of(page)), page))
    assert "hwk" in claims["amr"]


def test_report_only_strength_is_logged_not_enforced(stepup_with):
    stepup = stepup_with(
        lambda s: with_policy(
            s, "sign_in_risk", state="report-only", mfa_strength="phishing-resistant"
        )
    )
    stepup.user()
    stepup.register_totp()
    rp = stepup.browser_rp(TOR)
    rp.code_from(rp.sign_in())
    row = _rows(stepup, SignIn, outcome="success")[-1]
    result = {p["displayName"]: p for p in row.policies}["signInRiskPolicy"]
    assert result["result"] == "reportOnlyFailure"


def test_client_asking_phishing_resistant_acr_leads_totp_user_to_add_a_passkey(stepup):
    stepup.user()
    secret = stepup.register_totp()
    rp = stepup.browser_rp(LONDON)
    response = rp.sign_in(acr_values=PR)
    assert "/mfa/verify" in response.location  # the factor the user has, first
    passed = submit_code(rp, response.location, stepup.code(secret))
    response = rp.browser.get(passed.location)
    assert "/mfa/register" in response.location
    url = response.location
    page = rp.browser.get(url)
    text = page.get_data(as_text=True)
    assert "Add a passkey" in text and "otpauth://" not in text and "Skip for now" not in text
    options = options_of(page)
    key = SoftKey(rp_id="idp.test", origin=ORIGIN, user_handle=unb64(options["user"]["id"]))
    code_refused = rp.browser.post(
        url, data={"csrf_token": csrf_from(page), "code": "123456", "action": "verify"}
    )
    assert code_refused.status_code == 400
    page = rp.browser.get(url)
    claims = finish(
        rp, post_passkey(rp.browser, url, key.register(challenge_of(page)), page, name="phone")
    )
    assert claims["acr"] == PR


def test_password_alone_cannot_add_a_passkey_to_a_totp_user(stepup):
    """The registration page for the phishing-resistant acr needs the user's TOTP first."""
    stepup.user()
    stepup.register_totp()
    rp = stepup.browser_rp(LONDON)
    response = rp.sign_in(acr_values=PR)
    register_url = response.location.replace("/mfa/verify", "/mfa/register")
    page = rp.browser.get(register_url)
    assert page.status_code == 302 and "/authorize" in page.location


def test_passkey_remediates_user_risk_without_a_password(stepup):
    from idp.user_risk import raise_user_detection
    from risk.detections import anomalous_token

    user_id = stepup.user()
    key = add_passkey(stepup)
    # An earlier session, elsewhere: remediation must end it.
    earlier = stepup.browser_rp(LONDON)
    earlier.code_from(earlier.sign_in())
    stepup.with_app(
        lambda: raise_user_detection(
            user_id, anomalous_token(client_id="x", token_family="f"), correlation_id="c-1"
        )
    )
    assert _rows(stepup, UserRisk, user_id=user_id)[0].risk_level == "high"
    rp, url = to_verify(stepup, LONDON)
    page = rp.browser.get(url)
    assert "Verifying with a passkey secures it" in page.get_data(as_text=True)
    claims = finish(rp, post_passkey(rp.browser, url, key.assert_(challenge_of(page)), page))
    assert "hwk" in claims["amr"]  # no password change on the way
    risk = _rows(stepup, UserRisk, user_id=user_id)[0]
    assert (risk.risk_state, risk.risk_detail) == (
        "remediated",
        "userPassedMFADrivenByRiskBasedPolicy",
    )
    history = _rows(stepup, RiskHistory, user_id=user_id)
    assert any(
        h.risk_detail == "userPassedMFADrivenByRiskBasedPolicy" and h.risk_state == "remediated"
        for h in history
    )
    live = _rows(stepup, SsoSession, user_id=user_id, revoked_at=None)
    assert len(live) == 1 and "hwk" in live[0].amr
    assert _rows(stepup, BackchannelLogout) == [] or all(
        b.reason == "risk_remediation" for b in _rows(stepup, BackchannelLogout)
    )


def test_totp_at_user_risk_still_leads_to_a_password_change(stepup):
    from idp.user_risk import raise_user_detection
    from risk.detections import anomalous_token

    stepup.user()
    secret = stepup.register_totp()
    add_passkey(stepup)
    user_id = _user_id(stepup, "alice")
    stepup.with_app(
        lambda: raise_user_detection(
            user_id, anomalous_token(client_id="x", token_family="f"), correlation_id="c-1"
        )
    )
    rp, url = to_verify(stepup, LONDON)
    passed = submit_code(rp, url, stepup.code(secret))
    response = rp.browser.get(passed.location)
    assert "/password/change" in response.location


def test_reset_with_a_passkey(stepup):
    user_id = stepup.user()
    key = add_passkey(stepup)
    browser = stepup.app.test_client()
    page = browser.get("/password/reset")
    browser.post("/password/reset", data={"csrf_token": csrf_from(page), "username": "alice"})
    page = browser.get("/password/reset/verify")
    assert "Use a passkey" in page.get_data(as_text=True)
    response = post_passkey(
        browser, "/password/reset/verify", key.assert_(challenge_of(page)), page
    )
    assert response.status_code == 302 and "/password/reset/new" in response.location
    page = browser.get("/password/reset/new")
    done = browser.post(
        "/password/reset/new",
        data={
            "csrf_token": csrf_from(page),
            "new_password": "a brand new passphrase",
            "confirm_password": "a brand new passphrase",
        },
    )
    assert done.status_code == 200
    assert _rows(stepup, SignIn, user_id=user_id, outcome="failure") == []


def test_reset_refuses_another_users_passkey_and_unknown_names(stepup):
    stepup.user("alice")
    stepup.user("bob")
    bobs = add_passkey(stepup, "bob")
    for name in ("alice", "nobody"):
        browser = stepup.app.test_client()
        page = browser.get("/password/reset")
        browser.post("/password/reset", data={"csrf_token": csrf_from(page), "username": name})
        page = browser.get("/password/reset/verify")
        response = post_passkey(
            browser, "/password/reset/verify", bobs.assert_(challenge_of(page)), page
        )
        assert response.status_code == 400
        assert browser.get("/password/reset/new").status_code == 302
        # Garbage as well.
        assert post_passkey(browser, "/password/reset/verify", "nonsense").status_code == 400


def _account(stepup, browser_ip=LONDON, secret=None):
    """Sign in to /account through the provider; returns the browser."""
    from urllib.parse import urlparse

    browser = stepup.app.test_client()
    browser.environ_base["HTTP_X_FORWARDED_FOR"] = browser_ip
    response = browser.get("/account/login")
    for _ in range(12):
        if response.status_code != 302:
            break
        target = urlparse(response.location)
        path = target.path + (f"?{target.query}" if target.query else "")
        if target.path == "/login":
            page = browser.get(path)
            response = browser.post(
                path,
                data={"csrf_token": csrf_from(page), "username": "alice", "password": PASSWORD},
            )
            continue
        if target.path == "/mfa/verify" and secret:
            response = submit_code_browser(browser, path, stepup.code(secret))
            continue
        if target.path == "/account":
            break
        response = browser.get(path)
    return browser


def submit_code_browser(browser, url, code):
    page = browser.get(url)
    return browser.post(url, data={"csrf_token": csrf_from(page), "code": code})


def test_account_page_lists_adds_and_removes_passkeys(stepup):
    user_id = stepup.user()
    add_passkey(stepup, name="old phone")
    browser = _account(stepup)
    page = browser.get("/account")
    text = page.get_data(as_text=True)
    # A user with a factor manages factors only after passing one in this session.
    assert "old phone" in text and "verify with your second factor" in text
    assert "data-options" not in text
    row_id = _rows(stepup, WebAuthnCredential)[0].id
    token = csrf_from(browser.get("/password/reset"))  # the browser's CSRF token
    denied = browser.post(f"/account/passkeys/{row_id}/remove", data={"csrf_token": token})
    assert denied.status_code == 302 and len(_rows(stepup, WebAuthnCredential)) == 1
    # Without any factor, the first passkey may be added from the account page.
    stepup.with_app(lambda: _delete_passkeys())
    page = browser.get("/account")
    text = page.get_data(as_text=True)
    assert "Add a passkey" in text and "You have no passkeys" in text
    options = options_of(page)
    ceremony = re.search(r'name="ceremony" value="([^"]+)"', text).group(1)
    key = SoftKey(rp_id="idp.test", origin=ORIGIN, user_handle=unb64(options["user"]["id"]))
    answer = key.register(challenge_of(page))
    added = browser.post(
        "/account/passkeys/add",
        data={
            "csrf_token": csrf_from(page),
            "ceremony": ceremony,
            "name": "new laptop",
            "action": "passkey",
            "credential": answer,
        },
    )
    assert added.status_code == 302
    assert [r.name for r in _rows(stepup, WebAuthnCredential, user_id=user_id)] == ["new laptop"]
    # The ceremony is spent: the same answer again is refused.
    replay = browser.post(
        "/account/passkeys/add",
        data={
            "csrf_token": csrf_from(page),
            "ceremony": ceremony,
            "name": "again",
            "action": "passkey",
            "credential": answer,
        },
    )
    assert replay.status_code in (302, 400)
    assert len(_rows(stepup, WebAuthnCredential, user_id=user_id)) == 1


def test_account_page_refuses_a_passkey_nested_too_deep_to_parse(stepup_with):
    """A credential nested deeper than the JSON parser follows is a malformed passkey: the
    account page again with its 400, nothing stored."""
    stepup = stepup_with(lambda s: with_policy(s, "mfa_registration", state="off"))
    stepup.user()
    browser = _account(stepup)
    page = browser.get("/account")
    ceremony = re.search(r'name="ceremony" value="([^"]+)"', page.get_data(as_text=True))
    response = browser.post(
        "/account/passkeys/add",
        data={
            "csrf_token": csrf_from(page),
            "ceremony": ceremony.group(1),
            "name": "deep",
            "action": "passkey",
            "credential": "[" * 3000 + "]" * 3000,
        },
    )
    assert response.status_code == 400
    assert "Add a passkey" in response.get_data(as_text=True)
    assert _rows(stepup, WebAuthnCredential) == []


def _delete_passkeys():
    from idp.extensions import db

    db.session.execute(sa.delete(WebAuthnCredential))
    db.session.commit()


def test_account_remove_after_second_factor(stepup):
    stepup.user()
    secret = stepup.register_totp()
    add_passkey(stepup, name="old phone")
    browser = _account(stepup, secret=secret)
    response = browser.get("/account/login?mfa=1")
    # SSO reuse: the MFA demand sends the browser through the challenge.
    from urllib.parse import urlparse

    for _ in range(10):
        if response.status_code != 302:
            break
        target = urlparse(response.location)
        path = target.path + (f"?{target.query}" if target.query else "")
        if target.path == "/mfa/verify":
            response = submit_code_browser(browser, path, stepup.code(secret))
            continue
        if target.path == "/account":
            break
        response = browser.get(path)
    page = browser.get("/account")
    text = page.get_data(as_text=True)
    assert "Remove" in text and "Add a passkey" in text
    row_id = _rows(stepup, WebAuthnCredential)[0].id
    removed = browser.post(
        f"/account/passkeys/{row_id}/remove", data={"csrf_token": csrf_from(page)}
    )
    assert removed.status_code == 302
    assert _rows(stepup, WebAuthnCredential) == []


def test_admin_sees_factors_and_campaign_and_removes_a_passkey(stepup):
    from tests.idp.test_admin_dashboard import _admin, _admin_sign_in

    browser, secret = _admin(stepup)
    _admin_sign_in(stepup, browser, secret=secret)
    stepup.user("alice")
    stepup.user("carol")
    add_passkey(stepup, "alice", name="yubikey")
    directory = browser.get("/admin/directory").get_data(as_text=True)
    assert "1 passkey" in directory and "TOTP" in directory
    campaign = browser.get("/admin/registration")
    text = campaign.get_data(as_text=True)
    assert (
        campaign.status_code == 200
        and "carol" in text
        and "alice" not in text.split("No second factor")[1]
    )
    alice = _user_id(stepup, "alice")
    page = browser.get(f"/admin/users/{alice}")
    assert "yubikey" in page.get_data(as_text=True)
    row_id = _rows(stepup, WebAuthnCredential)[0].id
    response = browser.post(
        f"/admin/users/{alice}/passkeys/{row_id}/remove", data={"csrf_token": csrf_from(page)}
    )
    assert response.status_code == 302
    assert _rows(stepup, WebAuthnCredential) == []
    assert any(h.activity == "passkeyRemoved" for h in _rows(stepup, RiskHistory, user_id=alice))


def test_reset_second_factors_removes_passkeys(stepup):
    from idp.users import find_user, reset_second_factors

    stepup.user()
    add_passkey(stepup)
    stepup.with_app(lambda: reset_second_factors(find_user("alice"), initiated_by="t"))
    assert _rows(stepup, WebAuthnCredential) == []


def test_logs_never_hold_challenges_or_assertions(stepup, caplog):
    stepup.user("alice")
    stepup.user("bob")
    add_passkey(stepup, "alice")
    bobs = add_passkey(stepup, "bob")
    rp, url = to_verify(stepup)
    page = rp.browser.get(url)
    challenge = challenge_of(page)
    assertion = bobs.assert_(challenge)
    caplog.set_level("DEBUG")
    post_passkey(rp.browser, url, assertion, page)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "passkey of another user" in logged
    assert b64(challenge) not in logged
    assert json.loads(assertion)["response"]["signature"] not in logged


def test_config_reads_mfa_strength(tmp_path):
    from idp.config import load_settings

    path = tmp_path / "idp.toml"
    path.write_text(
        '[policies.sign_in_risk]\nmfa_strength = "phishing-resistant"\n'
        '[policies.user_risk]\nmfa_strength = "any"\n'
    )
    settings = load_settings(path, {}, demo=True)
    assert settings.policies.sign_in_risk.mfa_strength == "phishing-resistant"
    assert settings.policies.user_risk.mfa_strength == "any"
    from_env = load_settings(
        None, {"IDP_POLICIES__USER_RISK__MFA_STRENGTH": "phishing-resistant"}, demo=True
    )
    assert from_env.policies.user_risk.mfa_strength == "phishing-resistant"


def test_what_if_honours_mfa_strength(stepup, settings):
    """Under a phishing-resistant candidate, the risky sign-in of a TOTP-only user would
    have been blocked (53004); the passkey user's is still a challenge."""
    from idp.simulate import simulate

    stepup.user("alice")
    secret = stepup.register_totp("alice")
    stepup.user("bob")
    bobs = add_passkey(stepup, "bob")
    rp, url = to_verify(stepup, username="alice")
    finish(rp, submit_code(rp, url, stepup.code(secret)))
    rp, url = to_verify(stepup, username="bob")
    page = rp.browser.get(url)
    finish(rp, post_passkey(rp.browser, url, bobs.assert_(challenge_of(page)), page))
    candidate = with_policy(settings, "sign_in_risk", mfa_strength="phishing-resistant")
    report = stepup.with_app(lambda: simulate(candidate.policies, 30, stepup.clock.now()))
    pairs = report.overall.candidate.pairs()
    assert pairs["blocked53004"] == (1, 1) and pairs["mfa"] == (1, 1)
    assert report.overall.current.pairs()["mfa"] == (2, 2)
    assert (report.overall.changed_sign_ins, report.overall.changed_users) == (1, 1)


def test_no_passkey_offered_on_an_ip_issuer(stepup_with):
    from dataclasses import replace

    stepup = stepup_with(lambda s: replace(s, issuer="http://127.0.0.1:5000"))
    stepup.user()
    rp = stepup.browser_rp(LONDON)
    response = rp.sign_in()
    page = rp.browser.get(response.location)
    text = page.get_data(as_text=True)
    assert "otpauth://" in text and "Add a passkey" not in text and "<script" not in text
    assert "script-src" not in page.headers["Content-Security-Policy"]


def test_prompt_none_tells_the_client_a_passkey_is_needed(stepup_with):
    from urllib.parse import parse_qs, urlparse

    stepup = stepup_with(
        lambda s: with_policy(s, "sign_in_risk", mfa_strength="phishing-resistant")
    )
    stepup.user()
    stepup.register_totp()
    london = stepup.browser_rp(LONDON)
    london.code_from(london.sign_in())  # a session, from a usual place
    london.browser.environ_base["HTTP_X_FORWARDED_FOR"] = TOR
    response = london.browser.get(london.authorize_url(prompt="none"))
    params = parse_qs(urlparse(response.location).query)
    assert params["error"] == ["access_denied"]
    assert params["error_description"][0].startswith("53004: This sign-in needs a passkey")
