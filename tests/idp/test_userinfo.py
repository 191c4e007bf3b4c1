"""The userinfo endpoint: the bearer token in the header or a form body (RFC 6750 §2.1, §2.2)."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from idp.models import Token

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def signed_in(provider):
    """An HTTP client, the user's id and a fresh access token with scope openid."""
    user_id = provider.user("alice", email="alice@example.org")
    tokens = provider.rp().tokens()
    return provider.app.test_client(), user_id, tokens["access_token"]


def _bare_challenge(response):
    assert response.status_code == 401, response.get_data(as_text=True)
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer")
    assert "error" not in challenge


def _invalid_token(response):
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.get_json()["error"] == "invalid_token"


def _invalid_request(response):
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] == "invalid_request"
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]


def test_oidcc_userinfo_get(signed_in):
    http, user_id, access = signed_in
    response = http.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert response.status_code == 200
    assert response.get_json()["sub"] == user_id


def test_oidcc_userinfo_post_header(signed_in):
    http, user_id, access = signed_in
    response = http.post("/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert response.status_code == 200
    assert response.get_json()["sub"] == user_id


def test_oidcc_userinfo_post_body(signed_in):
    http, user_id, access = signed_in
    response = http.post("/userinfo", data={"access_token": access})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["sub"] == user_id
    assert response.get_json()["email"] == "alice@example.org"


def test_token_in_header_and_body_is_invalid_request(signed_in):
    http, _, access = signed_in
    response = http.post(
        "/userinfo", data={"access_token": access}, headers={"Authorization": f"Bearer {access}"}
    )
    _invalid_request(response)


def test_token_in_body_beside_another_scheme_is_invalid_request(signed_in):
    http, _, access = signed_in
    response = http.post(
        "/userinfo", data={"access_token": access}, headers={"Authorization": "Basic dXNlcjpwYXNz"}
    )
    _invalid_request(response)


def test_token_twice_in_body_is_invalid_request(signed_in):
    http, _, access = signed_in
    response = http.post(
        "/userinfo", data=f"access_token={access}&access_token={access}", content_type=FORM
    )
    _invalid_request(response)


@pytest.mark.parametrize(
    "call",
    [
        lambda http: http.get("/userinfo"),
        lambda http: http.post("/userinfo"),
        lambda http: http.post("/userinfo", data={"other": "x"}),
        lambda http: http.get("/userinfo", headers={"Authorization": ""}),
        lambda http: http.get("/userinfo", headers={"Authorization": "Basic dXNlcjpwYXNz"}),
    ],
    ids=["get", "post", "post-form-without-token", "empty-header", "basic-scheme"],
)
def test_no_bearer_token_is_401_without_error(client, call):
    """RFC 6750 §3.1: no authentication at all gets the bare challenge, no error code."""
    _bare_challenge(call(client))


def test_token_in_query_is_not_accepted(signed_in):
    """RFC 6750 §2.3 (URI query) is not offered: such a request carries no token we read."""
    http, _, access = signed_in
    _bare_challenge(http.get(f"/userinfo?access_token={access}"))
    _bare_challenge(http.post(f"/userinfo?access_token={access}"))


def test_token_in_a_json_body_is_not_accepted(signed_in):
    http, _, access = signed_in
    _bare_challenge(http.post("/userinfo", json={"access_token": access}))


@pytest.mark.parametrize(
    "token",
    ["not-a-token", "", "with space", "bad\u00e9", "x" * 5000],
    ids=["unknown", "empty", "space", "non-ascii", "huge"],
)
def test_bad_token_in_header_or_body_is_invalid_token(client, token):
    _invalid_token(client.get("/userinfo", headers={"Authorization": f"Bearer {token}"}))
    _invalid_token(client.post("/userinfo", data={"access_token": token}))


def test_nul_in_header_token_is_invalid_token_not_500(client):
    _invalid_token(client.get("/userinfo", headers={"Authorization": "Bearer a\x00b"}))


def test_nul_in_body_token_is_a_400_not_500(client):
    response = client.post("/userinfo", data={"access_token": "a\x00b"})
    assert response.status_code == 400


def test_expired_token_is_invalid_token_in_header_and_body(provider, signed_in):
    http, _, access = signed_in
    with provider.app.app_context():
        from idp.extensions import db

        db.session.execute(
            sa.update(Token)
            .where(Token.access_token == access)
            .values(issued_at=int(time.time()) - 86400)
        )
        db.session.commit()
    _invalid_token(http.get("/userinfo", headers={"Authorization": f"Bearer {access}"}))
    _invalid_token(http.post("/userinfo", data={"access_token": access}))


def test_revoked_token_in_body_is_invalid_token(provider, signed_in):
    http, _, access = signed_in
    with provider.app.app_context():
        from idp.extensions import db

        db.session.execute(
            sa.update(Token)
            .where(Token.access_token == access)
            .values(access_token_revoked_at=int(time.time()))
        )
        db.session.commit()
    _invalid_token(http.post("/userinfo", data={"access_token": access}))


def test_lowercase_bearer_scheme_is_accepted(signed_in):
    http, user_id, access = signed_in
    response = http.get("/userinfo", headers={"Authorization": f"bearer {access}"})
    assert response.status_code == 200
    assert response.get_json()["sub"] == user_id


def test_tokens_take_their_times_from_the_app_clock(make_app, settings):
    """Issue and expiry times come from the app clock, not the wall clock: a token issued
    under a frozen clock carries that clock's iat, and ends when that clock passes its expiry."""
    from datetime import UTC, datetime

    from idp.clock import FrozenClock
    from idp.extensions import db
    from tests.conftest import Provider

    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    clock = FrozenClock(start)
    provider = Provider(make_app(clock=clock))
    provider.user("alice")
    rp = provider.rp()
    tokens = rp.tokens()
    issued = int(start.timestamp())
    claims = rp.verify_id_token(tokens["id_token"])
    assert claims["iat"] == claims["auth_time"] == issued
    assert claims["exp"] == issued + settings.tokens.id_token_lifetime_seconds
    with provider.app.app_context():
        row = db.session.scalar(sa.select(Token).filter_by(access_token=tokens["access_token"]))
        assert (row.issued_at, row.expires_in) == (issued, tokens["expires_in"])
        db.session.remove()

    http = provider.app.test_client()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    clock.advance(seconds=tokens["expires_in"] - 1)
    assert http.get("/userinfo", headers=bearer).status_code == 200
    clock.advance(seconds=2)
    _invalid_token(http.get("/userinfo", headers=bearer))


@pytest.mark.parametrize("where", ["header", "body"])
def test_a_token_of_no_user_is_invalid_token_not_500(provider, where):
    """A client-credentials token speaks for the client alone: userinfo has nobody to
    describe, even when the client was registered with (and so given) openid."""
    rp = provider.rp(grant_types=["client_credentials"], scopes=["openid", "email"])
    response = rp.token_request({"grant_type": "client_credentials", "scope": "openid email"})
    assert response.status_code == 200, response.get_json()
    access = response.get_json()["access_token"]
    http = provider.app.test_client()
    if where == "header":
        answer = http.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
    else:
        answer = http.post("/userinfo", data={"access_token": access}, content_type=FORM)
    _invalid_token(answer)
