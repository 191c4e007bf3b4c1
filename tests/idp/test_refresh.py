"""Refresh tokens rotate; a replayed one revokes the whole family."""

from __future__ import annotations

import base64
import re


def _refresh(rp, token, ip=None):
    return rp.token_request({"grant_type": "refresh_token", "refresh_token": token}, ip=ip)


def test_oidcc_refresh_token(provider):
    provider.user()
    rp = provider.rp()
    tokens = rp.tokens()
    response = _refresh(rp, tokens["refresh_token"])
    assert response.status_code == 200, response.get_json()
    new = response.get_json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert new["access_token"] != tokens["access_token"]
    # The access token issued with the rotated refresh token ends with it.
    http = provider.app.test_client()
    for access, status in ((tokens["access_token"], 401), (new["access_token"], 200)):
        me = http.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
        assert me.status_code == status
    assert _refresh(rp, new["refresh_token"]).status_code == 200


def test_replayed_refresh_token_revokes_family(provider):
    provider.user()
    rp = provider.rp()
    tokens = rp.tokens()
    rotated = _refresh(rp, tokens["refresh_token"]).get_json()
    # The stolen copy, presented from elsewhere.
    replay = _refresh(rp, tokens["refresh_token"], ip="198.51.100.20")
    assert replay.status_code == 400
    assert replay.get_json()["error"] == "invalid_grant"
    # The legitimate holder's newer tokens are gone too.
    assert _refresh(rp, rotated["refresh_token"]).status_code == 400
    http = provider.app.test_client()
    me = http.get("/userinfo", headers={"Authorization": f"Bearer {rotated['access_token']}"})
    assert me.status_code == 401


def test_refresh_token_bound_to_client(provider):
    provider.user()
    rp = provider.rp()
    other = provider.rp()
    tokens = rp.tokens()
    response = _refresh(other, tokens["refresh_token"])
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def test_refresh_cannot_widen_scope(provider):
    provider.user()
    rp = provider.rp()
    tokens = rp.tokens(scope="openid")
    response = rp.token_request(
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "scope": "openid email",
        }
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"


def test_a_client_racing_itself_is_not_theft(provider, monkeypatch):
    """Two tabs refresh at once: the loser gets invalid_grant, and nothing is revoked."""
    provider.user()
    rp = provider.rp()
    tokens = rp.tokens()
    rotated = _refresh(rp, tokens["refresh_token"]).get_json()
    lost = _refresh(rp, tokens["refresh_token"])
    assert lost.status_code == 400 and lost.get_json()["error"] == "invalid_grant"
    assert _refresh(rp, rotated["refresh_token"]).status_code == 200
    # The same presentation after the race window is a replay.
    monkeypatch.setattr("idp.oauth.REFRESH_RACE_SECONDS", -1)
    assert _refresh(rp, rotated["refresh_token"]).status_code == 400
    assert _refresh(rp, tokens["refresh_token"]).status_code == 400


def test_codes_and_tokens_are_256_random_bits_each_new(provider):
    provider.user()
    rp = provider.rp()
    code = rp.code_from(rp.sign_in())
    tokens = rp.redeem(code).get_json()
    rotated = _refresh(rp, tokens["refresh_token"]).get_json()
    values = [code, tokens["access_token"], tokens["refresh_token"]]
    values += [rotated["access_token"], rotated["refresh_token"]]
    for value in values:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value), value
        assert len(base64.urlsafe_b64decode(value + "=")) == 32
    assert len(set(values)) == len(values)
