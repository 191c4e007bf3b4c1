"""RP-initiated logout ends the SSO session everywhere and revokes its tokens."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from tests.conftest import csrf_from


def test_oidcc_rp_initiated_logout(provider):
    provider.user()
    rp = provider.rp(post_logout=["https://rp.example/bye"])
    tokens = rp.tokens()
    response = rp.browser.get(
        "/logout?"
        + "&".join(
            [
                f"id_token_hint={tokens['id_token']}",
                "post_logout_redirect_uri=https://rp.example/bye",
                "state=s1",
            ]
        )
    )
    assert response.status_code == 302
    assert response.location.startswith("https://rp.example/bye")
    assert parse_qs(urlparse(response.location).query)["state"] == ["s1"]
    # The browser must sign in again, and the tokens of that session are dead.
    again = rp.browser.get(rp.authorize_url())
    assert "/login" in again.location
    http = provider.app.test_client()
    me = http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 401
    refresh = rp.token_request(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 400


def test_oidcc_rp_initiated_logout_no_id_token_hint(provider):
    """client_id names the client: the user confirms, then goes to its registered URI."""
    provider.user()
    rp = provider.rp(post_logout=["https://rp.example/bye"])
    rp.tokens()
    page = rp.browser.get(
        f"/logout?client_id={rp.client_id}&post_logout_redirect_uri=https://rp.example/bye&state=s2"
    )
    assert page.status_code == 200
    assert "Sign out?" in page.get_data(as_text=True)
    # Still signed in until confirmed.
    assert rp.code_from(rp.browser.get(rp.authorize_url()))
    done = rp.browser.post(
        "/logout",
        data={
            "csrf_token": csrf_from(page),
            "confirm": "yes",
            "client_id": rp.client_id,
            "post_logout_redirect_uri": "https://rp.example/bye",
            "state": "s2",
        },
    )
    assert done.status_code == 302
    assert done.location.startswith("https://rp.example/bye?")
    assert parse_qs(urlparse(done.location).query)["state"] == ["s2"]
    assert "/login" in rp.browser.get(rp.authorize_url()).location


def test_oidcc_rp_initiated_logout_only_state(provider):
    """No client and no return address: confirm, sign out, and stay on our page."""
    provider.user()
    rp = provider.rp(post_logout=["https://rp.example/bye"])
    rp.tokens()
    page = rp.browser.get("/logout?state=s3")
    assert page.status_code == 200 and "Sign out?" in page.get_data(as_text=True)
    done = rp.browser.post(
        "/logout", data={"csrf_token": csrf_from(page), "confirm": "yes", "state": "s3"}
    )
    assert done.status_code == 200 and "Location" not in done.headers
    assert "/login" in rp.browser.get(rp.authorize_url()).location


def test_oidcc_rp_initiated_logout_no_post_logout_redirect_uri(provider):
    provider.user()
    rp = provider.rp(post_logout=["https://rp.example/bye"])
    tokens = rp.tokens()
    response = rp.browser.get(f"/logout?id_token_hint={tokens['id_token']}&state=s4")
    assert response.status_code == 200 and "Location" not in response.headers
    assert "/login" in rp.browser.get(rp.authorize_url()).location


def _assert_refused_and_still_signed_in(rp, response, tokens):
    """An error page, no redirect, and the user's session and tokens untouched."""
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "Location" not in response.headers
    assert "sign-out link is not valid" in response.get_data(as_text=True)
    assert rp.code_from(rp.browser.get(rp.authorize_url()))
    me = rp.app.test_client().get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 200


def test_oidcc_rp_initiated_logout_bad_post_logout_redirect_uri(provider):
    provider.user()
    rp = provider.rp(post_logout=["https://rp.example/bye"])
    tokens = rp.tokens()
    response = rp.browser.get(
        f"/logout?id_token_hint={tokens['id_token']}&post_logout_redirect_uri=https://evil.example/"
        "&state=s5"
    )
    _assert_refused_and_still_signed_in(rp, response, tokens)
    assert "not registered" in response.get_data(as_text=True)


def test_oidcc_rp_initiated_logout_query_added_to_post_logout_redirect_uri(provider):
    provider.user()
    rp = provider.rp(post_logout=["https://rp.example/bye"])
    tokens = rp.tokens()
    response = rp.browser.get(
        "/logout?"
        + urlencode(
            {
                "id_token_hint": tokens["id_token"],
                "post_logout_redirect_uri": "https://rp.example/bye?x=1",
            }
        )
    )
    _assert_refused_and_still_signed_in(rp, response, tokens)


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example/",
        "https://rp.example/bye/",
        "HTTPS://RP.EXAMPLE/bye",
        "",
        "https://rp.example/bye\u00e9",
    ],
    ids=["other-host", "trailing-slash", "upper-case", "empty", "non-ascii"],
)
def test_unregistered_uri_with_client_id_is_refused(provider, uri):
    provider.user()
    rp = provider.rp(post_logout=["https://rp.example/bye"])
    tokens = rp.tokens()
    response = rp.browser.get(
        "/logout?" + urlencode({"client_id": rp.client_id, "post_logout_redirect_uri": uri})
    )
    _assert_refused_and_still_signed_in(rp, response, tokens)


def test_post_logout_uri_without_a_client_is_refused(provider):
    """The URI of a registered client, but no way to tell the client: an error page."""
    provider.user()
    rp = provider.rp(post_logout=["https://rp.example/bye"])
    tokens = rp.tokens()
    response = rp.browser.get("/logout?post_logout_redirect_uri=https://rp.example/bye")
    _assert_refused_and_still_signed_in(rp, response, tokens)
    assert "client_id" in response.get_data(as_text=True)


def test_confirming_a_refused_logout_does_not_sign_out(provider):
    """The bypass: POST the confirmation form straight away with a bad return address."""
    provider.user()
    rp = provider.rp(post_logout=["https://rp.example/bye"])
    tokens = rp.tokens()
    page = rp.browser.get("/logout")
    for data in (
        {"post_logout_redirect_uri": "https://rp.example/bye"},
        {"client_id": rp.client_id, "post_logout_redirect_uri": "https://evil.example/"},
    ):
        response = rp.browser.post(
            "/logout", data={"csrf_token": csrf_from(page), "confirm": "yes", **data}
        )
        _assert_refused_and_still_signed_in(rp, response, tokens)


def test_unknown_client_id_with_post_logout_uri_is_refused(provider):
    provider.user()
    rp = provider.rp(post_logout=["https://rp.example/bye"])
    tokens = rp.tokens()
    response = rp.browser.get(
        "/logout?client_id=no-such-client&post_logout_redirect_uri=https://rp.example/bye"
    )
    _assert_refused_and_still_signed_in(rp, response, tokens)


def test_another_clients_post_logout_uri_is_refused(provider):
    """The hint names client A; the address belongs to client B."""
    provider.user()
    rp = provider.rp(post_logout=["https://rp.example/bye"])
    other = provider.rp(post_logout=["https://other.example/bye"])
    tokens = rp.tokens()
    response = rp.browser.get(
        f"/logout?id_token_hint={tokens['id_token']}"
        "&post_logout_redirect_uri=https://other.example/bye"
    )
    _assert_refused_and_still_signed_in(rp, response, tokens)
    response = rp.browser.get(
        f"/logout?id_token_hint={tokens['id_token']}"
        f"&client_id={other.client_id}"
        "&post_logout_redirect_uri=https://other.example/bye"
    )
    _assert_refused_and_still_signed_in(rp, response, tokens)


@pytest.mark.parametrize(
    "name", ["post_logout_redirect_uri", "client_id", "id_token_hint", "state"]
)
def test_logout_parameter_sent_twice_is_refused(provider, name):
    provider.user()
    rp = provider.rp(post_logout=["https://rp.example/bye"])
    tokens = rp.tokens()
    params = [
        ("id_token_hint", tokens["id_token"]),
        ("client_id", rp.client_id),
        ("post_logout_redirect_uri", "https://rp.example/bye"),
        ("state", "s6"),
    ]
    extra = {
        "post_logout_redirect_uri": "https://evil.example/",
        "client_id": "x",
        "id_token_hint": "x.y.z",
        "state": "s7",
    }[name]
    response = rp.browser.get("/logout?" + urlencode([*params, (name, extra)]))
    _assert_refused_and_still_signed_in(rp, response, tokens)


@pytest.mark.parametrize(
    "params",
    [
        {"post_logout_redirect_uri": "https://rp.example/bye\x00"},
        {"client_id": "x\x00", "post_logout_redirect_uri": "https://rp.example/bye"},
        {"state": "s\x00"},
    ],
    ids=["nul-uri", "nul-client", "nul-state"],
)
def test_logout_with_nul_bytes_is_a_400_and_no_sign_out(provider, params):
    provider.user()
    rp = provider.rp(post_logout=["https://rp.example/bye"])
    tokens = rp.tokens()
    response = rp.browser.get(
        "/logout?" + urlencode({"id_token_hint": tokens["id_token"], **params})
    )
    assert response.status_code == 400 and "Location" not in response.headers
    assert rp.code_from(rp.browser.get(rp.authorize_url()))


def test_logout_session_is_shared_across_workers(provider, make_app, settings):
    """A second app on the same database (another worker) sees the session as ended."""
    provider.user()
    rp = provider.rp()
    tokens = rp.tokens()
    worker2 = make_app().test_client()
    cookie = rp.browser.get_cookie("idp_session")
    worker2.set_cookie("idp_session", cookie.value, domain=cookie.domain)
    rp.browser.get(f"/logout?id_token_hint={tokens['id_token']}")
    response = worker2.get(rp.authorize_url())
    assert "/login" in response.location


def test_garbage_id_token_hint_is_an_error_page(client):
    response = client.get("/logout?id_token_hint=not.a.jwt")
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_oidcc_rp_initiated_logout_no_params(provider):
    """Nothing says who asks: the user is asked to confirm, and stays signed in until then."""
    provider.user()
    rp = provider.rp()
    rp.tokens()
    page = rp.browser.get("/logout")
    assert page.status_code == 200
    assert 'name="confirm"' in page.get_data(as_text=True)
    assert rp.code_from(rp.browser.get(rp.authorize_url(prompt="none")))


def test_oidcc_rp_initiated_logout_no_state(provider):
    provider.user()
    rp = provider.rp(post_logout=["https://rp.example/bye"])
    tokens = rp.tokens()
    response = rp.browser.get(
        "/logout?"
        + urlencode(
            {
                "id_token_hint": tokens["id_token"],
                "post_logout_redirect_uri": "https://rp.example/bye",
            }
        )
    )
    assert response.status_code == 302
    assert response.location == "https://rp.example/bye"


def test_oidcc_rp_initiated_logout_modified_id_token_hint(provider):
    """A hint whose signature does not verify is refused: no sign-out, no redirect."""
    provider.user()
    rp = provider.rp(post_logout=["https://rp.example/bye"])
    tokens = rp.tokens()
    head, body, signature = tokens["id_token"].split(".")
    forged = f"{head}.{body}.{('A' if signature[0] != 'A' else 'B') + signature[1:]}"
    response = rp.browser.get(
        "/logout?"
        + urlencode(
            {
                "id_token_hint": forged,
                "post_logout_redirect_uri": "https://rp.example/bye",
                "state": "s1",
            }
        )
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert rp.code_from(rp.browser.get(rp.authorize_url(prompt="none")))
