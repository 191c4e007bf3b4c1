"""Dynamic client registration (RFC 7591) and its management protocol (RFC 7592).

Tests named oidcc_* follow the OpenID Foundation conformance modules of the Dynamic OP plan.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import jwt
import pytest
import sqlalchemy as sa

from idp.clock import FrozenClock
from idp.config import RegistrationSettings, load_settings
from idp.errors import ConfigError, IdpError
from idp.models import Client, Token
from tests.conftest import ISSUER, REDIRECT_URI, RelyingParty, csrf_from

INITIAL_TOKEN = "initial-access-token-for-the-tests-0123456789"
INITIAL_DIGEST = hashlib.sha256(INITIAL_TOKEN.encode()).hexdigest()
BASIC = {"redirect_uris": [REDIRECT_URI], "client_name": "Third-party app"}


def _enabled(settings: Any, **changes: Any) -> Any:
    config = RegistrationSettings(enabled=True, initial_access_token_sha256=(INITIAL_DIGEST,))
    return replace(settings, registration=replace(config, **changes))


@pytest.fixture
def reg_app(make_app: Any, settings: Any) -> Any:
    return make_app(_enabled(settings))


@pytest.fixture
def http(reg_app: Any) -> Any:
    return reg_app.test_client()


def register(
    http: Any, metadata: Any = None, token: str | None = INITIAL_TOKEN, **kwargs: Any
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.post(
        "/register", json=BASIC if metadata is None else metadata, headers=headers, **kwargs
    )


def registered(http: Any, **metadata: Any) -> dict[str, Any]:
    response = register(http, {**BASIC, **metadata})
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def manage(
    http: Any, body: dict[str, Any], method: str = "GET", token: str | None = None, **kwargs: Any
) -> Any:
    path = urlparse(body["registration_client_uri"]).path
    token = body["registration_access_token"] if token is None else token
    return http.open(path, method=method, headers={"Authorization": f"Bearer {token}"}, **kwargs)


def client_rows(app: Any) -> list[Client]:
    from idp.extensions import db

    with app.app_context():
        return list(db.session.scalars(sa.select(Client)))


def row(app: Any, client_id: str) -> Client | None:
    from idp.extensions import db

    with app.app_context():
        return db.session.scalar(sa.select(Client).filter_by(client_id=client_id))


def assert_error(response: Any, status: int, error: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] == error


# --- off by default, initial access token ------------------------------------------------


def test_registration_is_disabled_by_default(client, settings):
    assert settings.registration.enabled is False
    response = client.post(
        "/register", json=BASIC, headers={"Authorization": f"Bearer {INITIAL_TOKEN}"}
    )
    assert_error(response, 404, "not_found")
    assert "not enabled" in response.get_json()["error_description"]
    assert_error(client.get("/register/some-client"), 404, "not_found")
    discovery = client.get("/.well-known/openid-configuration").get_json()
    assert "registration_endpoint" not in discovery


def test_discovery_advertises_registration_when_enabled(http):
    discovery = http.get("/.well-known/openid-configuration").get_json()
    assert discovery["registration_endpoint"] == f"{ISSUER}/register"
    assert discovery["userinfo_signing_alg_values_supported"] == ["RS256"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-the-initial-token"},
        {"Authorization": f"Bearer {INITIAL_DIGEST}"},  # the digest itself is no token
        {"Authorization": f"Basic {base64.b64encode(INITIAL_TOKEN.encode()).decode()}"},
        {"Authorization": f"Bearer {INITIAL_TOKEN}x"},
        {"Authorization": "Bearer"},
    ],
    ids=["none", "wrong", "digest", "basic-scheme", "longer", "empty-bearer"],
)
def test_initial_access_token_required(reg_app, http, headers):
    response = http.post("/register", json=BASIC, headers=headers)
    assert_error(response, 401, "invalid_token")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client_rows(reg_app) == []


def test_open_registration_needs_no_token(make_app, settings):
    http = make_app(_enabled(settings, open=True, initial_access_token_sha256=())).test_client()
    response = register(http, token=None)
    assert response.status_code == 201, response.get_json()


def test_open_registration_still_checks_a_presented_token(make_app, settings):
    """A token that is sent must be right, even where none is needed (no silent downgrade)."""
    http = make_app(_enabled(settings, open=True)).test_client()
    assert_error(register(http, token="wrong"), 401, "invalid_token")
    assert register(http).status_code == 201


# --- what a registration writes and answers ----------------------------------------------


def test_registration_response_and_row(reg_app, http):
    body = registered(http, grant_types=["authorization_code", "refresh_token"])
    assert body["client_secret"] and body["client_secret_expires_at"] == 0
    assert abs(body["client_id_issued_at"] - datetime.now(UTC).timestamp()) < 60
    assert body["registration_client_uri"] == f"{ISSUER}/register/{body['client_id']}"
    assert body["redirect_uris"] == [REDIRECT_URI]
    assert body["grant_types"] == ["authorization_code", "refresh_token"]
    assert body["response_types"] == ["code"]
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert set(body["scope"].split()) >= {"openid", "profile", "email", "offline_access"}
    stored = row(reg_app, body["client_id"])
    assert stored is not None
    assert stored.registered_dynamically is True and stored.first_party is False
    assert stored.name == "Third-party app"
    assert body["client_secret"] not in stored.client_secret  # a digest only
    assert stored.check_client_secret(body["client_secret"])
    assert (
        stored.registration_token_hash
        and body["registration_access_token"] not in stored.registration_token_hash
    )
    assert stored.client_secret_expires_at == 0


def test_client_ids_are_random(http):
    first, second = registered(http), registered(http)
    assert first["client_id"] != second["client_id"] and len(first["client_id"]) >= 20
    assert first["registration_access_token"] != second["registration_access_token"]


def test_public_client_gets_no_secret(reg_app, http):
    body = registered(http, token_endpoint_auth_method="none")
    assert "client_secret" not in body
    assert row(reg_app, body["client_id"]).client_secret is None


def test_client_sent_id_and_secret_are_ignored(http):
    body = registered(http, client_id="chosen-by-me", client_secret="also-mine")
    assert body["client_id"] != "chosen-by-me" and body["client_secret"] != "also-mine"


def test_unknown_metadata_is_ignored(reg_app, http):
    body = registered(http, colour="blue")
    assert "colour" not in body
    assert "colour" not in row(reg_app, body["client_id"]).client_metadata


def consent_page(reg_app: Any, provider: Any, body: dict[str, Any]) -> Any:
    """The consent page the registered (third-party) client's first sign-in shows."""
    provider.user()
    rp = RelyingParty(reg_app, body["client_id"], body["client_secret"])
    response = rp.sign_in()
    assert response.status_code == 302 and "/consent" in response.location, response.location
    return rp.browser.get(response.location)


def test_oidcc_registration_logo_uri(reg_app, http, provider):
    body = registered(http, logo_uri="https://rp.example/logo.png")
    assert body["logo_uri"] == "https://rp.example/logo.png"
    assert row(reg_app, body["client_id"]).client_metadata["logo_uri"] == body["logo_uri"]
    page = consent_page(reg_app, provider, body)
    assert '<img class="client-logo" src="https://rp.example/logo.png"' in page.get_data(
        as_text=True
    )
    # The logo's origin, and only it, joins the page's image sources.
    assert "img-src 'self' data: https://rp.example;" in page.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("field", "uri", "label"),
    [
        ("policy_uri", "https://rp.example/privacy", "privacy policy"),
        ("tos_uri", "https://rp.example/terms", "terms of service"),
        ("client_uri", "https://rp.example/", "home page"),
    ],
    ids=["oidcc-registration-policy-uri", "oidcc-registration-tos-uri", "client-uri"],
)
def test_oidcc_registration_links_shown_on_consent(reg_app, http, provider, field, uri, label):
    body = registered(http, **{field: uri})
    assert row(reg_app, body["client_id"]).client_metadata[field] == uri
    page = consent_page(reg_app, provider, body)
    html = page.get_data(as_text=True)
    assert f'<a href="{uri}" rel="noopener noreferrer" target="_blank">{label}</a>' in html
    assert "img-src 'self' data:;" in page.headers["Content-Security-Policy"]


def test_oidcc_registration_jwks_uri(reg_app, http):
    """Refused: no client key is used here (no private_key_jwt, request objects, encryption)."""
    response = register(http, {**BASIC, "jwks_uri": "https://rp.example/jwks.json"})
    assert_error(response, 400, "invalid_client_metadata")
    assert "jwks_uri" in response.get_json()["error_description"]
    assert client_rows(reg_app) == []


def test_oidcc_registration_jwks(reg_app, http):
    response = register(http, {**BASIC, "jwks": {"keys": []}})
    assert_error(response, 400, "invalid_client_metadata")


def test_oidcc_registration_sector_uri(reg_app, http):
    """Pairwise subjects are not supported, so a sector identifier is refused, good or bad."""
    response = register(http, {**BASIC, "sector_identifier_uri": "https://rp.example/sector"})
    assert_error(response, 400, "invalid_client_metadata")


def test_oidcc_registration_sector_bad(reg_app, http):
    response = register(http, {**BASIC, "sector_identifier_uri": "https://other.example/x"})
    assert_error(response, 400, "invalid_client_metadata")
    assert client_rows(reg_app) == []


def test_oidcc_redirect_uri_regfrag(reg_app, http):
    response = register(http, {**BASIC, "redirect_uris": ["https://rp.example/cb#frag"]})
    assert_error(response, 400, "invalid_redirect_uri")
    assert client_rows(reg_app) == []


def test_oidcc_idtoken_unsigned(reg_app, http):
    """Unsigned ID tokens are never issued: discovery lists RS256 only, registration refuses
    'none'."""
    discovery = http.get("/.well-known/openid-configuration").get_json()
    assert discovery["id_token_signing_alg_values_supported"] == ["RS256"]
    response = register(http, {**BASIC, "id_token_signed_response_alg": "none"})
    assert_error(response, 400, "invalid_client_metadata")
    assert client_rows(reg_app) == []


def test_oidcc_request_uri_unsigned(reg_app, http):
    """request_uri is not supported, so registering request_uris is refused."""
    response = register(http, {**BASIC, "request_uris": ["https://rp.example/request.jwt"]})
    assert_error(response, 400, "invalid_client_metadata")


def test_backchannel_logout_metadata_is_stored(reg_app, http):
    body = registered(
        http,
        backchannel_logout_uri="https://rp.example/bc?tenant=1",
        backchannel_logout_session_required=True,
    )
    metadata = row(reg_app, body["client_id"]).client_metadata
    assert metadata["backchannel_logout_uri"] == "https://rp.example/bc?tenant=1"
    assert metadata["backchannel_logout_session_required"] is True


def test_loopback_backchannel_and_post_logout_uris(reg_app, http):
    body = registered(
        http,
        backchannel_logout_uri="http://127.0.0.1:9000/bc",
        post_logout_redirect_uris=["https://rp.example/bye"],
        contacts=["ops@rp.example"],
    )
    metadata = row(reg_app, body["client_id"]).client_metadata
    assert metadata["backchannel_logout_uri"] == "http://127.0.0.1:9000/bc"
    assert metadata["post_logout_redirect_uris"] == ["https://rp.example/bye"]
    assert metadata["contacts"] == ["ops@rp.example"]


BAD_METADATA = [
    ({"redirect_uris": None}, "invalid_redirect_uri"),
    ({"redirect_uris": []}, "invalid_redirect_uri"),
    ({"redirect_uris": REDIRECT_URI}, "invalid_redirect_uri"),
    ({"redirect_uris": [42]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["http://rp.example/cb"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["/cb"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["https:///cb"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["javascript:alert(1)"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["data:text/html,hi"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["https://rp.example/c\u0000b"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["https://rp.example/c b"]}, "invalid_redirect_uri"),
    ({"redirect_uris": [f"https://rp.example/{i}" for i in range(21)]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["https://rp.example/" + "a" * 2100]}, "invalid_redirect_uri"),
    ({"response_types": ["token"]}, "invalid_client_metadata"),
    ({"response_types": ["code", "id_token"]}, "invalid_client_metadata"),
    ({"grant_types": ["implicit"]}, "invalid_client_metadata"),
    ({"grant_types": ["refresh_token"]}, "invalid_client_metadata"),
    ({"grant_types": ["authorization_code", "client_credentials"]}, "invalid_client_metadata"),
    ({"grant_types": "authorization_code"}, "invalid_client_metadata"),
    ({"token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"),
    ({"token_endpoint_auth_method": "client_secret_jwt"}, "invalid_client_metadata"),
    ({"token_endpoint_auth_method": "tls_client_auth"}, "invalid_client_metadata"),
    ({"scope": "openid idp.admin"}, "invalid_client_metadata"),
    ({"scope": "openid payroll"}, "invalid_client_metadata"),
    ({"scope": ["openid"]}, "invalid_client_metadata"),
    ({"scope": ""}, "invalid_client_metadata"),
    ({"id_token_signed_response_alg": "none"}, "invalid_client_metadata"),
    ({"id_token_signed_response_alg": "HS256"}, "invalid_client_metadata"),
    ({"userinfo_signed_response_alg": "ES256"}, "invalid_client_metadata"),
    ({"id_token_encrypted_response_alg": "RSA-OAEP"}, "invalid_client_metadata"),
    ({"userinfo_encrypted_response_alg": "RSA-OAEP"}, "invalid_client_metadata"),
    ({"request_uris": ["https://rp.example/req"]}, "invalid_client_metadata"),
    ({"request_object_signing_alg": "RS256"}, "invalid_client_metadata"),
    ({"token_endpoint_auth_signing_alg": "RS256"}, "invalid_client_metadata"),
    ({"subject_type": "pairwise"}, "invalid_client_metadata"),
    ({"default_max_age": 60}, "invalid_client_metadata"),
    ({"application_type": "desktop"}, "invalid_client_metadata"),
    ({"client_name": "x" * 151}, "invalid_client_metadata"),
    ({"client_name": "bad\u0000name"}, "invalid_client_metadata"),
    ({"client_name": "line\nbreak"}, "invalid_client_metadata"),
    ({"client_name": 7}, "invalid_client_metadata"),
    ({"logo_uri": "http://rp.example/logo.png"}, "invalid_client_metadata"),
    ({"logo_uri": "javascript:alert(1)"}, "invalid_client_metadata"),
    ({"policy_uri": "/privacy"}, "invalid_client_metadata"),
    ({"tos_uri": "https://rp.example/terms#top"}, "invalid_client_metadata"),
    ({"client_uri": ["https://rp.example"]}, "invalid_client_metadata"),
    ({"contacts": "ops@rp.example"}, "invalid_client_metadata"),
    ({"contacts": ["ops@rp.example\u0007"]}, "invalid_client_metadata"),
    ({"contacts": [f"c{i}@rp.example" for i in range(11)]}, "invalid_client_metadata"),
    ({"post_logout_redirect_uris": ["https://rp.example/bye#x"]}, "invalid_client_metadata"),
    ({"post_logout_redirect_uris": ["http://rp.example/bye"]}, "invalid_client_metadata"),
    ({"post_logout_redirect_uris": "https://rp.example/bye"}, "invalid_client_metadata"),
    ({"backchannel_logout_uri": "http://rp.example/bc"}, "invalid_client_metadata"),
    ({"backchannel_logout_uri": "https://rp.example/bc#x"}, "invalid_client_metadata"),
    ({"backchannel_logout_uri": "/bc"}, "invalid_client_metadata"),
    (
        {
            "backchannel_logout_uri": "https://rp.example/bc",
            "backchannel_logout_session_required": "yes",
        },
        "invalid_client_metadata",
    ),
    ({"backchannel_logout_session_required": True}, "invalid_client_metadata"),
    ({"require_auth_time": 1}, "invalid_client_metadata"),
    ({"x-unknown": ["ok", {"deep": "n\u0000ul"}]}, "invalid_client_metadata"),
    ({"x-\u0000": 1}, "invalid_client_metadata"),
    # URLs Python's parser refuses outright: an unclosed IPv6 bracket, a host that NFKC
    # normalisation turns into a delimiter.
    ({"redirect_uris": ["https://[::1/cb"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["https://a\u2100b.example/cb"]}, "invalid_redirect_uri"),
    ({"post_logout_redirect_uris": ["https://[::1/bye"]}, "invalid_client_metadata"),
    ({"logo_uri": "https://[::1/logo.png"}, "invalid_client_metadata"),
    ({"tos_uri": "https://ex\uff03ample@rp.example/tos"}, "invalid_client_metadata"),
    ({"backchannel_logout_uri": "https://]/logout"}, "invalid_client_metadata"),
    # A port no browser can reach; a page link whose host part hides another host.
    ({"redirect_uris": ["https://rp.example:99999/cb"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["https://rp.example:abc/cb"]}, "invalid_redirect_uri"),
    ({"client_uri": "https://rp.example:99999/"}, "invalid_client_metadata"),
    ({"policy_uri": "https://rp.example@evil.example/policy"}, "invalid_client_metadata"),
    ({"logo_uri": "https://user:pw@rp.example/logo.png"}, "invalid_client_metadata"),
]
BAD_METADATA_IDS = [
    "no-redirect-uris",
    "empty-redirect-uris",
    "redirect-uris-string",
    "redirect-uri-number",
    "http-not-loopback",
    "relative",
    "https-no-host",
    "javascript-scheme",
    "data-scheme",
    "nul-in-uri",
    "space-in-uri",
    "too-many-uris",
    "uri-too-long",
    "response-type-token",
    "response-type-hybrid",
    "grant-implicit",
    "grant-refresh-only",
    "grant-client-credentials",
    "grant-types-string",
    "private-key-jwt",
    "client-secret-jwt",
    "tls-client-auth",
    "scope-idp-admin",
    "scope-unknown",
    "scope-list",
    "scope-empty",
    "id-token-alg-none",
    "id-token-alg-hs256",
    "userinfo-alg-es256",
    "id-token-encrypted",
    "userinfo-encrypted",
    "request-uris",
    "request-object-alg",
    "auth-signing-alg",
    "pairwise",
    "default-max-age",
    "application-type",
    "name-too-long",
    "name-nul",
    "name-newline",
    "name-number",
    "logo-http",
    "logo-javascript",
    "policy-relative",
    "tos-fragment",
    "client-uri-list",
    "contacts-string",
    "contacts-control-char",
    "too-many-contacts",
    "post-logout-fragment",
    "post-logout-http",
    "post-logout-string",
    "backchannel-http",
    "backchannel-fragment",
    "backchannel-relative",
    "session-required-string",
    "session-required-without-uri",
    "require-auth-time-int",
    "nul-in-ignored-field",
    "nul-in-key",
    "redirect-uri-unclosed-ipv6",
    "redirect-uri-nfkc-host",
    "post-logout-uri-unclosed-ipv6",
    "logo-uri-unclosed-ipv6",
    "tos-uri-nfkc-host",
    "backchannel-uri-lone-bracket",
    "redirect-uri-port-out-of-range",
    "redirect-uri-port-not-a-number",
    "client-uri-port-out-of-range",
    "policy-uri-userinfo",
    "logo-uri-user-and-password",
]


@pytest.mark.parametrize(("change", "error"), BAD_METADATA, ids=BAD_METADATA_IDS)
def test_bad_metadata_is_refused(reg_app, http, change, error):
    metadata = {k: v for k, v in {**BASIC, **change}.items() if v is not None}
    response = register(http, metadata)
    assert_error(response, 400, error)
    assert response.get_json()["error_description"]
    assert client_rows(reg_app) == []


MALFORMED = [
    (b"not json", "application/json", 400),
    (b"[1, 2]", "application/json", 400),
    (b'"a string"', "application/json", 400),
    (b"null", "application/json", 400),
    (b"", "application/json", 400),
    (b'{"redirect_uris": ["https://rp.example/cb"]', "application/json", 400),
    (b'{"client_name": "a\x00b", "redirect_uris": []}', "application/json", 400),
    (b'{"client_name": "\xff\xfe"}', "application/json", 400),
    (b"[" * 20000 + b"]" * 20000, "application/json", 413),
    (b"{" + b'"a": 1,' * 3000 + b'"b": 2}', "application/json", 413),
    (b"[" * 5000 + b"]" * 5000, "application/json", 400),
    (b'{"n": 1' + b"0" * 5000 + b"}", "application/json", 400),
    *(
        (
            b'{"x": '
            + b"[" * depth
            + b'"a"'
            + b"]" * depth
            + b', "redirect_uris": ["'
            + REDIRECT_URI.encode()
            + b'"]}',
            "application/json",
            400,
        )
        for depth in (20, 500, 930, 945, 960)
    ),
    (b"redirect_uris=https%3A%2F%2Frp.example%2Fcb", "application/x-www-form-urlencoded", 400),
    (b'{"redirect_uris": ["https://rp.example/cb"]}', "text/plain", 400),
]
MALFORMED_IDS = [
    "not-json",
    "array",
    "string",
    "null",
    "empty",
    "truncated",
    "raw-nul-in-string",
    "invalid-utf8",
    "too-big",
    "big-object",
    "deep-nesting",
    "huge-number",
    "depth-20",
    "depth-500",
    "depth-930",
    "depth-945",
    "depth-960",
    "form-encoded",
    "text-plain",
]


@pytest.mark.parametrize(("body", "content_type", "status"), MALFORMED, ids=MALFORMED_IDS)
def test_malformed_bodies(reg_app, http, body, content_type, status):
    response = http.post(
        "/register",
        data=body,
        content_type=content_type,
        headers={"Authorization": f"Bearer {INITIAL_TOKEN}"},
    )
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] in (
        "invalid_request",
        "invalid_client_metadata",
        "invalid_redirect_uri",
    )
    assert client_rows(reg_app) == []


def test_nul_in_header_token_or_path_is_no_500(http):
    body = registered(http)
    for path in ("/register/%00", "/register/" + "x" * 300, "/register/%C3%BC"):
        response = http.get(path, headers={"Authorization": f"Bearer {INITIAL_TOKEN}"})
        assert_error(response, 401, "invalid_token")
    response = manage(http, body, token="tok\u00e9n")
    assert_error(response, 401, "invalid_token")


@pytest.mark.parametrize("method", ["PATCH", "OPTIONS", "HEAD"])
def test_other_methods_are_refused(http, method):
    body = registered(http)
    response = manage(http, body, method=method)
    assert response.status_code == 405


# --- throttle ----------------------------------------------------------------------------


def test_registration_is_throttled_per_address(make_app, settings):
    clock = FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    app = make_app(_enabled(settings, per_ip_per_hour=3), clock=clock)
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "198.51.100.20"
    assert register(attacker).status_code == 201
    assert register(attacker, token="wrong").status_code == 401  # failures count too
    assert register(attacker, {"bad": True}).status_code == 400
    refused = register(attacker)
    assert_error(refused, 429, "too_many_requests")
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert len(client_rows(app)) == 1
    neighbour = app.test_client()
    neighbour.environ_base["REMOTE_ADDR"] = "198.51.100.21"
    assert register(neighbour).status_code == 201
    clock.advance(hours=1, seconds=1)
    assert register(attacker).status_code == 201


# --- RFC 7592: read, update, delete ------------------------------------------------------


def test_read_registration(http):
    body = registered(http, logo_uri="https://rp.example/logo.png")
    response = manage(http, body)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    read = response.get_json()
    for key in (
        "client_id",
        "client_id_issued_at",
        "client_secret_expires_at",
        "redirect_uris",
        "logo_uri",
        "registration_client_uri",
        "registration_access_token",
    ):
        assert read[key] == body[key], key
    # Only the secret's digest is stored, and a digest is never handed out.
    assert "client_secret" not in read


def test_update_replaces_metadata(reg_app, http):
    body = registered(http, logo_uri="https://rp.example/logo.png")
    new = {
        "client_id": body["client_id"],
        "client_secret": body["client_secret"],
        "redirect_uris": ["https://rp.example/new-cb"],
        "client_name": "Renamed",
        "grant_types": ["authorization_code", "refresh_token"],
    }
    response = manage(http, body, "PUT", json=new)
    assert response.status_code == 200, response.get_json()
    updated = response.get_json()
    assert updated["redirect_uris"] == ["https://rp.example/new-cb"]
    assert "logo_uri" not in updated  # omitted means removed (RFC 7592 §2.2)
    stored = row(reg_app, body["client_id"])
    assert stored.name == "Renamed" and stored.redirect_uris == ["https://rp.example/new-cb"]
    assert stored.check_client_secret(body["client_secret"])  # the secret did not change
    assert manage(http, body).get_json()["client_name"] == "Renamed"


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"client_id": "someone-else"}, 400, "invalid_request"),
        ({"client_id": None}, 400, "invalid_request"),
        ({"client_secret": "not-the-secret"}, 400, "invalid_request"),
        ({"client_secret": ["not", "a", "string"]}, 400, "invalid_request"),
        ({"client_secret": "\ud800"}, 400, "invalid_request"),
        ({"client_id": {"not": "a string"}}, 400, "invalid_request"),
        ({"registration_access_token": "mine"}, 400, "invalid_request"),
        ({"client_id_issued_at": 1}, 400, "invalid_request"),
        ({"redirect_uris": ["https://rp.example/cb#frag"]}, 400, "invalid_redirect_uri"),
        ({"scope": "openid idp.admin"}, 400, "invalid_client_metadata"),
        ({"token_endpoint_auth_method": "none"}, 400, "invalid_client_metadata"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, 400, "invalid_client_metadata"),
        ({"jwks_uri": "https://rp.example/jwks"}, 400, "invalid_client_metadata"),
    ],
    ids=[
        "other-client-id",
        "no-client-id",
        "wrong-secret",
        "secret-list",
        "secret-lone-surrogate",
        "client-id-object",
        "registration-token",
        "issued-at",
        "fragment",
        "admin-scope",
        "to-public",
        "private-key-jwt",
        "jwks-uri",
    ],
)
def test_update_is_revalidated(reg_app, http, change, status, error):
    body = registered(http)
    new = {"client_id": body["client_id"], "redirect_uris": [REDIRECT_URI], **change}
    new = {k: v for k, v in new.items() if v is not None}
    response = manage(http, body, "PUT", json=new)
    assert_error(response, status, error)
    stored = row(reg_app, body["client_id"])
    assert stored.redirect_uris == [REDIRECT_URI] and stored.client_name == "Third-party app"
    assert stored.token_endpoint_auth_method == "client_secret_basic"


def test_update_with_malformed_body(http):
    body = registered(http)
    response = manage(http, body, "PUT", data=b"[not json", content_type="application/json")
    assert_error(response, 400, "invalid_request")


def test_delete_registration_removes_client_and_tokens(reg_app, http, provider):
    provider.user()
    body = registered(http, grant_types=["authorization_code", "refresh_token"])
    rp = RelyingParty(reg_app, body["client_id"], body["client_secret"])
    tokens = dynamic_tokens(rp)
    response = manage(http, body, "DELETE")
    assert response.status_code == 204
    assert row(reg_app, body["client_id"]) is None
    from idp.extensions import db

    with reg_app.app_context():
        assert (
            db.session.scalars(sa.select(Token).filter_by(client_id=body["client_id"])).all() == []
        )
    me = http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 401
    assert_error(manage(http, body), 401, "invalid_token")


def test_wrong_registration_tokens_are_refused(reg_app, http, provider):
    mine, theirs = registered(http), registered(http)
    operator = provider.rp()  # registered by the operator: no registration token at all
    cases = [
        ("no token", mine, ""),
        ("wrong token", mine, "x" * 43),
        ("another client's token", mine, theirs["registration_access_token"]),
        ("initial access token", mine, INITIAL_TOKEN),
        (
            "operator client",
            {**mine, "registration_client_uri": f"{ISSUER}/register/{operator.client_id}"},
            mine["registration_access_token"],
        ),
        (
            "unknown client",
            {**mine, "registration_client_uri": f"{ISSUER}/register/nobody"},
            mine["registration_access_token"],
        ),
    ]
    for name, body, token in cases:
        for method in ("GET", "PUT", "DELETE"):
            path = urlparse(body["registration_client_uri"]).path
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = http.open(
                path,
                method=method,
                headers=headers,
                json={"client_id": mine["client_id"], "redirect_uris": ["https://evil.example/cb"]},
            )
            assert response.status_code == 401, (name, method)
            assert response.get_json()["error"] == "invalid_token", (name, method)
    assert row(reg_app, mine["client_id"]).redirect_uris == [REDIRECT_URI]
    assert row(reg_app, operator.client_id) is not None
    assert len(client_rows(reg_app)) == 3


def test_registration_token_does_not_work_as_access_token(http):
    body = registered(http)
    me = http.get(
        "/userinfo", headers={"Authorization": f"Bearer {body['registration_access_token']}"}
    )
    assert me.status_code == 401


# --- flows with a registered client ------------------------------------------------------


def dynamic_tokens(rp: RelyingParty, auth: str = "basic") -> dict[str, Any]:
    """Sign in through the consent page (a registered client is a third party); redeem."""
    response = rp.sign_in()
    if response.status_code == 302 and "/consent" in response.location:
        page = rp.browser.get(response.location)
        response = rp.browser.post(
            response.location, data={"csrf_token": csrf_from(page), "action": "allow"}
        )
        response = rp.browser.get(response.location)
    code = rp.code_from(response)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": rp.verifier,
    }
    redeemed = rp.token_request(data, auth=auth)
    assert redeemed.status_code == 200, redeemed.get_json()
    return dict(redeemed.get_json())


def test_dynamic_flow_register_authorize_token_userinfo(reg_app, http, provider):
    user_id = provider.user()
    body = registered(
        http,
        grant_types=["authorization_code", "refresh_token"],
        scope="openid profile email offline_access",
    )
    rp = RelyingParty(reg_app, body["client_id"], body["client_secret"])
    tokens = dynamic_tokens(rp)
    claims = rp.verify_id_token(tokens["id_token"])
    assert claims["sub"] == user_id and claims["aud"] == body["client_id"]
    me = http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200 and me.get_json()["sub"] == user_id
    refreshed = rp.token_request(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200


def test_registered_client_cannot_use_client_credentials(reg_app, http):
    body = registered(http)
    rp = RelyingParty(reg_app, body["client_id"], body["client_secret"])
    response = rp.token_request({"grant_type": "client_credentials", "scope": "idp.admin"})
    assert response.status_code in (400, 401)
    assert response.get_json()["error"] in ("unauthorized_client", "invalid_scope")


def test_registered_client_cannot_redirect_elsewhere(reg_app, http, provider):
    provider.user()
    body = registered(http)
    rp = RelyingParty(reg_app, body["client_id"], body["client_secret"])
    response = rp.browser.get(rp.authorize_url(redirect_uri="https://evil.example/cb"))
    assert response.status_code == 400
    assert "evil.example" not in (response.location or "")


def test_oidcc_server_client_secret_post(reg_app, http, provider):
    provider.user()
    body = registered(http, token_endpoint_auth_method="client_secret_post")
    rp = RelyingParty(reg_app, body["client_id"], body["client_secret"])
    tokens = dynamic_tokens(rp, auth="post")
    assert tokens["token_type"].lower() == "bearer"


def test_public_registered_client_uses_pkce(reg_app, http, provider):
    provider.user()
    body = registered(http, token_endpoint_auth_method="none")
    rp = RelyingParty(reg_app, body["client_id"], None)
    tokens = dynamic_tokens(rp)
    assert "access_token" in tokens


def test_oidcc_userinfo_rs256(reg_app, http, provider):
    user_id = provider.user()
    body = registered(http, userinfo_signed_response_alg="RS256")
    rp = RelyingParty(reg_app, body["client_id"], body["client_secret"])
    tokens = dynamic_tokens(rp)
    me = http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200 and me.mimetype == "application/jwt"
    signed = me.get_data(as_text=True)
    header = jwt.get_unverified_header(signed)
    assert header["alg"] == "RS256"
    jwks = http.get("/jwks.json").get_json()["keys"]
    key = next(k for k in jwks if k["kid"] == header["kid"])
    claims = jwt.decode(
        signed, jwt.PyJWK(key).key, algorithms=["RS256"], audience=body["client_id"], issuer=ISSUER
    )
    assert claims["sub"] == user_id


def test_oidcc_registration_id_token_rs256(reg_app, http, provider):
    provider.user()
    body = registered(http, id_token_signed_response_alg="RS256")
    rp = RelyingParty(reg_app, body["client_id"], body["client_secret"])
    tokens = dynamic_tokens(rp)
    assert jwt.get_unverified_header(tokens["id_token"])["alg"] == "RS256"


# --- the CLI and the admin console share the rules ---------------------------------------


def test_cli_create_client_shares_the_uri_rules(app):
    from idp.clients import create_client

    with app.app_context():
        for uri in ("https://rp.example/cb#x", "javascript:alert(1)", "http://rp.example/cb"):
            with pytest.raises(IdpError):
                create_client(
                    "Bad",
                    redirect_uris=[uri],
                    post_logout_redirect_uris=[],
                    public=False,
                    grant_types=[],
                    scopes=[],
                )
        client, secret = create_client(
            "Good",
            redirect_uris=["com.example.app:/cb"],
            post_logout_redirect_uris=[],
            public=True,
            grant_types=[],
            scopes=["openid"],
        )
        assert secret is None and client.first_party and not client.registered_dynamically


def test_admin_clients_page_shows_self_registered(stepup):
    from idp.clients import save_client
    from tests.idp.test_admin_dashboard import _admin, _admin_sign_in

    with stepup.app.app_context():
        save_client(
            "Self-made app",
            {"redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none"},
            None,
            registered_dynamically=True,
        )
    browser, secret = _admin(stepup)
    _admin_sign_in(stepup, browser, secret=secret)
    html = browser.get("/admin/clients").get_data(as_text=True)
    line = next(r for r in html.split("<tr>") if "Self-made app" in r)
    assert "the application itself" in line


# --- configuration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[registration]\nenabled = true\n", "registration.initial_access_token_sha256"),
        (
            '[registration]\nenabled = true\ninitial_access_token_sha256 = ["abc"]\n',
            "registration.initial_access_token_sha256",
        ),
        ('[registration]\nenabled = "yes"\n', "registration.enabled"),
        ("[registration]\nper_ip_per_hour = 0\n", "registration.per_ip_per_hour"),
        (
            '[registration]\ninitial_access_token_sha256 = "' + INITIAL_DIGEST + '"\n',
            "registration.initial_access_token_sha256",
        ),
        ("[registration]\nclosed = true\n", "registration.closed"),
    ],
    ids=[
        "enabled-without-token",
        "short-digest",
        "enabled-string",
        "zero-rate",
        "digest-not-list",
        "unknown-key",
    ],
)
def test_bad_registration_config_names_the_key(tmp_path, toml, key):
    path = tmp_path / "idp.toml"
    path.write_text('secret_key = "a-long-random-test-secret-0123"\n' + toml)
    with pytest.raises(ConfigError) as raised:
        load_settings(path, environ={})
    message = str(raised.value)
    assert message.startswith(key) and "\n" not in message


def test_registration_config_from_file_and_environment(tmp_path):
    path = tmp_path / "idp.toml"
    path.write_text(
        'secret_key = "a-long-random-test-secret-0123"\n[registration]\n'
        f'enabled = true\ninitial_access_token_sha256 = ["{INITIAL_DIGEST}"]\n'
    )
    loaded = load_settings(path, environ={})
    assert loaded.registration.enabled and loaded.registration.initial_access_token_sha256 == (
        INITIAL_DIGEST,
    )
    from_env = load_settings(
        None,
        environ={
            "IDP_SECRET_KEY": "a-long-random-test-secret-0123",
            "IDP_REGISTRATION__ENABLED": "true",
            "IDP_REGISTRATION__OPEN": "true",
        },
    )
    assert from_env.registration.enabled and from_env.registration.open


def test_registration_never_logs_secrets(http, caplog):
    caplog.set_level("DEBUG")
    body = registered(http)
    manage(http, body)
    text = caplog.text + json.dumps([r.__dict__ for r in caplog.records], default=str)
    for secret in (body["client_secret"], body["registration_access_token"], INITIAL_TOKEN):
        assert secret not in text


def test_cli_prints_an_initial_access_token_and_its_digest(make_app, settings):
    from click.testing import CliRunner

    from idp.cli import cli

    result = CliRunner().invoke(cli, ["clients", "initial-access-token"])
    assert result.exit_code == 0, result.output
    lines = dict(line.split()[:2] for line in result.output.splitlines())
    token, digest = lines["token:"], lines["digest:"]
    assert hashlib.sha256(token.encode()).hexdigest() == digest
    http = make_app(
        replace(
            _enabled(settings),
            registration=RegistrationSettings(enabled=True, initial_access_token_sha256=(digest,)),
        )
    ).test_client()
    assert register(http, token=token).status_code == 201
