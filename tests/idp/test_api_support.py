"""Helpers shared by the admin API tests (this module holds no tests of its own)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tests.conftest import Provider
from tests.idp.conftest import LEAKED_PASSWORD, LONDON, TOR, StepUp

API = "/api/v1"


class AdminApi:
    """An admin program: a client-credentials client with its token, calling /api/v1."""

    def __init__(self, provider: Provider, scopes: tuple[str, ...] = ("idp.admin",)) -> None:
        rp = provider.rp(grant_types=["client_credentials"], scopes=list(scopes), redirect_uris=[])
        response = rp.token_request({"grant_type": "client_credentials"})
        assert response.status_code == 200, response.get_json()
        self.client_id = rp.client_id
        self.secret = rp.secret
        self.token = str(response.get_json()["access_token"])
        self.actor = f"client:{rp.client_id}"
        self.http = provider.app.test_client()

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def get(self, path: str, query: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("headers", self.headers())
        return self.http.get(API + path, query_string=query, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        kwargs.setdefault("headers", self.headers())
        if body is not None:
            kwargs["json"] = body
        return self.http.post(API + path, **kwargs)

    def value(self, path: str, query: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The `value` list of a 200 list response."""
        response = self.get(path, query)
        assert response.status_code == 200, response.get_json()
        return list(response.get_json()["value"])


def challenged_from_tor(stepup: StepUp, name: str = "alice") -> str:
    """A user with TOTP signs in over Tor and stops at the challenge: a medium, open detection."""
    user_id = stepup.user(name)
    stepup.register_totp(name)
    response = stepup.browser_rp(TOR).sign_in(name)
    assert "/mfa/verify" in response.location
    return str(user_id)


def leaked_password_user(stepup: StepUp, name: str = "bob") -> str:
    """A user with TOTP signs in with a leaked password: user risk high (leakedCredentials)."""
    user_id = stepup.user(name, LEAKED_PASSWORD)
    stepup.register_totp(name)
    response = stepup.browser_rp(LONDON).sign_in(name, LEAKED_PASSWORD)
    assert "/mfa/verify" in response.location
    return str(user_id)


def rows(provider: Provider, model: Any, **filters: Any) -> list[Any]:
    from idp.extensions import db

    with provider.app.app_context():
        return list(db.session.scalars(sa.select(model).filter_by(**filters)))


def failed_codes_user(stepup: StepUp, name: str = "alice") -> str:
    """A user with TOTP signs in over Tor and types five wrong codes: mfaFraud, medium user
    risk (the Tor detection itself raises only that sign-in's risk)."""
    from tests.idp.conftest import submit_code

    user_id = stepup.user(name)
    stepup.register_totp(name)
    rp = stepup.browser_rp(TOR)
    challenge = rp.sign_in(name)
    assert "/mfa/verify" in challenge.location
    for _ in range(5):
        assert submit_code(rp, challenge.location, "000000").status_code == 400
    return str(user_id)
