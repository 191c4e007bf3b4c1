"""RFC 7662 token introspection."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
import sqlalchemy as sa

from idp.models import Client, Token, User
from tests.conftest import ISSUER


def basic(client_id: str, secret: str | None) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def introspect(provider: Any, caller: Any, token: str, **extra: Any) -> Any:
    return provider.app.test_client().post(
        "/introspect",
        data={"token": token, **extra},
        headers=basic(caller.client_id, caller.secret),
    )


def update_token(app: Any, access_token: str, **values: Any) -> None:
    from idp.extensions import db

    with app.app_context():
        db.session.execute(
            sa.update(Token).where(Token.access_token == access_token).values(**values)
        )
        db.session.commit()


@pytest.fixture
def issued(provider: Any) -> tuple[Any, Any, dict[str, Any], str]:
    """A user's tokens for one client, and a separate resource server (a confidential
    client the operator registered)."""
    user_id = provider.user()
    rp = provider.rp()
    tokens = rp.tokens(scope="openid profile offline_access")
    resource_server = provider.rp(
        grant_types=["client_credentials"], redirect_uris=[], scopes=["openid"]
    )
    return rp, resource_server, tokens, user_id


def test_discovery_advertises_introspection(client):
    discovery = client.get("/.well-known/openid-configuration").get_json()
    assert discovery["introspection_endpoint"] == f"{ISSUER}/introspect"
    assert discovery["introspection_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]


def test_active_access_token(provider, issued):
    rp, resource_server, tokens, user_id = issued
    response = introspect(provider, resource_server, tokens["access_token"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["active"] is True
    assert body["client_id"] == rp.client_id and body["aud"] == rp.client_id
    assert body["sub"] == user_id and body["username"] == "alice"
    assert body["token_type"] == "Bearer" and body["iss"] == ISSUER
    assert set(body["scope"].split()) == {"openid", "profile", "offline_access"}
    assert body["iat"] <= time.time() < body["exp"] <= body["iat"] + 3600
    assert body["sid"]


def test_active_refresh_token(provider, issued):
    rp, resource_server, tokens, user_id = issued
    body = introspect(provider, resource_server, tokens["refresh_token"]).get_json()
    assert body["active"] is True and body["sub"] == user_id
    # Not "Bearer": a resource server checking token_type refuses a refresh token.
    assert body["token_type"] == "refresh_token"
    assert body["exp"] > time.time() + 86400


def test_client_introspects_its_own_token_with_client_secret_post(provider, issued):
    rp, _, tokens, _ = issued
    response = provider.app.test_client().post(
        "/introspect",
        data={
            "token": tokens["access_token"],
            "client_id": rp.client_id,
            "client_secret": rp.secret,
        },
    )
    assert response.get_json()["active"] is True


def test_client_credentials_token_has_no_user(provider, issued):
    _, resource_server, _, _ = issued
    machine = provider.rp(
        grant_types=["client_credentials"], redirect_uris=[], scopes=["idp.admin"]
    )
    token = machine.token_request({"grant_type": "client_credentials"}).get_json()
    body = introspect(provider, resource_server, token["access_token"]).get_json()
    assert body["active"] is True and body["client_id"] == machine.client_id
    assert "sub" not in body and "username" not in body


def _revoke_access(provider, rp, tokens):
    provider.app.test_client().post(
        "/revoke", data={"token": tokens["access_token"]}, headers=basic(rp.client_id, rp.secret)
    )


def _revoke_refresh(provider, rp, tokens):
    provider.app.test_client().post(
        "/revoke", data={"token": tokens["refresh_token"]}, headers=basic(rp.client_id, rp.secret)
    )


def _expire_access(provider, rp, tokens):
    update_token(provider.app, tokens["access_token"], issued_at=int(time.time()) - 7200)


def _expire_refresh(provider, rp, tokens):
    update_token(
        provider.app, tokens["access_token"], refresh_token_expires_at=int(time.time()) - 1
    )


def _rotate_refresh(provider, rp, tokens):
    response = rp.token_request(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert response.status_code == 200


def _disable_user(provider, rp, tokens):
    from idp.extensions import db

    with provider.app.app_context():
        db.session.execute(sa.update(User).values(disabled=True))
        db.session.commit()


def _delete_user(provider, rp, tokens):
    from idp.extensions import db

    with provider.app.app_context():
        db.session.execute(sa.delete(User))
        db.session.commit()


def _delete_client(provider, rp, tokens):
    from idp.clients import delete_client, find_client

    with provider.app.app_context():
        delete_client(find_client(rp.client_id))


INACTIVE = [
    (_revoke_access, "access_token"),
    (_revoke_refresh, "access_token"),
    (_revoke_refresh, "refresh_token"),
    (_expire_access, "access_token"),
    (_expire_refresh, "refresh_token"),
    (_rotate_refresh, "refresh_token"),
    (_disable_user, "access_token"),
    (_disable_user, "refresh_token"),
    (_delete_user, "access_token"),
    (_delete_client, "access_token"),
]
INACTIVE_IDS = [
    "revoked-access",
    "grant-revoked-access",
    "revoked-refresh",
    "expired-access",
    "expired-refresh",
    "rotated-refresh",
    "disabled-user-access",
    "disabled-user-refresh",
    "deleted-user",
    "deleted-client",
]


@pytest.mark.parametrize(("make_inactive", "which"), INACTIVE, ids=INACTIVE_IDS)
def test_inactive_tokens_say_only_inactive(provider, issued, make_inactive, which):
    rp, resource_server, tokens, _ = issued
    make_inactive(provider, rp, tokens)
    response = introspect(provider, resource_server, tokens[which])
    assert response.status_code == 200
    assert response.get_json() == {"active": False}


def test_expired_access_token_keeps_its_refresh_token_active(provider, issued):
    rp, resource_server, tokens, _ = issued
    _expire_access(provider, rp, tokens)
    assert introspect(provider, resource_server, tokens["access_token"]).get_json() == {
        "active": False
    }
    assert introspect(provider, resource_server, tokens["refresh_token"]).get_json()["active"]


@pytest.mark.parametrize(
    ("which", "hint", "token_type"),
    [
        ("access_token", "access_token", "Bearer"),
        ("access_token", "refresh_token", "Bearer"),
        ("refresh_token", "refresh_token", "refresh_token"),
        ("refresh_token", "access_token", "refresh_token"),
        ("access_token", "id_token", "Bearer"),
        ("refresh_token", "", "refresh_token"),
    ],
    ids=[
        "access-right-hint",
        "access-wrong-hint",
        "refresh-right-hint",
        "refresh-wrong-hint",
        "unknown-hint",
        "empty-hint",
    ],
)
def test_hint_is_only_a_hint(provider, issued, which, hint, token_type):
    _, resource_server, tokens, _ = issued
    body = introspect(provider, resource_server, tokens[which], token_type_hint=hint).get_json()
    assert body["active"] is True and body["token_type"] == token_type


def test_unknown_token(provider, issued):
    _, resource_server, _, _ = issued
    assert introspect(provider, resource_server, "no-such-token").get_json() == {"active": False}


@pytest.mark.parametrize(
    "auth", ["public", "none", "wrong-secret", "unknown-client", "secret-of-another"]
)
def test_only_authenticated_confidential_clients(provider, issued, auth):
    rp, _, tokens, _ = issued
    public = provider.rp(public=True)
    http = provider.app.test_client()
    data = {"token": tokens["access_token"]}
    headers: dict[str, str] = {}
    if auth == "public":
        data["client_id"] = public.client_id
    elif auth == "wrong-secret":
        headers = basic(rp.client_id, "wrong")
    elif auth == "unknown-client":
        headers = basic("nobody", "x")
    elif auth == "secret-of-another":
        headers = basic(public.client_id, rp.secret)
    response = http.post("/introspect", data=data, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert "active" not in response.get_json()


def test_self_registered_client_sees_only_its_own_tokens(provider, issued):
    """A stranger's client (registration may be open) learns nothing about others' tokens."""
    rp, _, tokens, _ = issued
    from idp.clients import save_client
    from idp.extensions import db

    with provider.app.app_context():
        stranger = save_client(
            "Stranger",
            {
                "redirect_uris": ["https://x.example/cb"],
                "token_endpoint_auth_method": "client_secret_basic",
            },
            "stranger-secret",
            registered_dynamically=True,
        )
        stranger_id = stranger.client_id
        # Its own tokens stay visible to it.
        own = db.session.scalar(sa.select(Token).filter_by(access_token=tokens["access_token"]))
        assert own is not None
    response = provider.app.test_client().post(
        "/introspect",
        data={"token": tokens["access_token"]},
        headers=basic(stranger_id, "stranger-secret"),
    )
    assert response.status_code == 200 and response.get_json() == {"active": False}
    with provider.app.app_context():
        db.session.execute(
            sa.update(Token)
            .where(Token.access_token == tokens["access_token"])
            .values(client_id=stranger_id)
        )
        db.session.commit()
        assert db.session.scalar(sa.select(Client).filter_by(client_id=stranger_id))
    response = provider.app.test_client().post(
        "/introspect",
        data={"token": tokens["access_token"]},
        headers=basic(stranger_id, "stranger-secret"),
    )
    assert response.get_json()["active"] is True


@pytest.mark.parametrize(
    "token",
    [
        "abc\u00e9def",
        "\u2603" * 10,
        "a" * 5000,
        "tok en",
        "tok\ttab",
        "'; DROP TABLE x; --",
        "abc%00def",
    ],
    ids=["latin1", "snowmen", "huge", "space", "tab", "sql", "percent-nul"],
)
def test_malformed_tokens_are_inactive(provider, issued, token):
    _, resource_server, _, _ = issued
    response = introspect(provider, resource_server, token)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"active": False}


def test_invalid_utf8_token_is_inactive(provider, issued):
    _, resource_server, _, _ = issued
    response = provider.app.test_client().post(
        "/introspect",
        data=b"token=%FF%FEab%C3",
        content_type="application/x-www-form-urlencoded",
        headers=basic(resource_server.client_id, resource_server.secret),
    )
    assert response.status_code == 200 and response.get_json() == {"active": False}


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "invalid_request"),
        ({"token": "a\x00b"}, "invalid_request"),
        ({"token_type_hint": "access_token"}, "invalid_request"),
    ],
    ids=["no-token", "nul", "hint-only"],
)
def test_bad_requests(provider, issued, data, error):
    _, resource_server, _, _ = issued
    response = provider.app.test_client().post(
        "/introspect", data=data, headers=basic(resource_server.client_id, resource_server.secret)
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == error


def test_two_tokens_is_invalid_request(provider, issued):
    _, resource_server, tokens, _ = issued
    response = provider.app.test_client().post(
        "/introspect",
        data={"token": [tokens["access_token"], tokens["refresh_token"]]},
        headers=basic(resource_server.client_id, resource_server.secret),
    )
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_get_and_query_string_are_refused(provider, issued):
    _, resource_server, tokens, _ = issued
    http = provider.app.test_client()
    headers = basic(resource_server.client_id, resource_server.secret)
    assert (
        http.get(f"/introspect?token={tokens['access_token']}", headers=headers).status_code == 405
    )
    response = http.post(f"/introspect?token={tokens['access_token']}", headers=headers)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_introspection_never_logs_tokens(provider, issued, caplog):
    _, resource_server, tokens, _ = issued
    caplog.set_level("DEBUG")
    introspect(provider, resource_server, tokens["access_token"])
    introspect(provider, resource_server, tokens["refresh_token"])
    for value in (tokens["access_token"], tokens["refresh_token"], resource_server.secret):
        assert value not in caplog.text
