"""Who may call the admin API: client-credentials tokens with idp.admin, and nobody else."""

from __future__ import annotations

import base64
import time

import pytest
import sqlalchemy as sa

from idp.models import Token
from idp.views.api.openapi import document
from tests.idp.test_api_support import API, AdminApi

# Every operation of the document except the document itself, with its path made concrete.
OPERATIONS = sorted(
    (method.upper(), path.replace("{id}", "00000000-0000-0000-0000-000000000000"))
    for path, item in document()["paths"].items()
    for method in item
    if path != "/openapi.json"
)


def _call(http, method, path, headers):
    return http.open(API + path, method=method, headers=headers, json={})


def _assert_challenge(response, status, error):
    assert response.status_code == status, (response.status_code, response.get_data())
    assert response.get_json()["error"] == error
    assert response.get_json()["error_description"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert response.headers["Cache-Control"] == "no-store"


def test_every_operation_needs_a_token(provider):
    http = provider.app.test_client()
    for method, path in OPERATIONS:
        response = _call(http, method, path, {})
        _assert_challenge(response, 401, "missing_authorization")
        assert "error=" not in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not-a-token",
        "Bearer ",
        "Basic " + base64.b64encode(b"user:pass").decode(),
        "Bearer with\x00nul",
    ],
    ids=["unknown", "empty", "basic", "nul"],
)
def test_bad_tokens_are_401(provider, authorization):
    http = provider.app.test_client()
    for method, path in OPERATIONS:
        response = _call(http, method, path, {"Authorization": authorization})
        assert response.status_code == 401, (method, path, response.get_data())
        assert response.is_json
        assert response.headers["WWW-Authenticate"].startswith("Bearer ")


def test_expired_token_is_401(provider):
    admin = AdminApi(provider)
    with provider.app.app_context():
        from idp.extensions import db

        db.session.execute(
            sa.update(Token)
            .where(Token.access_token == admin.token)
            .values(issued_at=int(time.time()) - 86400)
        )
        db.session.commit()
    response = admin.get("/identityProtection/riskyUsers")
    _assert_challenge(response, 401, "invalid_token")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_revoked_token_is_401(provider):
    admin = AdminApi(provider)
    assert admin.get("/identityProtection/riskyUsers").status_code == 200
    raw = f"{admin.client_id}:{admin.secret}".encode()
    revoked = provider.app.test_client().post(
        "/revoke",
        data={"token": admin.token},
        headers={"Authorization": "Basic " + base64.b64encode(raw).decode()},
    )
    assert revoked.status_code == 200
    _assert_challenge(admin.get("/identityProtection/riskyUsers"), 401, "invalid_token")


def test_client_token_without_admin_scope_is_403(provider):
    reports = AdminApi(provider, scopes=("reports",))
    http = provider.app.test_client()
    for method, path in OPERATIONS:
        response = _call(http, method, path, reports.headers())
        _assert_challenge(response, 403, "insufficient_scope")


def test_user_access_token_is_403(provider):
    provider.user()
    tokens = provider.rp().tokens()
    response = provider.app.test_client().get(
        API + "/identityProtection/riskyUsers",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    _assert_challenge(response, 403, "insufficient_scope")


def test_user_token_carrying_admin_scope_is_still_403(provider):
    # Even when a user's token was issued with idp.admin, the actor would be the user.
    from idp.extensions import db

    provider.user()
    tokens = provider.rp().tokens()
    with provider.app.app_context():
        db.session.execute(
            sa.update(Token)
            .where(Token.access_token == tokens["access_token"])
            .values(scope="openid idp.admin")
        )
        db.session.commit()
    response = provider.app.test_client().get(
        API + "/identityProtection/riskyUsers",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    _assert_challenge(response, 403, "insufficient_scope")
    assert "client credentials" in response.get_json()["error_description"]


def test_openapi_is_public_and_describes_the_security(provider):
    response = provider.app.test_client().get(API + "/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.")
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A client-credentials access token with scope idp.admin.",
    }
    assert doc["paths"]["/openapi.json"]["get"]["security"] == []
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if path != "/openapi.json":
                assert {"401", "403"} <= set(operation["responses"]), (method, path)


def test_unknown_api_path_and_method_are_json(provider):
    admin = AdminApi(provider)
    missing = admin.get("/identityProtection/nothingHere")
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"
    wrong = admin.http.delete(API + "/identityProtection/riskyUsers", headers=admin.headers())
    assert wrong.status_code == 405 and wrong.get_json()["error"] == "method_not_allowed"
