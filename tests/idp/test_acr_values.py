"""acr_values is a list in order of preference: the first value the sign-in can satisfy wins."""

from __future__ import annotations

import pytest

from idp.decision import ACR_MFA, ACR_PASSWORD, requested_acr
from tests.idp.conftest import LONDON, TOR, submit_code, with_policy

OTHER = "urn:example:acr:gold"


@pytest.fixture
def no_registration(stepup_with):
    """Registration policy off: a user without TOTP is asked for nothing by policy."""
    return stepup_with(lambda s: with_policy(s, "mfa_registration", state="off"))


def _acr_of(rp, response):
    code = rp.code_from(response)
    return rp.verify_id_token(rp.redeem(code).get_json()["id_token"])["acr"]


@pytest.mark.parametrize(
    "values, mfa_possible, expected",
    [
        (f"{ACR_PASSWORD} {ACR_MFA}", True, ACR_PASSWORD),
        (f"{ACR_MFA} {ACR_PASSWORD}", True, ACR_MFA),
        (f"{ACR_MFA} {ACR_PASSWORD}", False, ACR_PASSWORD),
        (ACR_MFA, False, ACR_MFA),
        (f"{OTHER} {ACR_MFA}", True, ACR_MFA),
        (f"{OTHER} {ACR_PASSWORD} {ACR_MFA}", True, ACR_PASSWORD),
        (OTHER, True, None),
        ("", True, None),
        (f"  {ACR_PASSWORD}   {ACR_MFA} ", True, ACR_PASSWORD),
        (f"{ACR_MFA}{ACR_PASSWORD}", True, None),
        (ACR_MFA.upper(), True, None),
    ],
    ids=[
        "password-first",
        "mfa-first",
        "mfa-first-no-factor",
        "mfa-only-no-factor",
        "unknown-skipped",
        "unknown-then-password",
        "unknown-only",
        "empty",
        "extra-spaces",
        "glued",
        "wrong-case",
    ],
)
def test_requested_acr_is_the_first_satisfiable_value(values, mfa_possible, expected):
    assert requested_acr(values, mfa_possible=mfa_possible) == expected


def test_oidcc_ensure_request_with_acr_values_succeeds(stepup):
    """Password listed first: a user with TOTP gets a code without a challenge."""
    stepup.user()
    stepup.register_totp()
    rp = stepup.browser_rp(LONDON)
    response = rp.sign_in(acr_values=f"{ACR_PASSWORD} {ACR_MFA}")
    assert _acr_of(rp, response) == ACR_PASSWORD


def test_password_first_does_not_force_mfa_on_users_without_totp(no_registration):
    no_registration.user()
    rp = no_registration.browser_rp(LONDON)
    response = rp.sign_in(acr_values=f"{ACR_PASSWORD} {ACR_MFA}")
    assert _acr_of(rp, response) == ACR_PASSWORD


def test_mfa_first_challenges_a_user_with_totp(stepup):
    stepup.user()
    secret = stepup.register_totp()
    rp = stepup.browser_rp(LONDON)
    challenge = rp.sign_in(acr_values=f"{ACR_MFA} {ACR_PASSWORD}")
    assert challenge.status_code == 302 and "/mfa/verify" in challenge.location
    passed = submit_code(rp, challenge.location, stepup.code(secret))
    assert _acr_of(rp, rp.browser.get(passed.location)) == ACR_MFA


def test_mfa_first_falls_back_to_password_without_a_second_factor(no_registration):
    no_registration.user()
    rp = no_registration.browser_rp(LONDON)
    response = rp.sign_in(acr_values=f"{ACR_MFA} {ACR_PASSWORD}")
    assert _acr_of(rp, response) == ACR_PASSWORD


def test_mfa_alone_still_requires_registration_without_a_second_factor(no_registration):
    no_registration.user()
    rp = no_registration.browser_rp(LONDON)
    response = rp.sign_in(acr_values=ACR_MFA)
    assert response.status_code == 302 and "/mfa/register" in response.location
    page = rp.browser.get(response.location).get_data(as_text=True)
    assert "Skip for now" not in page


def test_unknown_values_before_mfa_are_skipped(stepup):
    stepup.user()
    stepup.register_totp()
    rp = stepup.browser_rp(LONDON)
    response = rp.sign_in(acr_values=f"{OTHER} {ACR_MFA}")
    assert response.status_code == 302 and "/mfa/verify" in response.location


def test_asking_for_password_does_not_skip_a_risk_step_up(stepup):
    """The bypass: a client (or attacker) listing only the password acr on a risky sign-in."""
    stepup.user()
    stepup.register_totp()
    rp = stepup.browser_rp(TOR)
    response = rp.sign_in(acr_values=ACR_PASSWORD)
    assert response.status_code == 302 and "/mfa/verify" in response.location


def test_acr_claim_says_mfa_when_the_session_already_has_it(stepup):
    """The acr claim reflects what was done, even when the client listed password first."""
    stepup.user()
    secret = stepup.register_totp()
    rp = stepup.browser_rp(LONDON)
    challenge = rp.sign_in(acr_values=ACR_MFA)
    passed = submit_code(rp, challenge.location, stepup.code(secret))
    assert _acr_of(rp, rp.browser.get(passed.location)) == ACR_MFA
    again = rp.browser.get(rp.authorize_url(acr_values=f"{ACR_PASSWORD} {ACR_MFA}"))
    assert _acr_of(rp, again) == ACR_MFA


def test_acr_values_with_nul_is_an_error_page(stepup):
    stepup.user()
    rp = stepup.browser_rp(LONDON)
    response = rp.browser.get(rp.authorize_url(acr_values=f"{ACR_PASSWORD}\x00{ACR_MFA}"))
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_acr_values_with_control_characters_is_invalid_request(stepup):
    stepup.user()
    rp = stepup.browser_rp(LONDON)
    response = rp.browser.get(rp.authorize_url(acr_values=f"{ACR_PASSWORD}\t{ACR_MFA}"))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "invalid_request" in response.get_data(as_text=True)
