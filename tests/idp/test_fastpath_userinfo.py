"""Userinfo answered in front of Flask (idp.fastpath): for every request, the same answer as
Flask's own, and only the common case answered there; refusals stay Flask's and exact."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, request, request_started

from idp.models import Client, Token, User
from tests.conftest import Provider

FORM = "application/x-www-form-urlencoded"


@dataclass
class World:
    """An app whose Flask path counts the userinfo requests it sees, a user with a full
    profile, a relying party and a fresh access token of theirs."""

    app: Any
    provider: Provider
    rp: Any
    user_id: str
    access: str
    reached_flask: list[str]

    def sql(self, statement: Any) -> None:
        from idp.extensions import db

        with self.app.app_context():
            db.session.execute(statement)
            db.session.commit()
            db.session.remove()

    def token(self, **values: Any) -> None:
        self.sql(sa.update(Token).where(Token.access_token == self.access).values(**values))

    def get(self, **kwargs: Any) -> Any:
        return self.app.test_client().get("/userinfo", **kwargs)

    def bearer(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.access}"}

    def answers(self, method: str = "GET", **kwargs: Any) -> tuple[Any, Any, bool]:
        """The app's answer, Flask's own answer to the same request (everything in front of
        Flask bypassed), and whether the first was given in front of Flask."""
        before = len(self.reached_flask)
        first = self.app.test_client().open("/userinfo", method=method, **kwargs)
        in_front = len(self.reached_flask) == before
        stack = self.app.wsgi_app
        self.app.wsgi_app = Flask.wsgi_app.__get__(self.app)
        try:
            second = self.app.test_client().open("/userinfo", method=method, **kwargs)
        finally:
            self.app.wsgi_app = stack
        assert len(self.reached_flask) == before + (1 if in_front else 2)
        return first, second, in_front


def flask_requests(app: Any) -> list[str]:
    """The methods of the userinfo requests Flask sees, as it starts each (before any hook,
    which may answer first)."""
    reached: list[str] = []

    def started(sender: Any, **extra: Any) -> None:
        if request.path == "/userinfo":
            reached.append(request.method)

    request_started.connect(started, app, weak=False)
    return reached


def make_world(
    app: Any,
    scope: str = "openid profile email",
    client_scopes: list[str] | None = None,
    **params: Any,
) -> World:
    from idp.claims import set_claims
    from idp.users import find_user

    reached = flask_requests(app)
    provider = Provider(app)
    user_id = provider.user("ada", groups=["staff", "ops"])
    with app.app_context():
        set_claims(
            find_user("ada"),
            {
                "name": "Zoë King",  # non-ASCII: escaped alike on both paths
                "given_name": "Zoë",
                "email": "ada@example.org",
                "email_verified": True,
                "phone_number": "+442079460000",
                "address.locality": "London",
            },
        )
    rp = provider.rp(scopes=client_scopes)
    tokens = rp.tokens("ada", scope=scope, **params)
    return World(app, provider, rp, user_id, tokens["access_token"], reached)


@pytest.fixture
def world(app: Any) -> World:
    return make_world(app)


def _now() -> int:
    return int(time.time())


def expire(w: World) -> None:
    w.token(issued_at=_now() - 86400)


def revoke(w: World) -> None:
    w.token(access_token_revoked_at=_now())


def revoke_refresh(w: World) -> None:
    # As a refresh does to the token it replaces: Authlib's OAuth2TokenMixin.is_revoked
    # counts either revocation against the access token.
    w.token(refresh_token_revoked_at=_now())


def disable_user(w: World) -> None:
    w.sql(sa.update(User).where(User.id == w.user_id).values(disabled=True))


def drop_openid(w: World) -> None:
    w.token(scope="profile email")


def sign_userinfo(w: World) -> None:
    from idp.extensions import db

    with w.app.app_context():
        client = db.session.scalar(sa.select(Client).filter_by(client_id=w.rp.client_id))
        client.set_client_metadata(
            {**client.client_metadata, "userinfo_signed_response_alg": "RS256"}
        )
        db.session.commit()
        db.session.remove()


def nothing(w: World) -> None:
    pass


def bearer(w: World) -> dict[str, Any]:
    return {"headers": w.bearer()}


# id, a change to the token, user or client, the request, whether it is answered in front
# of Flask, and the status both paths answer.
CASES: list[tuple[str, Callable[[World], None], Callable[[World], dict[str, Any]], bool, int]] = [
    ("valid", nothing, bearer, True, 200),
    ("expired", expire, bearer, False, 401),
    ("revoked", revoke, bearer, False, 401),
    ("refresh-revoked", revoke_refresh, bearer, False, 401),
    ("disabled-user", disable_user, bearer, False, 401),
    ("scope-without-openid", drop_openid, bearer, False, 403),
    ("signed-userinfo-client", sign_userinfo, bearer, False, 200),
    ("nul", nothing, lambda w: {"headers": w.bearer("a\x00b")}, False, 401),
    ("quotes", nothing, lambda w: {"headers": w.bearer(f'"{w.access}"')}, False, 401),
    ("non-ascii", nothing, lambda w: {"headers": w.bearer(w.access + "é")}, False, 401),
    ("too-long", nothing, lambda w: {"headers": w.bearer("x" * 600)}, False, 401),
    ("unknown", nothing, lambda w: {"headers": w.bearer("unknown-token-0123456789")}, False, 401),
    (
        "two-headers",
        nothing,
        lambda w: {"headers": [*w.bearer().items(), *w.bearer().items()]},
        False,
        401,
    ),
    (
        "lowercase-bearer",
        nothing,
        lambda w: {"headers": {"Authorization": f"bearer {w.access}"}},
        False,
        200,
    ),
    (
        "two-spaces",
        nothing,
        lambda w: {"headers": {"Authorization": f"Bearer  {w.access}"}},
        False,
        200,
    ),
    (
        "basic-scheme",
        nothing,
        lambda w: {"headers": {"Authorization": f"Basic {w.access}"}},
        False,
        401,
    ),
    ("no-token", nothing, lambda w: {}, False, 401),
    ("query-token", nothing, lambda w: {"query_string": {"access_token": w.access}}, False, 401),
    (
        "nul-in-query",
        nothing,
        lambda w: {"headers": w.bearer(), "query_string": {"scope": "a\x00"}},
        False,
        400,
    ),
    (
        "nul-in-get-body",
        nothing,
        lambda w: {"headers": w.bearer(), "data": {"x": "a\x00"}, "content_type": FORM},
        False,
        400,
    ),
    (
        "token-in-body",
        nothing,
        lambda w: {"method": "POST", "data": {"access_token": w.access}},
        False,
        200,
    ),
    ("post-header", nothing, lambda w: {"method": "POST", **bearer(w)}, False, 200),
    ("head", nothing, lambda w: {"method": "HEAD", **bearer(w)}, False, 200),
]


@pytest.mark.parametrize(
    ("case", "change", "make_request", "in_front", "status"),
    CASES,
    ids=[case[0] for case in CASES],
)
def test_answer_equals_flasks(world, case, change, make_request, in_front, status):
    change(world)
    kwargs = make_request(world)
    first, second, answered_in_front = world.answers(kwargs.pop("method", "GET"), **kwargs)
    assert answered_in_front is in_front
    assert first.status_code == second.status_code == status, first.get_data(as_text=True)
    assert first.get_data() == second.get_data()
    assert list(first.headers) == list(second.headers)


def test_claims_request_and_full_profile_in_front_of_flask(app):
    """Claims asked for by name (Core 5.5) come from the same function on both paths; the
    body is Flask's byte for byte (sorted keys, non-ASCII escaped)."""
    world = make_world(
        app,
        scope="openid address",
        claims=json.dumps({"userinfo": {"name": {"essential": True}, "phone_number": None}}),
    )
    first, second, in_front = world.answers(headers=world.bearer())
    assert in_front and first.status_code == 200
    assert first.get_data() == second.get_data()
    assert list(first.headers) == list(second.headers)
    assert first.get_json() == {
        "sub": world.user_id,
        "name": "Zoë King",
        "phone_number": "+442079460000",
        "address": {"locality": "London"},
    }
    assert b"\\u00eb" in first.get_data()


def test_every_profile_claim_in_front_of_flask(app):
    everything = ["openid", "profile", "email", "address", "phone", "groups"]
    world = make_world(app, scope=" ".join(everything), client_scopes=everything)
    first, second, in_front = world.answers(headers=world.bearer())
    assert in_front and first.get_data() == second.get_data()
    assert set(first.get_json()) >= {
        "sub",
        "name",
        "given_name",
        "preferred_username",
        "updated_at",
        "email",
        "email_verified",
        "address",
        "phone_number",
        "groups",
    }


def test_https_issuer_headers_in_front_of_flask(make_app, settings):
    """HSTS on an https issuer, as Flask's hook adds it (a token written directly: the
    test client keeps no Secure cookie over http, so no sign-in)."""
    from idp.extensions import db

    app = make_app(replace(settings, issuer="https://idp.example"))
    reached = flask_requests(app)
    provider = Provider(app)
    user_id = provider.user("ada")
    rp = provider.rp()
    with app.app_context():
        db.session.add(
            Token(
                client_id=rp.client_id,
                user_id=user_id,
                token_type="Bearer",
                access_token="written-directly-0123456789",
                scope="openid",
                issued_at=_now(),
                expires_in=3600,
            )
        )
        db.session.commit()
    world = World(app, provider, rp, user_id, "written-directly-0123456789", reached)
    first, second, in_front = world.answers(headers=world.bearer())
    assert in_front and first.status_code == 200
    assert first.headers["Strict-Transport-Security"] == "max-age=63072000"
    assert list(first.headers) == list(second.headers)


def test_tokens_of_two_users_get_their_own_claims(world):
    """A token answers for its own user only; a token changed by one character is no one's."""
    bob_id = world.provider.user("bob", email="bob@example.org")
    bob = world.provider.rp().tokens("bob")["access_token"]  # its own browser
    assert world.get(headers=world.bearer()).get_json()["sub"] == world.user_id
    mine = world.get(headers=world.bearer(bob)).get_json()
    assert mine["sub"] == bob_id and mine["email"] == "bob@example.org"
    # Not the last character: its low bits may be base64 padding that decoding drops.
    i = len(world.access) - 10
    forged = world.access[:i] + ("A" if world.access[i] != "A" else "B") + world.access[i + 1 :]
    before = len(world.reached_flask)
    answer = world.get(headers=world.bearer(forged))
    assert answer.status_code == 401 and len(world.reached_flask) == before + 1
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


def test_revoked_between_two_requests_is_refused_at_once(world):
    assert world.get(headers=world.bearer()).status_code == 200
    assert world.reached_flask == []
    basic = base64.b64encode(f"{world.rp.client_id}:{world.rp.secret}".encode()).decode()
    revoked = world.app.test_client().post(
        "/revoke", data={"token": world.access}, headers={"Authorization": f"Basic {basic}"}
    )
    assert revoked.status_code == 200
    answer = world.get(headers=world.bearer())
    assert answer.status_code == 401
    assert answer.get_json()["error"] == "invalid_token"
    assert world.reached_flask == ["GET"]


def test_expiry_follows_the_app_clock_to_the_second(make_app):
    from idp.clock import FrozenClock

    clock = FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    world = make_world(make_app(clock=clock))
    lifetime = world.app.config["OAUTH2_TOKEN_EXPIRES_IN"]["authorization_code"]
    clock.advance(seconds=lifetime)
    assert world.get(headers=world.bearer()).status_code == 200
    assert world.reached_flask == []
    clock.advance(seconds=1)
    assert world.get(headers=world.bearer()).status_code == 401
    assert world.reached_flask == ["GET"]


def test_logged_and_measured_like_flask_and_connections_returned(world, caplog):
    from idp.extensions import db
    from tests.idp.test_fastpath import requests_measured

    def count() -> float:
        return requests_measured("oauth.userinfo")

    before = count()
    with caplog.at_level(logging.INFO, logger="idp.request"):
        for _ in range(3):
            assert world.get(headers=world.bearer()).status_code == 200
    assert world.reached_flask == [] and count() == before + 3
    lines = [r for r in caplog.records if r.name == "idp.request"]
    assert [(r.method, r.path, r.status) for r in lines] == [("GET", "/userinfo", 200)] * 3
    assert all(r.request_id and r.duration_ms >= 0 for r in lines)
    assert world.access not in caplog.text
    with world.app.app_context():
        assert db.engine.pool.checkedout() == 0


def test_a_failed_read_leaves_the_answer_to_flask(world, monkeypatch, caplog):
    """A database error in front of Flask is logged and Flask answers (and reports what it
    meets itself); never an answer without the checks."""
    from idp import fastpath

    def broken(params: Any) -> Any:
        raise RuntimeError("database went away")

    monkeypatch.setattr(fastpath._USERINFO, "first", broken)
    with caplog.at_level(logging.WARNING, logger="idp.fastpath"):
        answer = world.get(headers=world.bearer())
    assert answer.status_code == 200 and answer.get_json()["sub"] == world.user_id
    assert world.reached_flask == ["GET"]
    assert "Flask answers" in caplog.text and world.access not in caplog.text
