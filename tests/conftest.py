"""Fixtures shared by the provider's tests: an app per database backend, a client, helpers."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
import pytest
import sqlalchemy as sa

from idp.config import PasswordSettings, Settings, demo_settings

PG_URL = os.environ.get("IDP_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]
ISSUER = "http://idp.test"
REDIRECT_URI = "https://rp.example/cb"
PASSWORD = "correct horse battery"
# Cheap argon2id parameters keep hundreds of sign-ins fast; production defaults are tested apart.
FAST_HASH = PasswordSettings(argon2_memory_kib=64, argon2_time_cost=1, argon2_parallelism=1)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated once with Alembic, copied for each test."""
    from idp.migrate import upgrade

    path = tmp_path_factory.mktemp("template") / "idp.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_schema_url() -> Any:
    """A private PostgreSQL schema for this test run, migrated once and dropped at the end."""
    if not PG_URL:
        yield None
        return
    from idp.migrate import upgrade

    schema = f"idp_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    upgrade(url)
    yield url
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def _truncate(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                sa.text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                    "AND tablename <> 'alembic_version'"
                )
            )
        ]
        if tables:
            conn.execute(
                sa.text(
                    "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
                )
            )
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, pg_schema_url: str | None
) -> str:
    if request.param == "sqlite":
        path = tmp_path / "idp.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    assert pg_schema_url is not None
    _truncate(pg_schema_url)
    return pg_schema_url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    base = demo_settings(str(tmp_path))
    # Protocol tests sign in users without TOTP; the step-up tests turn registration back on.
    policies = replace(
        base.policies, mfa_registration=replace(base.policies.mfa_registration, state="off")
    )
    return replace(
        base, issuer=ISSUER, database_url=database_url, passwords=FAST_HASH, policies=policies
    )


@pytest.fixture
def make_app(settings: Settings) -> Any:
    """Build an app; tests may pass changed settings or a clock."""
    from idp import create_app
    from idp.extensions import db

    apps = []

    def factory(custom: Settings | None = None, **kwargs: Any) -> Any:
        app = create_app(custom or settings, **kwargs)
        app.config["TESTING"] = True
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def db(app: Any) -> Any:
    from idp.extensions import db

    with app.app_context():
        yield db


class Provider:
    """Helpers that act as users, admins and relying parties against one app."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def user(self, name: str = "alice", password: str = PASSWORD, **kwargs: Any) -> Any:
        from idp.users import create_user

        with self.app.app_context():
            user = create_user(self.app, name, password, **kwargs)
            return user.id

    def rp(
        self,
        *,
        public: bool = False,
        redirect_uris: list[str] | None = None,
        grant_types: list[str] | None = None,
        scopes: list[str] | None = None,
        post_logout: list[str] | None = None,
    ) -> RelyingParty:
        from idp.clients import create_client

        with self.app.app_context():
            client, secret = create_client(
                "Test RP",
                redirect_uris=redirect_uris or [REDIRECT_URI],
                post_logout_redirect_uris=post_logout or [],
                public=public,
                grant_types=grant_types or [],
                scopes=scopes or [],
            )
            return RelyingParty(self.app, client.client_id, secret)


class RelyingParty:
    """A relying party with its own browser (test client) that runs the code flow."""

    def __init__(self, app: Any, client_id: str, secret: str | None) -> None:
        self.app = app
        self.client_id = client_id
        self.secret = secret
        self.browser = app.test_client()
        self.verifier = secrets.token_urlsafe(48)
        self.nonce = secrets.token_urlsafe(12)

    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def authorize_url(self, **params: Any) -> str:
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid profile email",
            "state": "st-123",
            "nonce": self.nonce,
            "code_challenge": self.challenge(),
            "code_challenge_method": "S256",
        }
        query.update(params)
        return "/authorize?" + urlencode({k: v for k, v in query.items() if v is not None})

    def sign_in(self, username: str = "alice", password: str = PASSWORD, **params: Any) -> Any:
        """Follow the flow through the sign-in page; return the final response."""
        response = self.browser.get(self.authorize_url(**params))
        if response.status_code == 302 and "/login" in response.location:
            response = self.submit_login(response.location, username, password)
        return response

    def submit_login(self, login_url: str, username: str, password: str) -> Any:
        page = self.browser.get(login_url)
        assert page.status_code == 200, page.get_data(as_text=True)
        response = self.browser.post(
            login_url,
            data={
                "csrf_token": csrf_from(page),
                "username": username,
                "password": password,
            },
        )
        if response.status_code == 302 and "/authorize" in response.location:
            response = self.browser.get(response.location)
        return response

    def code_from(self, response: Any) -> str:
        assert response.status_code == 302, response.get_data(as_text=True)
        assert response.location.startswith(REDIRECT_URI), response.location
        params = parse_qs(urlparse(response.location).query)
        assert params.get("state") == ["st-123"], params
        assert "code" in params, params
        return params["code"][0]

    def token_request(
        self, data: dict[str, Any], auth: str = "basic", ip: str | None = None
    ) -> Any:
        """POST to the token endpoint (from `ip` when given, as the client's server)."""
        http = self.app.test_client()
        if ip:
            http.environ_base["REMOTE_ADDR"] = ip
        headers = {}
        data = dict(data)
        if self.secret and auth == "basic":
            raw = f"{self.client_id}:{self.secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        elif self.secret and auth == "post":
            data.update(client_id=self.client_id, client_secret=self.secret)
        else:
            data.setdefault("client_id", self.client_id)
        return http.post("/token", data=data, headers=headers)

    def redeem(self, code: str, **extra: Any) -> Any:
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": self.verifier,
        }
        data.update(extra)
        return self.token_request({k: v for k, v in data.items() if v is not None})

    def tokens(
        self, username: str = "alice", password: str = PASSWORD, **params: Any
    ) -> dict[str, Any]:
        """The whole flow: sign in, redeem the code, return the token response."""
        response = self.redeem(self.code_from(self.sign_in(username, password, **params)))
        assert response.status_code == 200, response.get_data(as_text=True)
        return dict(response.get_json())

    def verify_id_token(self, id_token: str) -> dict[str, Any]:
        """Check the ID token with PyJWT against the published JWKS, as a real RP would;
        its times against the provider's clock (frozen in some tests), which a real RP
        shares as the wall clock."""
        from idp.services import services

        jwks = self.app.test_client().get("/jwks.json").get_json()
        kid = jwt.get_unverified_header(id_token)["kid"]
        key = next(jwt.PyJWK(k) for k in jwks["keys"] if k["kid"] == kid)
        claims = dict(
            jwt.decode(
                id_token,
                key.key,
                algorithms=["RS256"],
                audience=self.client_id,
                issuer=ISSUER,
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        )
        now = services(self.app).clock.now().timestamp()
        if not claims["iat"] <= now:
            raise jwt.ImmatureSignatureError("The token is not yet valid (iat)")
        if not now < claims["exp"]:
            raise jwt.ExpiredSignatureError("Signature has expired")
        return claims


def csrf_from(page: Any) -> str:
    html = page.get_data(as_text=True)
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


@pytest.fixture
def provider(app: Any) -> Provider:
    return Provider(app)
