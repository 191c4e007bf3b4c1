"""The `claims` request parameter (OpenID Connect Core 5.5): claims asked for by name, in
userinfo or the ID token, kept through refreshes; malformed requests refused at the client."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest

from idp.decision import ACR_MFA, ACR_PASSWORD
from idp.models import AuthorizationCode, Token, User
from tests.conftest import ISSUER, REDIRECT_URI
from tests.idp.conftest import LONDON, submit_code, with_policy
from tests.idp.test_api_support import rows


def claims(value) -> str:
    return json.dumps(value)


@pytest.fixture
def ada(provider):
    from idp.claims import set_claims
    from idp.users import find_user

    user_id = provider.user("ada")
    with provider.app.app_context():
        set_claims(
            find_user("ada"),
            {
                "name": "Ada King",
                "given_name": "Ada",
                "email": "ada@example.org",
                "email_verified": True,
                "phone_number": "+442079460000",
                "address.locality": "London",
            },
        )
    return provider, user_id


def userinfo(provider, access: str) -> dict:
    response = provider.app.test_client().get(
        "/userinfo", headers={"Authorization": f"Bearer {access}"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return dict(response.get_json())


def test_oidcc_claims_essential(ada):
    """name asked for as essential in userinfo, without the profile scope."""
    provider, user_id = ada
    rp = provider.rp()
    tokens = rp.tokens(
        "ada", scope="openid", claims=claims({"userinfo": {"name": {"essential": True}}})
    )
    assert userinfo(provider, tokens["access_token"]) == {"sub": user_id, "name": "Ada King"}
    # Asked for in userinfo only: the ID token does not carry it.
    assert "name" not in rp.verify_id_token(tokens["id_token"])


def test_id_token_member_puts_claims_in_the_id_token_only(ada):
    provider, user_id = ada
    rp = provider.rp()
    tokens = rp.tokens(
        "ada",
        scope="openid",
        claims=claims(
            {
                "id_token": {
                    "email": None,
                    "given_name": {"essential": True},
                    "address": {"essential": False},
                }
            }
        ),
    )
    id_claims = rp.verify_id_token(tokens["id_token"])
    assert id_claims["email"] == "ada@example.org" and "email_verified" not in id_claims
    assert id_claims["given_name"] == "Ada"
    assert id_claims["address"] == {"locality": "London"}
    assert id_claims["sub"] == user_id
    assert userinfo(provider, tokens["access_token"]) == {"sub": user_id}


def test_both_members_and_scope_together(ada):
    provider, _ = ada
    rp = provider.rp()
    tokens = rp.tokens(
        "ada",
        scope="openid email",
        claims=claims({"userinfo": {"phone_number": None}, "id_token": {"name": None}}),
    )
    info = userinfo(provider, tokens["access_token"])
    assert set(info) == {"sub", "email", "email_verified", "phone_number"}
    assert rp.verify_id_token(tokens["id_token"])["name"] == "Ada King"


def test_requests_are_stored_on_the_code_and_the_token(ada):
    provider, _ = ada
    rp = provider.rp()
    tokens = rp.tokens(
        "ada",
        scope="openid",
        claims=claims(
            {
                "userinfo": {"name": {"essential": True}, "shoe_size": None},
                "id_token": {"email": None},
                "other": {"x": None},
            }
        ),
    )
    code = rows(provider, AuthorizationCode)[0]
    # Unknown claims and members are left out; what is kept is what the request meant.
    assert json.loads(code.claims_request) == {
        "userinfo": {"name": {"essential": True}},
        "id_token": {"email": None},
    }
    token = rows(provider, Token, access_token=tokens["access_token"])[0]
    assert json.loads(token.claims_request) == {"name": {"essential": True}}


def test_refresh_keeps_the_userinfo_claims(ada):
    provider, user_id = ada
    rp = provider.rp()
    tokens = rp.tokens(
        "ada", scope="openid offline_access", claims=claims({"userinfo": {"name": None}})
    )
    refreshed = rp.token_request(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.get_json()
    again = rp.token_request(
        {"grant_type": "refresh_token", "refresh_token": refreshed.get_json()["refresh_token"]}
    )
    assert userinfo(provider, again.get_json()["access_token"]) == {
        "sub": user_id,
        "name": "Ada King",
    }


def test_unknown_claims_are_ignored(ada):
    provider, user_id = ada
    rp = provider.rp()
    tokens = rp.tokens(
        "ada",
        scope="openid",
        claims=claims(
            {
                "userinfo": {"shoe_size": {"essential": True}, "acr": None},
                "id_token": {"favourite_colour": None},
            }
        ),
    )
    assert userinfo(provider, tokens["access_token"]) == {"sub": user_id}


def test_claims_beyond_the_clients_registered_scope_are_not_released(ada):
    """An admin who registered a client for profile only keeps it from phone and address,
    whether asked for by scope or by name."""
    provider, user_id = ada
    rp = provider.rp(scopes=["openid", "profile"])
    tokens = rp.tokens(
        "ada",
        scope="openid",
        claims=claims(
            {
                "userinfo": {"phone_number": None, "name": None},
                "id_token": {"address": None, "email": None},
            }
        ),
    )
    assert userinfo(provider, tokens["access_token"]) == {"sub": user_id, "name": "Ada King"}
    id_claims = rp.verify_id_token(tokens["id_token"])
    assert "address" not in id_claims and "email" not in id_claims


def test_changed_profile_shows_in_userinfo_at_once(ada):
    from idp.claims import set_claims
    from idp.users import find_user

    provider, _ = ada
    access = provider.rp().tokens(
        "ada", scope="openid", claims=claims({"userinfo": {"name": None}})
    )["access_token"]
    with provider.app.app_context():
        set_claims(find_user("ada"), {"name": "Ada Lovelace"})
    assert userinfo(provider, access)["name"] == "Ada Lovelace"


def test_id_token_sub_with_the_users_value_succeeds(ada):
    provider, user_id = ada
    rp = provider.rp()
    tokens = rp.tokens(
        "ada", scope="openid", claims=claims({"id_token": {"sub": {"value": user_id}}})
    )
    assert rp.verify_id_token(tokens["id_token"])["sub"] == user_id


def test_id_token_sub_of_another_user_gets_no_code(ada):
    """Core 5.5.1: never an ID token about a user other than the one the request names."""
    provider, _ = ada
    provider.user("mallory")
    rp = provider.rp()
    rp.tokens("ada", scope="openid")
    other = rows(provider, User, username="mallory")[0].id
    response = rp.browser.get(
        rp.authorize_url(claims=claims({"id_token": {"sub": {"value": other, "essential": True}}}))
    )
    assert response.location.startswith(REDIRECT_URI)
    params = parse_qs(urlparse(response.location).query)
    assert params["error"] == ["login_required"] and params["state"] == ["st-123"]
    assert "code" not in params


DEEP = "[" * 3000 + "]" * 3000
MALFORMED = [
    ("not-json", "{name}"),
    ("array", "[]"),
    ("string", '"userinfo"'),
    ("number", "7"),
    ("userinfo-not-object", claims({"userinfo": ["name"]})),
    ("id-token-string", claims({"id_token": "name"})),
    ("claim-spec-string", claims({"userinfo": {"name": "essential"}})),
    ("claim-spec-list", claims({"userinfo": {"name": [True]}})),
    ("essential-string", claims({"userinfo": {"name": {"essential": "true"}}})),
    ("values-not-list", claims({"id_token": {"acr": {"values": "urn:x"}}})),
    ("value-object", claims({"id_token": {"acr": {"value": {"a": 1}}}})),
    ("values-of-objects", claims({"id_token": {"acr": {"values": [{"a": 1}]}}})),
    ("too-large", claims({"userinfo": {"name": None, "x": "y" * 5000}})),
    ("escaped-nul-in-name", '{"userinfo": {"na\\u0000me": null}}'),
    ("escaped-nul-in-value", '{"id_token": {"acr": {"value": "a\\u0000"}}}'),
    ("lone-surrogate", '{"userinfo": {"\\ud800": null}}'),
    ("deeply-nested", '{"userinfo": ' + DEEP[:2000] + DEEP[-2000:] + "}"),
    ("recursion", DEEP[:2000] + DEEP[-2000:]),
]


@pytest.mark.parametrize("value", [v for _, v in MALFORMED], ids=[i for i, _ in MALFORMED])
def test_malformed_claims_is_invalid_request_at_the_client(provider, value):
    provider.user("ada")
    rp = provider.rp()
    response = rp.browser.get(rp.authorize_url(claims=value))
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.location.startswith(REDIRECT_URI)
    params = parse_qs(urlparse(response.location).query)
    assert params["error"] == ["invalid_request"]
    assert params["state"] == ["st-123"]
    assert params["iss"] == [ISSUER]
    assert "code" not in params
    assert not rows(provider, AuthorizationCode)


def test_raw_nul_byte_is_refused_before_anything(provider):
    """The app refuses a NUL in any parameter with an error page, before the client is known."""
    provider.user("ada")
    rp = provider.rp()
    response = rp.browser.get(rp.authorize_url(claims='{"userinfo": {"name": null}}\x00'))
    assert response.status_code == 400
    assert response.location is None
    assert not rows(provider, AuthorizationCode)


def test_claims_twice_is_invalid_request(provider):
    provider.user("ada")
    rp = provider.rp()
    url = rp.authorize_url(claims=claims({"userinfo": {"name": None}}))
    response = rp.browser.get(url + "&claims=" + "%7B%7D")
    params = parse_qs(urlparse(response.location).query)
    assert response.location.startswith(REDIRECT_URI) and params["error"] == ["invalid_request"]


def test_malformed_claims_with_an_unregistered_redirect_uri_is_an_error_page(provider):
    provider.user("ada")
    rp = provider.rp()
    response = rp.browser.get(rp.authorize_url(claims="[", redirect_uri="https://evil.example/"))
    assert response.status_code == 400
    assert "evil.example" not in (response.location or "")


def test_malformed_claims_is_refused_before_the_sign_in_page(provider):
    """A request that reaches the sign-in page without a session is refused before it: the
    user never types a password for a request that cannot succeed."""
    provider.user("ada")
    rp = provider.rp()
    response = rp.sign_in(claims="{")
    assert response.location.startswith(REDIRECT_URI)
    assert "/login" not in response.location


def test_empty_claims_is_no_claims_request(ada):
    provider, user_id = ada
    tokens = provider.rp().tokens("ada", scope="openid", claims="")
    assert userinfo(provider, tokens["access_token"]) == {"sub": user_id}


# --- an essential acr is acr_values --------------------------------------------------------


def _acr_of(rp, response):
    code = rp.code_from(response)
    return rp.verify_id_token(rp.redeem(code).get_json()["id_token"])["acr"]


def _essential_acr(*values: str) -> str:
    return claims({"id_token": {"acr": {"essential": True, "values": list(values)}}})


def test_essential_acr_mfa_challenges_a_user_with_totp(stepup):
    stepup.user()
    secret = stepup.register_totp()
    rp = stepup.browser_rp(LONDON)
    challenge = rp.sign_in(claims=_essential_acr(ACR_MFA, ACR_PASSWORD))
    assert challenge.status_code == 302 and "/mfa/verify" in challenge.location
    passed = submit_code(rp, challenge.location, stepup.code(secret))
    assert _acr_of(rp, rp.browser.get(passed.location)) == ACR_MFA


def test_essential_acr_password_first_does_not_challenge(stepup):
    stepup.user()
    stepup.register_totp()
    rp = stepup.browser_rp(LONDON)
    response = rp.sign_in(claims=_essential_acr(ACR_PASSWORD, ACR_MFA))
    assert _acr_of(rp, response) == ACR_PASSWORD


def test_voluntary_acr_is_only_a_wish(stepup):
    stepup.user()
    stepup.register_totp()
    rp = stepup.browser_rp(LONDON)
    response = rp.sign_in(claims=claims({"id_token": {"acr": {"values": [ACR_MFA]}}}))
    assert _acr_of(rp, response) == ACR_PASSWORD


def test_essential_acr_mfa_without_a_factor_leads_to_registration(stepup_with):
    stepup = stepup_with(lambda s: with_policy(s, "mfa_registration", state="off"))
    stepup.user()
    rp = stepup.browser_rp(LONDON)
    response = rp.sign_in(
        claims=claims({"id_token": {"acr": {"essential": True, "value": ACR_MFA}}})
    )
    assert response.status_code == 302 and "/mfa/register" in response.location
    # The registration page weighs the same request (it would send the browser back if not).
    page = rp.browser.get(response.location)
    assert page.status_code == 200 and "Verification code" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "acr_values, claim_values, expected",
    [
        ("", [], ""),
        (ACR_PASSWORD, [], ACR_PASSWORD),
        (ACR_PASSWORD, [ACR_MFA], ACR_MFA),
        ("", [ACR_MFA, ACR_PASSWORD], f"{ACR_MFA} {ACR_PASSWORD}"),
        (ACR_PASSWORD, ["with space", 7], ACR_PASSWORD),
    ],
    ids=["none", "acr-values-only", "essential-wins", "order-kept", "junk-values-ignored"],
)
def test_requested_acr_values(acr_values, claim_values, expected):
    from idp.claims import requested_acr_values

    raw = _essential_acr(*claim_values) if claim_values else None
    assert requested_acr_values(acr_values, raw) == expected
