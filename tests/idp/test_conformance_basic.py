"""The OpenID Foundation's Basic OP plan modules that no feature test already carries.

Each test follows its module's procedure against the app over HTTP; the other modules of
the plan live beside the feature they exercise (grep for `test_oidcc_`).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import jwt
import pytest
import sqlalchemy as sa

from tests.conftest import ISSUER, REDIRECT_URI


def _query(response):
    assert response.status_code == 302, response.get_data(as_text=True)
    return parse_qs(urlparse(response.location).query)


def test_oidcc_response_type_missing(provider):
    rp = provider.rp()
    response = rp.browser.get(rp.authorize_url(response_type=None))
    # Either an error to the registered redirect URI or an error page; never a code.
    if response.status_code == 302:
        assert response.location.startswith(REDIRECT_URI)
        params = _query(response)
        assert params["error"] == ["invalid_request"] or params["error"] == [
            "unsupported_response_type"
        ]
        assert "code" not in params
        assert params["iss"] == [ISSUER]
    else:
        assert response.status_code == 400
        assert "response_type" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "extra",
    [
        {"scope": "email openid"},
        {"display": "page"},
        {"display": "popup"},
        {"ui_locales": "se"},
        {"claims_locales": "se"},
        {"extra": "foobar"},
    ],
    ids=[
        "oidcc-ensure-other-scope-order-succeeds",
        "oidcc-display-page",
        "oidcc-display-popup",
        "oidcc-ui-locales",
        "oidcc-claims-locales",
        "oidcc-ensure-request-with-unknown-parameter-succeeds",
    ],
)
def test_oidcc_accepted_parameters(provider, extra):
    """Modules whose request adds a parameter the provider may ignore but must not refuse."""
    user_id = provider.user()
    rp = provider.rp()
    tokens = rp.tokens(**extra)
    assert rp.verify_id_token(tokens["id_token"])["sub"] == user_id


def test_oidcc_max_age_10000(provider):
    provider.user()
    rp = provider.rp()
    first = rp.verify_id_token(rp.tokens()["id_token"])
    # A second authorization with a generous max_age reuses the session: no password page.
    again = rp.browser.get(rp.authorize_url(max_age="10000"))
    claims = rp.verify_id_token(rp.redeem(rp.code_from(again)).get_json()["id_token"])
    assert claims["auth_time"] == first["auth_time"]


def test_oidcc_id_token_hint(provider):
    provider.user()
    rp = provider.rp()
    first = rp.tokens()
    # prompt=none with the ID token as hint: the same user, silently.
    response = rp.browser.get(rp.authorize_url(prompt="none", id_token_hint=first["id_token"]))
    tokens = rp.redeem(rp.code_from(response)).get_json()
    assert (
        rp.verify_id_token(tokens["id_token"])["sub"]
        == rp.verify_id_token(first["id_token"])["sub"]
    )


def test_oidcc_codereuse_30seconds(provider):
    from idp.extensions import db
    from idp.models import AuthorizationCode

    provider.user()
    rp = provider.rp()
    code = rp.code_from(rp.sign_in())
    tokens = rp.redeem(code).get_json()
    with provider.app.app_context():
        # The first redemption happened 30 seconds ago.
        db.session.execute(
            sa.update(AuthorizationCode)
            .where(AuthorizationCode.code == code)
            .values(used_at=AuthorizationCode.used_at - 30)
        )
        db.session.commit()
    second = rp.redeem(code)
    assert second.status_code == 400
    assert second.get_json()["error"] == "invalid_grant"
    userinfo = provider.app.test_client().get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 401


def test_oidcc_idtoken_signature(provider):
    provider.user()
    rp = provider.rp()
    id_token = rp.tokens()["id_token"]
    header = jwt.get_unverified_header(id_token)
    assert header["alg"] == "RS256"
    keys = provider.app.test_client().get("/jwks.json").get_json()["keys"]
    assert header["kid"] in {key["kid"] for key in keys}
    assert rp.verify_id_token(id_token)["iss"] == ISSUER
    # A token whose signature was tampered with does not verify.
    head, body, signature = id_token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(jwt.InvalidSignatureError):
        rp.verify_id_token(f"{head}.{body}.{flipped}")
