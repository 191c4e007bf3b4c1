"""Request objects (`request`, `request_uri`) are refused, never served with the object ignored."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlparse

import pytest

from tests.conftest import ISSUER, REDIRECT_URI

OTHER_URI = "https://rp.example/other"


def unsigned_jwt(claims: dict[str, object]) -> str:
    """An unsigned request object (alg none), as the conformance suite sends one."""

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}."


def params_of(response) -> dict[str, list[str]]:
    return parse_qs(urlparse(response.location).query)


def assert_refused(response, error: str, state: str | None = "st-123") -> None:
    """Sent back to the registered redirect URI with the error, the state and the issuer."""
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.location.startswith(REDIRECT_URI + "?"), response.location
    params = params_of(response)
    assert params["error"] == [error]
    assert "code" not in params
    assert params.get("state") == ([state] if state else None)
    assert params["iss"] == [ISSUER]


def assert_error_page(response, text: str = "not valid") -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "Location" not in response.headers
    assert text in response.get_data(as_text=True)


def object_for(rp, **claims: object) -> str:
    return unsigned_jwt(
        {
            "iss": rp.client_id,
            "aud": ISSUER,
            "client_id": rp.client_id,
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": REDIRECT_URI,
            **claims,
        }
    )


@pytest.mark.parametrize("signed_in", [False, True], ids=["no-session", "sso-session"])
def test_oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported(
    provider, signed_in
):
    provider.user()
    rp = provider.rp()
    if signed_in:
        rp.tokens()
    request_object = object_for(rp, nonce="only-in-object", state="object-state")
    response = rp.browser.get(rp.authorize_url(request=request_object))
    assert_refused(response, "request_not_supported")


@pytest.mark.parametrize("signed_in", [False, True], ids=["no-session", "sso-session"])
def test_oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported(
    provider, signed_in
):
    provider.user()
    rp = provider.rp()
    if signed_in:
        rp.tokens()
    response = rp.browser.get(rp.authorize_url(request_uri="https://rp.example/request.jwt"))
    assert_refused(response, "request_uri_not_supported")


@pytest.mark.parametrize(
    "inside",
    [
        {"nonce": "n-object"},
        {"state": "s-object"},
        {"max_age": 0},
        {"acr_values": "urn:idp:acr:mfa"},
        {
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
        },
    ],
    ids=["nonce", "state", "max-age", "acr-values", "pkce"],
)
def test_what_only_the_object_carries_is_never_dropped_for_a_code(provider, inside):
    """The bypass: a signed-in user, a public client, and the demands only in the object."""
    provider.user()
    rp = provider.rp(public=True)
    rp.tokens()
    url = rp.authorize_url(
        request=object_for(rp, **inside),
        nonce=None,
        state=None,
        code_challenge=None,
        code_challenge_method=None,
    )
    assert_refused(rp.browser.get(url), "request_not_supported", state=None)


def test_oidcc_ensure_request_object_with_redirect_uri(provider):
    """The redirect URI only inside the object: the client's sole registered one gets the error."""
    provider.user()
    rp = provider.rp()
    rp.tokens()
    url = rp.authorize_url(request=object_for(rp), redirect_uri=None)
    assert_refused(rp.browser.get(url), "request_not_supported")


def test_redirect_uri_only_in_object_with_several_registered_is_an_error_page(provider):
    provider.user()
    rp = provider.rp(redirect_uris=[REDIRECT_URI, OTHER_URI])
    rp.tokens()
    url = rp.authorize_url(request=object_for(rp, redirect_uri=OTHER_URI), redirect_uri=None)
    assert_error_page(rp.browser.get(url))


@pytest.mark.parametrize(
    "change",
    [
        {"redirect_uri": "https://evil.example/cb"},
        {"redirect_uri": REDIRECT_URI + "/extra"},
        {"client_id": "no-such-client"},
        {"client_id": None},
    ],
    ids=["unregistered-uri", "longer-path", "unknown-client", "no-client"],
)
@pytest.mark.parametrize("parameter", ["request", "request_uri"])
def test_request_object_with_untrusted_client_or_uri_is_an_error_page(provider, change, parameter):
    rp = provider.rp()
    value = object_for(rp) if parameter == "request" else "https://rp.example/request.jwt"
    response = rp.browser.get(rp.authorize_url(**{parameter: value}, **change))
    assert_error_page(response)


def test_duplicate_client_id_with_request_object_is_an_error_page(provider):
    rp = provider.rp()
    other = provider.rp(redirect_uris=["https://evil.example/cb"])
    url = rp.authorize_url(request=object_for(rp)) + f"&client_id={other.client_id}"
    assert_error_page(rp.browser.get(url))


@pytest.mark.parametrize(
    "value",
    ["", "not-a-jwt", "a.b.c.d.e", "é" * 10, "A" * 20000],
    ids=["empty", "garbage", "five-parts", "non-ascii", "huge"],
)
def test_malformed_request_values_are_refused_never_500(provider, value):
    rp = provider.rp()
    assert_refused(rp.browser.get(rp.authorize_url(request=value)), "request_not_supported")
    assert_refused(rp.browser.get(rp.authorize_url(request_uri=value)), "request_uri_not_supported")


@pytest.mark.parametrize(
    "change",
    [
        {"request": "x\x00y"},
        {"request_uri": "https://rp.example/\x00"},
        {"request": "x", "client_id": "bad\x00client"},
    ],
    ids=["nul-request", "nul-request-uri", "nul-client"],
)
def test_nul_bytes_beside_request_objects_are_an_error_page(provider, change):
    rp = provider.rp()
    assert_error_page(rp.browser.get(rp.authorize_url(**change)), "NUL character")


def test_request_and_request_uri_together_are_refused(provider):
    rp = provider.rp()
    url = rp.authorize_url(request=object_for(rp), request_uri="https://rp.example/r.jwt")
    assert_refused(rp.browser.get(url), "request_not_supported")


def test_request_object_in_a_post_is_refused(provider):
    """oidcc-ensure-post-request-succeeds sends the request as a form; objects stay refused."""
    provider.user()
    rp = provider.rp()
    rp.tokens()
    query = dict(parse_qs(urlparse(rp.authorize_url(request=object_for(rp))).query))
    form = {name: values[0] for name, values in query.items()}
    assert_refused(rp.browser.post("/authorize", data=form), "request_not_supported")


def test_prompt_none_with_request_object_is_still_request_not_supported(provider):
    rp = provider.rp()
    response = rp.browser.get(rp.authorize_url(request=object_for(rp), prompt="none"))
    assert_refused(response, "request_not_supported")


def test_discovery_says_request_objects_are_not_supported(client):
    doc = client.get("/.well-known/openid-configuration").get_json()
    assert doc["request_parameter_supported"] is False
    assert doc["request_uri_parameter_supported"] is False


def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(provider):
    """The contrast: a plain request without nonce still gets a code (nonce is optional for
    the code flow), and the ID token then has no nonce."""
    provider.user()
    rp = provider.rp()
    tokens = rp.tokens(nonce=None)
    assert "nonce" not in rp.verify_id_token(tokens["id_token"])
