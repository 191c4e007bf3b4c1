"""SPEC's outcome table end to end, through the real detectors and the browser-facing pages."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import sqlalchemy as sa

from idp.models import RiskDetection, SignIn, User, UserRisk
from tests.conftest import PASSWORD, csrf_from
from tests.idp.conftest import (
    LEAKED_PASSWORD,
    LISTED_ANON,
    LONDON,
    MALICIOUS,
    OTHER_LEAKED,
    TOR,
    submit_code,
    with_policy,
)


def _rows(stepup, model, **filters):
    from idp.extensions import db

    return stepup.with_app(lambda: list(db.session.scalars(sa.select(model).filter_by(**filters))))


def _sign_ins(stepup):
    from idp.extensions import db

    return stepup.with_app(
        lambda: list(db.session.scalars(sa.select(SignIn).order_by(SignIn.created_at, SignIn.id)))
    )


def test_clean_sign_in_gets_tokens_and_logs_policies(stepup):
    stepup.user()
    stepup.register_totp()
    rp = stepup.browser_rp(LONDON)
    tokens = rp.tokens()
    assert rp.verify_id_token(tokens["id_token"])["amr"] == ["pwd"]
    row = _sign_ins(stepup)[-1]
    assert (row.outcome, row.risk_level_during_sign_in, row.ip) == ("success", "none", LONDON)
    assert (row.country, row.city) == ("GB", "London")
    assert {p["displayName"]: p["result"] for p in row.policies} == {
        "mfaRegistrationPolicy": "notApplied",
        "signInRiskPolicy": "notApplied",
        "userRiskPolicy": "notApplied",
    }


def test_anonymized_ip_with_totp_is_challenged_and_remediated(stepup):
    user_id = stepup.user()
    secret = stepup.register_totp()
    rp = stepup.browser_rp(TOR)
    challenge = rp.sign_in()
    assert challenge.status_code == 302 and "/mfa/verify" in challenge.location
    page = rp.browser.get(challenge.location).get_data(as_text=True)
    assert "Verification code" in page and ">Verify<" in page
    wrong = submit_code(rp, challenge.location, "000000")
    assert wrong.status_code == 400 and "not right" in wrong.get_data(as_text=True)
    passed = submit_code(rp, challenge.location, stepup.code(secret))
    code = rp.code_from(rp.browser.get(passed.location))
    claims = rp.verify_id_token(rp.redeem(code).get_json()["id_token"])
    assert set(claims["amr"]) == {"pwd", "otp", "mfa"}
    assert claims["acr"] == "urn:idp:acr:mfa"
    detections = _rows(stepup, RiskDetection, user_id=user_id)
    assert [(d.risk_event_type, d.risk_state, d.risk_detail) for d in detections] == [
        ("anonymizedIPAddress", "remediated", "userPassedMFADrivenByRiskBasedPolicy")
    ]
    assert "185.220.101.1" in detections[0].description
    rows = {(r.kind, r.outcome, r.error_code): r for r in _sign_ins(stepup)}
    assert sorted(rows, key=str) == sorted(
        [
            ("password", "interrupted", 50076),
            ("mfa", "failure", 500121),
            ("password", "success", None),
        ],
        key=str,
    )
    interrupted = rows[("password", "interrupted", 50076)]
    assert interrupted.risk_event_types == ["anonymizedIPAddress"]
    assert interrupted.risk_level_during_sign_in == "medium"
    assert {p["displayName"]: p["result"] for p in interrupted.policies}[
        "signInRiskPolicy"
    ] == "failure"
    success = rows[("password", "success", None)]
    assert {p["displayName"]: p["result"] for p in success.policies}[
        "signInRiskPolicy"
    ] == "success"


def test_risky_unregistered_user_is_blocked_53004_even_inside_grace(stepup):
    stepup.user()
    rp = stepup.browser_rp(LISTED_ANON)
    response = rp.sign_in()
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "53004" in page and "Correlation id" in page and "Request id" in page
    assert "Skip for now" not in page
    row = _sign_ins(stepup)[-1]
    assert (row.outcome, row.error_code) == ("failure", 53004)
    # The risky session cannot reach registration directly either.
    rp2 = stepup.browser_rp(LISTED_ANON)
    first = rp2.browser.get(rp2.authorize_url())
    flow = parse_qs(urlparse(first.location).query)["flow"][0]
    rp2.submit_login(first.location, "alice", PASSWORD)
    sneak = rp2.browser.get(f"/mfa/register?flow={flow}")
    assert sneak.status_code in (302, 400)
    assert "otpauth://" not in sneak.get_data(as_text=True)


def test_malicious_ip_without_totp_is_53004(stepup):
    stepup.user()
    assert stepup.browser_rp(MALICIOUS).sign_in().status_code == 403


def test_block_at_gives_53003(stepup_with):
    stepup = stepup_with(lambda s: with_policy(s, "sign_in_risk", block_at="medium"))
    stepup.user()
    stepup.register_totp()
    response = stepup.browser_rp(TOR).sign_in()
    assert response.status_code == 403
    assert "53003" in response.get_data(as_text=True)


def test_leaked_password_forces_secure_change(stepup):
    user_id = stepup.user("alice", LEAKED_PASSWORD)
    secret = stepup.register_totp()
    rp = stepup.browser_rp(LONDON)
    challenge = rp.sign_in("alice", LEAKED_PASSWORD)
    assert "/mfa/verify" in challenge.location
    assert _rows(stepup, UserRisk, user_id=user_id)[0].risk_level == "high"
    change = submit_code(rp, challenge.location, stepup.code(secret))
    change = rp.browser.get(change.location)
    assert change.status_code == 302 and "/password/change" in change.location
    page = rp.browser.get(change.location)
    assert "New password" in page.get_data(as_text=True)

    def attempt(new, confirm=None):
        return rp.browser.post(
            change.location,
            data={
                "csrf_token": csrf_from(page),
                "new_password": new,
                "confirm_password": confirm or new,
            },
        )

    assert "leaked" in attempt(OTHER_LEAKED).get_data(as_text=True)
    reused = attempt(LEAKED_PASSWORD)
    assert reused.status_code == 400 and "leaked" in reused.get_data(as_text=True)
    assert "do not match" in attempt("a-fresh-unique-pass", "typo").get_data(as_text=True)
    done = attempt("a-fresh-unique-pass")
    code = rp.code_from(rp.browser.get(done.location))
    assert rp.redeem(code).status_code == 200
    risk = _rows(stepup, UserRisk, user_id=user_id)[0]
    assert (risk.risk_level, risk.risk_state, risk.risk_detail) == (
        "none",
        "remediated",
        "userPerformedSecuredPasswordChange",
    )
    assert {d.risk_state for d in _rows(stepup, RiskDetection, user_id=user_id)} == {"remediated"}


def test_password_change_revokes_other_sessions(stepup):
    stepup.user("alice", "first-password-1")
    secret = stepup.register_totp()
    laptop = stepup.browser_rp(LONDON)
    laptop_tokens = laptop.tokens("alice", "first-password-1")
    # The password leaks; the admin marks it so by setting the user's risk through a detection.
    from idp import user_risk
    from risk.detections import admin_confirmed_compromised

    user_id = stepup.with_app(lambda: User.query.filter_by(username="alice").one().id)
    stepup.with_app(
        lambda: user_risk.raise_user_detection(
            user_id, admin_confirmed_compromised(admin="root"), correlation_id="c"
        )
    )
    phone = stepup.browser_rp(LONDON)
    challenge = phone.sign_in("alice", "first-password-1")
    change = phone.browser.get(submit_code(phone, challenge.location, stepup.code(secret)).location)
    page = phone.browser.get(change.location)
    done = phone.browser.post(
        change.location,
        data={
            "csrf_token": csrf_from(page),
            "new_password": "second-password-2",
            "confirm_password": "second-password-2",
        },
    )
    assert phone.code_from(phone.browser.get(done.location))
    refresh = laptop.token_request(
        {"grant_type": "refresh_token", "refresh_token": laptop_tokens["refresh_token"]}
    )
    assert refresh.status_code == 400
    assert "/login" in laptop.browser.get(laptop.authorize_url()).location


def test_leaked_password_without_totp_is_53004(stepup):
    stepup.user("alice", LEAKED_PASSWORD)
    response = stepup.browser_rp(LONDON).sign_in("alice", LEAKED_PASSWORD)
    assert response.status_code == 403 and "53004" in response.get_data(as_text=True)


def test_wrong_password_does_not_flag_leaked(stepup):
    user_id = stepup.user("alice")
    stepup.browser_rp(LONDON).sign_in("alice", LEAKED_PASSWORD)
    assert _rows(stepup, RiskDetection, user_id=user_id) == []


def test_report_only_logs_but_does_not_enforce(stepup_with):
    stepup = stepup_with(lambda s: with_policy(s, "sign_in_risk", state="report-only"))
    stepup.user()
    stepup.register_totp()
    rp = stepup.browser_rp(TOR)
    assert rp.code_from(rp.sign_in())
    row = _sign_ins(stepup)[-1]
    results = {p["displayName"]: p["result"] for p in row.policies}
    assert results["signInRiskPolicy"] == "reportOnlyInterrupted"
    assert row.outcome == "success" and row.risk_level_during_sign_in == "medium"


def test_report_only_unregistered_would_fail(stepup_with):
    stepup = stepup_with(
        lambda s: with_policy(
            with_policy(s, "sign_in_risk", state="report-only"), "mfa_registration", state="off"
        )
    )
    stepup.user()
    rp = stepup.browser_rp(TOR)
    assert rp.code_from(rp.sign_in())
    results = {p["displayName"]: p["result"] for p in _sign_ins(stepup)[-1].policies}
    assert results["signInRiskPolicy"] == "reportOnlyFailure"


def test_excluded_group_bypasses(stepup_with):
    stepup = stepup_with(lambda s: with_policy(s, "sign_in_risk", exclude_groups=("breakglass",)))
    stepup.user("alice", groups=["breakglass"])
    stepup.register_totp()
    rp = stepup.browser_rp(TOR)
    assert rp.code_from(rp.sign_in())


def test_prompt_none_risky_sso_is_interaction_required(stepup):
    stepup.user()
    secret = stepup.register_totp()
    rp = stepup.browser_rp(LONDON)
    rp.tokens()
    rp.browser.environ_base["HTTP_X_FORWARDED_FOR"] = TOR
    response = rp.browser.get(rp.authorize_url(prompt="none"))
    params = parse_qs(urlparse(response.location).query)
    assert params["error"] == ["interaction_required"]
    assert params["error_description"][0].startswith("50076")
    # Without prompt=none the same SSO session is challenged: risk is assessed on reuse too.
    challenge = rp.browser.get(rp.authorize_url())
    assert "/mfa/verify" in challenge.location
    passed = submit_code(rp, challenge.location, stepup.code(secret))
    assert rp.code_from(rp.browser.get(passed.location))


def test_prompt_none_blocked_is_access_denied(stepup):
    stepup.user()
    rp2 = stepup.browser_rp(LONDON)
    first = rp2.sign_in()
    assert first.status_code == 302 and "/mfa/register" in first.location
    rp2.browser.environ_base["HTTP_X_FORWARDED_FOR"] = TOR
    response = rp2.browser.get(rp2.authorize_url(prompt="none"))
    params = parse_qs(urlparse(response.location).query)
    assert params["error"] == ["access_denied"]
    assert params["error_description"][0].startswith("53004")


def test_acr_values_demand_mfa(stepup):
    stepup.user()
    secret = stepup.register_totp()
    rp = stepup.browser_rp(LONDON)
    challenge = rp.sign_in(acr_values="urn:idp:acr:mfa")
    assert "/mfa/verify" in challenge.location
    passed = submit_code(rp, challenge.location, stepup.code(secret))
    code = rp.code_from(rp.browser.get(passed.location))
    claims = rp.verify_id_token(rp.redeem(code).get_json()["id_token"])
    assert claims["acr"] == "urn:idp:acr:mfa"
    # An earlier TOTP in the session satisfies a later acr demand, not a risk step-up.
    assert rp.code_from(rp.browser.get(rp.authorize_url(acr_values="urn:idp:acr:mfa")))


def test_device_cookie_is_set_and_logged(stepup):
    stepup.user()
    stepup.register_totp()
    rp = stepup.browser_rp(LONDON)
    rp.tokens()
    device = rp.browser.get_cookie("idp_device")
    assert device is not None and len(device.value) >= 32
    assert _sign_ins(stepup)[-1].device_id == device.value


def test_previous_place_keeps_its_accuracy_radius(stepup):
    from idp.extensions import db
    from idp.models import UserHistory

    user_id = stepup.user()
    stepup.register_totp()
    stepup.browser_rp(LONDON).tokens()
    history = stepup.with_app(lambda: db.session.get(UserHistory, user_id))
    assert (history.last_city, history.last_accuracy_radius_km) == ("London", 10)
