"""The sign-in page: wrong user and wrong password look the same, and every attempt is logged."""

from __future__ import annotations

import re

import sqlalchemy as sa

from idp.models import SignIn
from tests.conftest import PASSWORD


def _rows(app):
    from idp.extensions import db

    with app.app_context():
        return list(db.session.scalars(sa.select(SignIn).order_by(SignIn.created_at)))


def test_wrong_password_and_unknown_user_are_indistinguishable(provider):
    provider.user()
    rp = provider.rp()
    wrong_pw = rp.sign_in("alice", "nope nope nope")
    rp2 = provider.rp()
    no_user = rp2.sign_in("mallory", "nope nope nope")
    assert wrong_pw.status_code == no_user.status_code == 401
    a = wrong_pw.get_data(as_text=True)
    b = no_user.get_data(as_text=True)
    assert "Your account or password is incorrect." in a and "50126" in a
    assert _mask(a, "alice") == _mask(b, "mallory")


def _mask(html, username):
    """The page with the per-request values (CSRF token, flow key, typed name) masked."""
    html = re.sub(r'value="[^"]*"', 'value=""', html.replace(username, "NAME"))
    return re.sub(r"flow=[\w-]+", "flow=", html)


def test_each_attempt_writes_one_row(provider):
    user_id = provider.user()
    rp = provider.rp()
    rp.sign_in("alice", "wrong password")
    rp.tokens()
    rows = _rows(provider.app)
    assert [(r.outcome, r.error_code, r.kind) for r in rows] == [
        ("failure", 50126, "password"),
        ("success", None, "password"),
    ]
    assert rows[1].user_id == user_id and rows[1].client_id == rp.client_id
    assert rows[0].correlation_id and rows[1].correlation_id
    assert rows[0].ip == "127.0.0.1"


def test_sso_reuse_is_logged_too(provider):
    provider.user()
    rp = provider.rp()
    rp.tokens()
    rp.browser.get(rp.authorize_url())
    assert [r.kind for r in _rows(provider.app)] == ["password", "sso"]


def test_password_never_in_logs(provider, caplog):
    provider.user()
    rp = provider.rp()
    with caplog.at_level("DEBUG"):
        rp.sign_in("alice", "hunter2-secret-guess")
        tokens = rp.tokens()
        rp.redeem("replayed-code")
    text = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    for secret in (
        "hunter2-secret-guess",
        PASSWORD,
        tokens["access_token"],
        tokens["refresh_token"],
        rp.secret,
    ):
        assert secret not in text


def test_disabled_user_cannot_sign_in(provider):
    from idp.extensions import db
    from idp.models import User

    user_id = provider.user()
    with provider.app.app_context():
        db.session.get(User, user_id).disabled = True
        db.session.commit()
    rp = provider.rp()
    assert rp.sign_in().status_code == 401


def test_hash_is_upgraded_on_sign_in(provider, make_app, settings):
    """verify_and_update: a hash made with weaker parameters is replaced at the next sign-in."""
    from dataclasses import replace

    from idp.extensions import db
    from idp.models import User

    user_id = provider.user()
    stronger = replace(settings, passwords=replace(settings.passwords, argon2_time_cost=2))
    app2 = make_app(stronger)
    from tests.conftest import Provider

    rp = Provider(app2).rp()
    rp.tokens()
    with app2.app_context():
        assert "t=2" in db.session.get(User, user_id).password_hash


def test_session_cookies_survive_a_secret_key_rotation_only_while_the_old_key_is_kept(
    provider, make_app, settings
):
    """The session cookie is signed with secret_key and still read under old_secret_keys:
    a browser signed in before the rotation keeps its session, and loses it once the old
    key is dropped."""
    from dataclasses import replace

    provider.user()
    rp = provider.rp()
    rp.tokens()
    cookie = rp.browser.get_cookie("idp_session")
    assert cookie is not None

    def authorize_with_that_cookie(app):
        browser = app.test_client()
        browser.set_cookie("idp_session", cookie.value)
        return browser.get(rp.authorize_url())

    rotated = make_app(
        replace(settings, secret_key="n" * 40, old_secret_keys=(settings.secret_key,))
    )
    assert rp.code_from(authorize_with_that_cookie(rotated))
    dropped = make_app(replace(settings, secret_key="n" * 40))
    assert "/login" in authorize_with_that_cookie(dropped).location
