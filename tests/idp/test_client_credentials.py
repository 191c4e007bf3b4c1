"""The client credentials grant for machine clients."""

from __future__ import annotations


def test_client_credentials_issue_token(provider):
    rp = provider.rp(grant_types=["client_credentials"], scopes=["idp.admin"], redirect_uris=[])
    response = rp.token_request({"grant_type": "client_credentials", "scope": "idp.admin"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["scope"] == "idp.admin"
    assert "refresh_token" not in body
    assert "id_token" not in body


def test_client_credentials_refused_scope(provider):
    rp = provider.rp(grant_types=["client_credentials"], scopes=["idp.admin"], redirect_uris=[])
    response = rp.token_request({"grant_type": "client_credentials", "scope": "openid email"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"


def test_client_credentials_wrong_secret(provider):
    rp = provider.rp(grant_types=["client_credentials"], scopes=["idp.admin"], redirect_uris=[])
    rp.secret = "wrong"
    response = rp.token_request({"grant_type": "client_credentials"})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_grant_not_allowed_for_client(provider):
    rp = provider.rp()  # authorization_code + refresh_token only
    response = rp.token_request({"grant_type": "client_credentials"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "unauthorized_client"


def test_no_scope_means_registered_scope(provider):
    rp = provider.rp(grant_types=["client_credentials"], scopes=["idp.admin"], redirect_uris=[])
    response = rp.token_request({"grant_type": "client_credentials"})
    assert response.status_code == 200
    assert response.get_json()["scope"] == "idp.admin"


def test_client_without_admin_scope_cannot_request_it(provider):
    rp = provider.rp(grant_types=["client_credentials"], scopes=["reports"], redirect_uris=[])
    response = rp.token_request({"grant_type": "client_credentials", "scope": "idp.admin"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"


def test_token_endpoint_behind_a_tls_terminating_proxy(make_app, settings):
    """The proxy speaks plain http to us with its own Host header; the https issuer decides
    the transport, so the request is served rather than refused as insecure (a 500 before)."""
    from dataclasses import replace

    from tests.conftest import Provider

    provider = Provider(make_app(replace(settings, issuer="https://idp.example")))
    rp = provider.rp(grant_types=["client_credentials"], scopes=["idp.admin"], redirect_uris=[])
    client = provider.app.test_client()
    for host in ("idp.internal:8000", "evil.example"):
        response = client.post(
            "/token",
            base_url=f"http://{host}",
            data={"grant_type": "client_credentials"},
            auth=(rp.client_id, rp.secret),
        )
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["token_type"].lower() == "bearer"
