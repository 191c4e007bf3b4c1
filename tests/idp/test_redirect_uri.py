"""An unregistered redirect_uri is never redirected to."""

from __future__ import annotations

import pytest


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
