"""The authorization code flow end to end, with the ID token checked by PyJWT."""

from __future__ import annotations

import time

from tests.conftest import ISSUER, REDIRECT_URI


def test_oidcc_discovery_endpoint_verification(client):
    doc = client.get("/.well-known/openid-configuration").get_json()
    assert doc["issuer"] == ISSUER
    for key, path in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks.json"),
        ("revocation_endpoint", "/revoke"),
        ("end_session_endpoint", "/logout"),
    ]:
        assert doc[key] == ISSUER + path
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]


def test_oidcc_server(provider):
    user_id = provider.user("alice", email="alice@example.org")
    rp = provider.rp()
    tokens = rp.tokens()
    assert tokens["token_type"].lower() == "bearer"
    assert tokens["refresh_token"]
    claims = rp.verify_id_token(tokens["id_token"])
    assert claims["sub"] == user_id
    assert claims["iss"] == ISSUER
    assert claims["aud"] == rp.client_id or claims["aud"] == [rp.client_id]
    assert claims["nonce"] == rp.nonce
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] == "urn:idp:acr:password"
    assert claims["sid"]
    assert abs(claims["auth_time"] - time.time()) < 60
    assert claims["exp"] > claims["iat"]
    assert claims["email"] == "alice@example.org"
    assert "at_hash" in claims


def test_oidcc_server_client_secret_post(provider):
    provider.user()
    rp = provider.rp()
    code = rp.code_from(rp.sign_in())
    response = rp.token_request(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": rp.verifier,
        },
        auth="post",
    )
    assert response.status_code == 200, response.get_json()


def test_userinfo_get_and_post(provider):
    user_id = provider.user("alice", email="alice@example.org")
    rp = provider.rp()
    access = rp.tokens()["access_token"]
    http = provider.app.test_client()
    got = http.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
    posted = http.post("/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert got.status_code == posted.status_code == 200
    assert got.get_json()["sub"] == posted.get_json()["sub"] == user_id
    assert got.get_json()["preferred_username"] == "alice"


def test_userinfo_without_token_is_401(client):
    response = client.get("/userinfo")
    assert response.status_code == 401
    assert response.get_json()["error"] in ("missing_authorization", "invalid_token")


def test_sso_session_reused_without_password(provider):
    provider.user()
    rp = provider.rp()
    rp.tokens()
    # Same browser, second authorization: no sign-in page.
    response = rp.browser.get(rp.authorize_url())
    assert rp.code_from(response)


def test_discovery_answers_304_to_its_etag(client):
    first = client.get("/.well-known/openid-configuration")
    assert first.status_code == 200 and first.mimetype == "application/json"
    etag = first.headers["ETag"]
    again = client.get("/.well-known/openid-configuration", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    assert client.get("/.well-known/openid-configuration").get_json() == first.get_json()
