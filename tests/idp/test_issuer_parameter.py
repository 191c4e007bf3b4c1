"""RFC 9207: every authorization response to the client names the issuer in `iss`."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.conftest import ISSUER, REDIRECT_URI


def _params(response):
    assert response.status_code == 302, response.get_data(as_text=True)
    return parse_qs(urlparse(response.location).query)


def test_discovery_advertises_the_iss_parameter(client):
    doc = client.get("/.well-known/openid-configuration").get_json()
    assert doc["authorization_response_iss_parameter_supported"] is True


def test_rfc9207_code_response_carries_iss_once(provider):
    provider.user()
    rp = provider.rp()
    response = rp.sign_in()
    params = _params(response)
    assert params["iss"] == [ISSUER]
    assert params["state"] == ["st-123"] and params["code"]
    # The client still redeems the code as before.
    assert rp.redeem(params["code"][0]).status_code == 200


def test_rfc9207_sso_code_response_carries_iss(provider):
    provider.user()
    rp = provider.rp()
    rp.tokens()
    assert _params(rp.browser.get(rp.authorize_url()))["iss"] == [ISSUER]


@pytest.mark.parametrize(
    "extra, error",
    [
        ({"prompt": "none"}, "login_required"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "openid nonsense"}, "invalid_scope"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"request": "e30.e30."}, "request_not_supported"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
    ],
    ids=[
        "login-required",
        "response-type",
        "scope",
        "max-age",
        "prompt",
        "request-object",
        "pkce-plain",
    ],
)
def test_rfc9207_error_responses_carry_iss(provider, extra, error):
    rp = provider.rp()
    params = _params(rp.browser.get(rp.authorize_url(**extra)))
    assert params["error"] == [error]
    assert params["iss"] == [ISSUER]
    assert params["state"] == ["st-123"]


def test_rfc9207_policy_error_with_prompt_none_carries_iss(provider):
    """An interaction the client forbade (prompt=none) goes back with iss too."""
    provider.user()
    rp = provider.rp()
    rp.tokens()
    response = rp.browser.get(rp.authorize_url(prompt="none login"))
    assert _params(response)["iss"] == [ISSUER]


def test_rfc9207_iss_is_added_to_a_redirect_uri_with_a_query(provider):
    uri = REDIRECT_URI + "?tenant=a"
    provider.user()
    rp = provider.rp(redirect_uris=[uri])
    response = rp.browser.get(rp.authorize_url(redirect_uri=uri))
    assert "/login" in response.location
    response = rp.submit_login(response.location, "alice", "correct horse battery")
    assert response.location.startswith(REDIRECT_URI + "?")
    params = _params(response)
    assert params["tenant"] == ["a"] and params["iss"] == [ISSUER] and params["code"]


def test_a_client_supplied_iss_is_not_echoed(provider):
    """The request's own `iss` is no authorization parameter: only ours comes back."""
    provider.user()
    rp = provider.rp()
    params = _params(rp.sign_in(iss="https://evil.example"))
    assert params["iss"] == [ISSUER]


def test_error_pages_redirect_nowhere(provider):
    rp = provider.rp()
    response = rp.browser.get(rp.authorize_url(redirect_uri="https://evil.example/cb"))
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_logout_redirect_has_no_iss(provider):
    """Only authorization responses carry iss; the post-logout redirect is not one."""
    provider.user()
    rp = provider.rp(post_logout=["https://rp.example/bye"])
    tokens = rp.tokens()
    response = rp.browser.get(
        f"/logout?id_token_hint={tokens['id_token']}"
        "&post_logout_redirect_uri=https://rp.example/bye&state=s1"
    )
    assert response.status_code == 302
    assert "iss" not in parse_qs(urlparse(response.location).query)
