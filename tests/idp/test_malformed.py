"""Malformed requests get the protocol's error and status, never a 500."""

from __future__ import annotations

import base64
import logging

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


@pytest.mark.parametrize(
    "path, data",
    [
        ("/token", {"grant_type": "refresh_token", "refresh_token": "a\x00b"}),
        ("/revoke", {"token": "a\x00b"}),
    ],
    ids=["token", "revoke"],
)
def test_nul_bytes_in_form_are_400(client, path, data):
    response = client.post(path, data=data)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_nul_byte_in_username_is_400(provider):
    rp = provider.rp()
    login = rp.browser.get(rp.authorize_url()).location
    from tests.conftest import csrf_from

    page = rp.browser.get(login)
    response = rp.browser.post(
        login, data={"csrf_token": csrf_from(page), "username": "al\x00ice", "password": "x"}
    )
    assert response.status_code == 400


def test_json_405_says_allow(client):
    response = client.get("/revoke")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert response.get_json()["error"] == "method_not_allowed"


ODD_CHARACTERS = ['"', "\\", "\t", "\x7f", "é", "\u2028"]


@pytest.mark.parametrize(
    "odd", ODD_CHARACTERS, ids=["quote", "backslash", "tab", "del", "non-ascii", "line-sep"]
)
@pytest.mark.parametrize(
    "field",
    [
        "redirect_uri",
        "response_type",
        "scope",
        "client_id",
        "prompt",
        "max_age",
        "code_challenge_method",
    ],
)
def test_odd_characters_in_authorization_parameters_are_400(provider, field, odd, caplog):
    caplog.set_level(logging.INFO, logger="idp")
    rp = provider.rp()
    value = "https://rp.example/cb" + odd if field == "redirect_uri" else "code" + odd
    response = rp.browser.get(rp.authorize_url(**{field: value}))
    # Never a redirect: the redirect URI is not trusted yet.
    assert response.status_code == 400 and response.location is None
    assert "invalid_request" in response.get_data(as_text=True)
    assert any(field in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("odd", ODD_CHARACTERS + ["\x00"])
def test_odd_characters_in_basic_client_id_are_401(provider, odd):
    raw = f"client{odd}id:secret".encode()
    response = provider.app.test_client().post(
        "/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(raw).decode()},
    )
    assert response.status_code in (400, 401)
    assert response.get_json()["error"] in ("invalid_client", "invalid_request")


def _login_page(provider):
    from tests.conftest import csrf_from

    rp = provider.rp()
    login = rp.browser.get(rp.authorize_url()).location
    return rp, login, csrf_from(rp.browser.get(login))


def test_a_huge_password_is_a_wrong_password(provider):
    provider.user()
    rp, login, csrf = _login_page(provider)
    response = rp.browser.post(
        login, data={"csrf_token": csrf, "username": "alice", "password": "x" * 5000}
    )
    assert response.status_code == 401 and "50126" in response.get_data(as_text=True)


def test_nul_in_the_device_cookie_is_no_device_and_still_logged(provider):
    """A guess with a NUL in the device cookie is refused and logged like any other."""
    from idp.extensions import db
    from idp.models import SignIn

    provider.user()
    rp, login, csrf = _login_page(provider)
    rp.browser.set_cookie("idp_device", "abc\x00def-0123456789abcdef")
    wrong = rp.browser.post(
        login, data={"csrf_token": csrf, "username": "alice", "password": "wrong guess"}
    )
    assert wrong.status_code == 401
    with provider.app.app_context():
        rows = db.session.query(SignIn).all()
    assert [(r.error_code, r.device_id) for r in rows] == [(50126, None)]
    # A fresh, well-formed device id replaces the bad cookie.
    assert any(
        c.startswith("idp_device=") and "\x00" not in c for c in wrong.headers.getlist("Set-Cookie")
    )


@pytest.mark.parametrize(
    "forwarded_for",
    ["fe80::1%" + "x" * 200, "fe80::1%a\x00b", "[fe80::1%eth0]:443"],
    ids=["long-zone", "nul-in-zone", "bracketed"],
)
def test_a_zone_in_a_forwarded_address_is_dropped(make_app, settings, forwarded_for):
    """A trusted proxy's X-Forwarded-For hop with an IPv6 zone is logged as the address."""
    from dataclasses import replace

    from idp.extensions import db
    from idp.models import SignIn
    from tests.conftest import Provider

    provider = Provider(make_app(replace(settings, trusted_proxies=("127.0.0.1/32",))))
    provider.user()
    rp, login, csrf = _login_page(provider)
    rp.browser.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded_for
    wrong = rp.browser.post(
        login, data={"csrf_token": csrf, "username": "alice", "password": "wrong guess"}
    )
    assert wrong.status_code == 401
    with provider.app.app_context():
        rows = db.session.query(SignIn).all()
    assert [(r.error_code, r.ip) for r in rows] == [(50126, "fe80::1")]


def test_geoip_text_is_bounded(tmp_path):
    """A city name longer than the column (or not text at all) never breaks a sign-in."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    from risk.feeds import Feeds
    from risk.settings import RiskSettings

    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City")
    writer.insert_network(
        IPSet(["81.2.69.0/24"]),
        {
            "city": {"names": {"en": "X" * 5000}},
            "country": {"iso_code": "GBR-TOO-LONG-CODE"},
            "location": {"latitude": "north", "longitude": 1.5, "accuracy_radius": 10},
        },
    )
    path = tmp_path / "city.mmdb"
    writer.to_db_file(str(path))
    with Feeds.load(RiskSettings(geoip_city_db=str(path))) as feeds:
        info = feeds.lookup("81.2.69.1")
    assert len(info.city or "") == 128 and len(info.country or "") <= 8
    assert info.latitude is None and info.longitude == 1.5


@pytest.mark.parametrize(
    "credentials",
    [
        "",
        base64.b64encode(b"\xff\xfe:secret").decode(),
        base64.b64encode("é".encode("latin-1")).decode(),
    ],
    ids=["nothing-after-basic", "not-utf8-id", "latin-1"],
)
@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
def test_unreadable_basic_credentials_are_invalid_client(provider, path, credentials, caplog):
    """A Basic header Authlib cannot read (no credentials, or not UTF-8) authenticates no
    client: 401 invalid_client, and the request still has its log line."""
    caplog.set_level(logging.INFO, logger="idp.request")
    response = provider.app.test_client().post(
        path,
        data={"grant_type": "client_credentials", "token": "x"},
        headers={"Authorization": f"Basic {credentials}"},
    )
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.get_json()["error"] == "invalid_client"
    assert [r.status for r in caplog.records if r.name == "idp.request"] == [401]


@pytest.mark.parametrize(
    "method, path, description",
    [
        ("PATCH", "/users/{user}", "The body must be a JSON object of user properties."),
        ("POST", "/users/{user}/resetPassword", 'The body must be {"mode": "requireReset"}'),
        ("POST", "/identityProtection/riskyUsers/dismiss", "The body must be a JSON object"),
    ],
    ids=["update-user", "reset-password", "dismiss"],
)
def test_json_nested_too_deep_for_the_parser_is_400(provider, method, path, description):
    """A body nested deeper than Python's JSON parser can follow is a body that is not JSON."""
    from tests.idp.test_api_support import API, AdminApi

    user_id = provider.user()
    admin = AdminApi(provider)
    response = admin.http.open(
        API + path.format(user=user_id),
        method=method,
        data=b'{"a":' * 5000 + b"1" + b"}" * 5000,
        content_type="application/json",
        headers=admin.headers(),
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] == "invalid_request"
    assert response.get_json()["error_description"].startswith(description)


@pytest.mark.parametrize("kid", ["\ud800", "é", '"'], ids=["lone-surrogate", "non-ascii", "quote"])
def test_id_token_hint_with_an_odd_kid_is_400(provider, kid):
    """A hint whose header names a kid Authlib cannot quote in its error is not a valid ID
    token: the logout error page, no redirect, the session kept."""
    import json

    provider.user()
    rp = provider.rp(post_logout=["https://rp.example/bye"])
    _, payload, signature = rp.tokens()["id_token"].split(".")
    header = base64.urlsafe_b64encode(json.dumps({"alg": "RS256", "kid": kid}).encode())
    hint = f"{header.decode().rstrip('=')}.{payload}.{signature}"
    response = rp.browser.get(
        "/logout",
        query_string={"id_token_hint": hint, "post_logout_redirect_uri": "https://rp.example/bye"},
    )
    assert response.status_code == 400 and response.location is None
    assert "invalid_request" in response.get_data(as_text=True)
    assert rp.browser.get(rp.authorize_url()).location.startswith("https://rp.example/cb")


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/account/passkeys/%00/remove"),
        ("GET", "/api/v1/users/%00"),
    ],
    ids=["account", "api"],
)
def test_nul_in_the_path_is_404(client, method, path):
    """An id with NUL names nothing; registration answers invalid_token for it instead
    (test_dynamic_registration)."""
    response = client.open(path, method=method)
    assert response.status_code == 404


def test_host_no_url_can_be_built_for_is_400(client, caplog):
    """A Host header werkzeug cannot bind routes to (a label over 63 characters) gets
    werkzeug's plain 400 page, since the error page's own links cannot be built; the request
    keeps its log line."""
    caplog.set_level(logging.INFO, logger="idp.request")
    response = client.get("/password/reset", headers={"Host": "a" * 64 + ".example"})
    assert response.status_code == 400
    assert "Traceback" not in response.get_data(as_text=True)
    assert [r.status for r in caplog.records if r.name == "idp.request"] == [400]
