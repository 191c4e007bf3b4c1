"""PKCE: S256 required for public clients, verifier checked at the token endpoint."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest


def _error(response):
    assert response.status_code == 302
    return parse_qs(urlparse(response.location).query)


def test_public_client_without_challenge_is_refused(provider):
    provider.user()
    rp = provider.rp(public=True)
    response = rp.browser.get(rp.authorize_url(code_challenge=None, code_challenge_method=None))
    params = _error(response)
    assert params["error"] == ["invalid_request"]
    assert "code_challenge" in params["error_description"][0]


def test_plain_method_is_refused(provider):
    rp = provider.rp(public=True)
    response = rp.browser.get(rp.authorize_url(code_challenge_method="plain"))
    assert _error(response)["error"] == ["invalid_request"]


@pytest.mark.parametrize(
    "verifier, expected",
    [
        (None, "invalid_request"),
        ("x" * 43, "invalid_grant"),
    ],
    ids=["missing-verifier", "wrong-verifier"],
)
def test_bad_verifier_is_refused(provider, verifier, expected):
    provider.user()
    rp = provider.rp(public=True)
    code = rp.code_from(rp.sign_in())
    response = rp.redeem(code, code_verifier=verifier)
    assert response.status_code == 400
    assert response.get_json()["error"] == expected


def test_public_client_with_right_verifier_gets_tokens(provider):
    provider.user()
    rp = provider.rp(public=True)
    tokens = rp.tokens()
    assert rp.verify_id_token(tokens["id_token"])["sub"]


def test_confidential_client_may_skip_pkce(provider):
    provider.user()
    rp = provider.rp()
    code = rp.code_from(rp.sign_in(code_challenge=None, code_challenge_method=None))
    response = rp.redeem(code, code_verifier=None)
    assert response.status_code == 200, response.get_json()


def test_verifier_without_challenge_is_refused(provider):
    provider.user()
    rp = provider.rp()
    code = rp.code_from(rp.sign_in(code_challenge=None, code_challenge_method=None))
    response = rp.redeem(code)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
