"""Malformed requests get the protocol's error and status, never a 500."""

from __future__ import annotations

import base64

import pytest


@pytest.mark.parametrize(
    "data, error",
    [
        ({}, "unsupported_grant_type"),
        ({"grant_type": "password", "username": "a", "password": "b"}, "unsupported_grant_type"),
        ({"grant_type": "authorization_code"}, "invalid_request"),
        (
            {"grant_type": "authorization_code", "code": "nope", "redirect_uri": "x"},
            "invalid_grant",
        ),
        ({"grant_type": "refresh_token"}, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "nope"}, "invalid_grant"),
    ],
    ids=["no-grant", "ropc", "no-code", "bad-code", "no-refresh", "bad-refresh"],
)
def test_token_endpoint_errors(provider, data, error):
    rp = provider.rp()
    response = rp.token_request(data)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] == error


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Basic !!!notbase64"},
        {"Authorization": "Basic " + base64.b64encode(b"nocolon").decode()},
        {"Authorization": "Basic " + base64.b64encode(b"unknown:secret").decode()},
        {"Authorization": "Bearer something"},
    ],
    ids=["bad-base64", "no-colon", "unknown-client", "wrong-scheme"],
)
def test_bad_client_auth(client, headers):
    response = client.post("/token", data={"grant_type": "client_credentials"}, headers=headers)
    assert response.status_code in (400, 401)
    assert response.get_json()["error"] in ("invalid_client", "invalid_request")


def test_garbage_json_body(client):
    response = client.post("/token", data=b"{not json", content_type="application/json")
    assert response.status_code == 400
    assert "error" in response.get_json()


def test_token_endpoint_get_is_405_json(client):
    response = client.get("/token")
    assert response.status_code == 405
    assert response.get_json()["error"] == "method_not_allowed"


@pytest.mark.parametrize(
    "query",
    [
        "",
        "client_id=x",
        "response_type=code",
        "response_type=token&client_id=x",
        "client_id=%00%ff&response_type=code",
    ],
    ids=["empty", "no-response-type", "no-client", "implicit", "binary"],
)
def test_authorize_garbage_is_a_page_not_a_500(client, query):
    response = client.get("/authorize?" + query)
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_unsupported_response_type_for_known_client_redirects_with_error(provider):
    rp = provider.rp()
    response = rp.browser.get(rp.authorize_url(response_type="token"))
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert response.location.startswith("https://rp.example/cb")
        assert "error=unsupported_response_type" in response.location


def test_invalid_scope_redirects_with_error(provider):
    rp = provider.rp(scopes=["openid"])
    response = rp.browser.get(rp.authorize_url(scope="openid admin-everything"))
    assert response.status_code == 302
    assert "error=invalid_scope" in response.location


def test_login_post_without_csrf_is_400(provider):
    provider.user()
    rp = provider.rp()
    login = rp.browser.get(rp.authorize_url()).location
    response = rp.browser.post(login, data={"username": "alice", "password": "x"})
    assert response.status_code == 400


def test_login_with_unknown_flow(client):
    response = client.get("/login?flow=nope")
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)


def test_unknown_path_is_404_page(client):
    response = client.get("/nope")
    assert response.status_code == 404
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize("path, data", [
    ("/token", {"grant_type": "refresh_token", "refresh_token": "a\x00b"}),
    ("/revoke", {"token": "a\x00b"}),
], ids=["token", "revoke"])
def test_nul_bytes_in_form_are_400(client, path, data):
    response = client.post(path, data=data)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_nul_byte_in_username_is_400(provider):
    rp = provider.rp()
    login = rp.browser.get(rp.authorize_url()).location
    from tests.conftest import csrf_from

    page = rp.browser.get(login)
    response = rp.browser.post(login, data={"csrf_token": csrf_from(page),
                                            "username": "al\x00ice", "password": "x"})
    assert response.status_code == 400


def test_json_405_says_allow(client):
    response = client.get("/revoke")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert response.get_json()["error"] == "method_not_allowed"
