"""An unregistered redirect_uri is never redirected to."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.conftest import REDIRECT_URI


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example/cb",
        "https://rp.example/cb/extra",
        "https://rp.example/cb?x=1",
        "javascript:alert(1)",
    ],
    ids=["other-host", "longer-path", "added-query", "javascript"],
)
def test_unregistered_redirect_uri_shows_page(provider, uri):
    rp = provider.rp()
    response = rp.browser.get(rp.authorize_url(redirect_uri=uri))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "not valid" in response.get_data(as_text=True)


def test_unknown_client_shows_page(provider):
    rp = provider.rp()
    rp.client_id = "no-such-client"
    response = rp.browser.get(rp.authorize_url())
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_redirect_uri_mismatch_at_token_endpoint(provider):
    provider.user()
    rp = provider.rp(redirect_uris=["https://rp.example/cb", "https://rp.example/other"])
    code = rp.code_from(rp.sign_in())
    response = rp.redeem(code, redirect_uri="https://rp.example/other")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


OTHER_URI = "https://rp.example/other"


def _params(response):
    return parse_qs(urlparse(response.location).query)


def _assert_missing_redirect_uri_page(response):
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "Location" not in response.headers
    page = response.get_data(as_text=True)
    assert "redirect_uri" in page and "several redirect URIs" in page


def test_oidcc_ensure_registered_redirect_uri(provider):
    """A registered URI with a query added is another URI: the page, not a redirect."""
    provider.user()
    rp = provider.rp()
    rp.tokens()
    response = rp.browser.get(rp.authorize_url(redirect_uri=REDIRECT_URI + "?added=1"))
    assert response.status_code == 400
    assert "Location" not in response.headers


@pytest.mark.parametrize("signed_in", [False, True], ids=["no-session", "sso-session"])
@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"prompt": "none"},
        {"response_type": "token"},
        {"scope": "openid nonsense"},
        {"max_age": "x"},
    ],
    ids=["plain", "prompt-none", "bad-response-type", "bad-scope", "bad-max-age"],
)
def test_several_registered_uris_and_none_sent_is_an_error_page(provider, signed_in, extra):
    """Never a code, nor an error, at the first URI: the client did not say which it meant."""
    provider.user()
    rp = provider.rp(redirect_uris=[REDIRECT_URI, OTHER_URI])
    if signed_in:
        rp.tokens()
    response = rp.browser.get(rp.authorize_url(redirect_uri=None, **extra))
    assert response.status_code == 400, response.location
    assert "Location" not in response.headers
    if not extra:
        _assert_missing_redirect_uri_page(response)


def test_several_registered_uris_and_an_empty_one_sent_is_an_error_page(provider):
    provider.user()
    rp = provider.rp(redirect_uris=[REDIRECT_URI, OTHER_URI])
    rp.tokens()
    _assert_missing_redirect_uri_page(rp.browser.get(rp.authorize_url(redirect_uri="")))


def test_several_registered_uris_and_one_named_issues_the_code_there(provider):
    provider.user()
    rp = provider.rp(redirect_uris=[REDIRECT_URI, OTHER_URI])
    response = rp.sign_in(redirect_uri=OTHER_URI)
    assert response.status_code == 302
    assert response.location.startswith(OTHER_URI + "?")
    code = _params(response)["code"][0]
    assert rp.redeem(code, redirect_uri=OTHER_URI).status_code == 200


def test_redirect_uri_sent_twice_is_an_error_page(provider):
    provider.user()
    rp = provider.rp(redirect_uris=[REDIRECT_URI, OTHER_URI])
    rp.tokens()
    response = rp.browser.get(rp.authorize_url() + "&redirect_uri=https%3A%2F%2Frp.example%2Fother")
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_sole_registered_uri_may_be_left_out_of_a_plain_oauth_request(provider):
    """OAuth 2.0 §3.1.2.3: with one registered URI the request may omit it."""
    provider.user()
    rp = provider.rp()
    response = rp.sign_in(redirect_uri=None, scope="profile")
    code = rp.code_from(response)
    tokens = rp.redeem(code, redirect_uri=None)
    assert tokens.status_code == 200, tokens.get_json()
    assert "id_token" not in tokens.get_json()


@pytest.mark.parametrize("signed_in", [False, True], ids=["no-session", "sso-session"])
def test_oidcc_ensure_redirect_uri_in_authorization_request(provider, signed_in):
    """OpenID Connect Core 3.1.2.1: an OpenID request names its redirect URI, even for a
    client with one registered; the answer is a page, never a redirect."""
    provider.user()
    rp = provider.rp()
    if signed_in:
        rp.tokens()
    response = rp.browser.get(rp.authorize_url(redirect_uri=None))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "must name one of the application" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "uri", ["https://rp.example/cb\x00", "https://rp.example/\u00e9"], ids=["nul", "non-ascii"]
)
def test_malformed_redirect_uri_is_a_page(provider, uri):
    rp = provider.rp()
    response = rp.browser.get(rp.authorize_url(redirect_uri=uri))
    assert response.status_code == 400
    assert "Location" not in response.headers
