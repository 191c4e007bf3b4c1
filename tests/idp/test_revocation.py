"""RFC 7009 token revocation."""

from __future__ import annotations

import base64


def _basic(rp):
    raw = f"{rp.client_id}:{rp.secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def test_revoking_access_token(provider):
    provider.user()
    rp = provider.rp()
    tokens = rp.tokens()
    http = provider.app.test_client()
    response = http.post("/revoke", data={"token": tokens["access_token"]}, headers=_basic(rp))
    assert response.status_code == 200
    me = http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 401


def test_revoking_refresh_token_revokes_grant(provider):
    provider.user()
    rp = provider.rp()
    tokens = rp.tokens()
    http = provider.app.test_client()
    response = http.post(
        "/revoke",
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        headers=_basic(rp),
    )
    assert response.status_code == 200
    me = http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 401
    refresh = rp.token_request(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 400


def test_unknown_token_is_200(provider):
    rp = provider.rp()
    response = provider.app.test_client().post(
        "/revoke", data={"token": "nope"}, headers=_basic(rp)
    )
    assert response.status_code == 200


def test_revocation_needs_client_auth(provider):
    provider.user()
    rp = provider.rp()
    tokens = rp.tokens()
    response = provider.app.test_client().post("/revoke", data={"token": tokens["access_token"]})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
