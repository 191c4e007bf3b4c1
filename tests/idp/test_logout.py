"""RP-initiated logout ends the SSO session everywhere and revokes its tokens."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from tests.conftest import csrf_from


def test_logout_with_id_token_hint_redirects_and_revokes(provider):
    provider.user()
    rp = provider.rp(post_logout=["https://rp.example/bye"])
    tokens = rp.tokens()
    response = rp.browser.get(
        "/logout?"
        + "&".join(
            [
                f"id_token_hint={tokens['id_token']}",
                "post_logout_redirect_uri=https://rp.example/bye",
                "state=s1",
            ]
        )
    )
    assert response.status_code == 302
    assert response.location.startswith("https://rp.example/bye")
    assert parse_qs(urlparse(response.location).query)["state"] == ["s1"]
    # The browser must sign in again, and the tokens of that session are dead.
    again = rp.browser.get(rp.authorize_url())
    assert "/login" in again.location
    http = provider.app.test_client()
    me = http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 401
    refresh = rp.token_request(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 400


def test_logout_without_hint_asks_for_confirmation(provider):
    provider.user()
    rp = provider.rp(post_logout=["https://rp.example/bye"])
    rp.tokens()
    page = rp.browser.get("/logout?post_logout_redirect_uri=https://rp.example/bye")
    assert page.status_code == 200
    assert "Sign out?" in page.get_data(as_text=True)
    # Still signed in until confirmed.
    assert rp.code_from(rp.browser.get(rp.authorize_url()))
    done = rp.browser.post("/logout", data={"csrf_token": csrf_from(page), "confirm": "yes"})
    assert done.status_code == 200
    assert "/login" in rp.browser.get(rp.authorize_url()).location


def test_unregistered_post_logout_uri_is_not_followed(provider):
    provider.user()
    rp = provider.rp(post_logout=["https://rp.example/bye"])
    tokens = rp.tokens()
    response = rp.browser.get(
        f"/logout?id_token_hint={tokens['id_token']}&post_logout_redirect_uri=https://evil.example/"
    )
    assert response.status_code == 200
    assert "Location" not in response.headers


def test_logout_session_is_shared_across_workers(provider, make_app, settings):
    """A second app on the same database (another worker) sees the session as ended."""
    provider.user()
    rp = provider.rp()
    tokens = rp.tokens()
    worker2 = make_app().test_client()
    cookie = rp.browser.get_cookie("idp_session")
    worker2.set_cookie("idp_session", cookie.value, domain=cookie.domain)
    rp.browser.get(f"/logout?id_token_hint={tokens['id_token']}")
    response = worker2.get(rp.authorize_url())
    assert "/login" in response.location


def test_garbage_id_token_hint_is_an_error_page(client):
    response = client.get("/logout?id_token_hint=not.a.jwt")
    assert response.status_code == 400
    assert "Location" not in response.headers
