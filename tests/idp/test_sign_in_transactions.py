"""A sign-in's writes: each step commits once, and a code is issued only with its log row."""

from __future__ import annotations

import collections
from typing import Any

import pytest
import sqlalchemy as sa
from flask import has_request_context, request

from tests.conftest import PASSWORD, csrf_from


def _commits_per_step(app: Any, monkeypatch: pytest.MonkeyPatch) -> collections.Counter[str]:
    """Counts the commits of a connection that wrote since its last (a read-only
    connection's COMMIT is none), by the request that made them: SQLAlchemy's statements
    and Lean's, on any connection."""
    from idp.extensions import db
    from idp.leansql import _OWN, Lean

    counts: collections.Counter[str] = collections.Counter()
    wrote: set[int] = set()
    engine = _engine(app)

    @sa.event.listens_for(engine, "before_cursor_execute")
    def statement(conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if sql.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            wrote.add(id(conn))

    lean_execute = Lean.execute

    def lean_write(self: Lean, params: Any) -> None:
        wrote.add(id(_OWN.get() or db.session.connection()))
        lean_execute(self, params)

    monkeypatch.setattr(Lean, "execute", lean_write)

    @sa.event.listens_for(engine, "commit")
    def commit(conn: Any) -> None:
        if id(conn) in wrote and has_request_context():
            counts[f"{request.method} {request.path}"] += 1
        wrote.discard(id(conn))

    return counts


def test_each_step_of_a_sign_in_commits_once(app, provider, monkeypatch):
    provider.user()
    rp = provider.rp()
    rp.tokens()  # a warm app: nothing of the first request's set-up is counted
    commits = _commits_per_step(app, monkeypatch)
    rp.browser = app.test_client()  # a new browser: no session yet
    first = rp.browser.get(rp.authorize_url())
    assert "/login" in first.location
    assert commits == {"GET /authorize": 1}
    commits.clear()
    page = rp.browser.get(first.location)
    assert commits == {}
    answer = rp.browser.post(
        first.location,
        data={"csrf_token": csrf_from(page), "username": "alice", "password": PASSWORD},
    )
    # The password's answer is the code: one commit holds the session, the counters, the
    # code, the learned sign-in, the ended flow and its log row (made while the request
    # goes on as its GET of /authorize).
    assert sum(commits.values()) == 1
    code = rp.code_from(answer)
    commits.clear()
    assert rp.redeem(code).status_code == 200
    assert commits == {"POST /token": 1}


def test_a_code_is_issued_with_its_log_row_or_not_at_all(app, provider, monkeypatch):
    from idp import signin_log
    from idp.extensions import db
    from idp.models import AuthorizationCode, SignIn, UserHistory

    user_id = provider.user()
    rp = provider.rp()
    real = signin_log._INSERT

    class FailingSuccessRow:
        def execute(self, row: dict[str, Any]) -> Any:
            if row["outcome"] == "success":
                raise RuntimeError("the sign-in log is unavailable")
            return real.execute(row)

    monkeypatch.setattr(signin_log, "_INSERT", FailingSuccessRow())
    assert rp.sign_in().status_code == 500
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuthorizationCode)) == 0
        assert db.session.get(UserHistory, user_id) is None
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SignIn)) == 0
    monkeypatch.setattr(signin_log, "_INSERT", real)
    # Nor was the session started: the browser's next try signs in again.
    again = rp.browser.get(rp.authorize_url())
    assert "/login" in again.location
    assert rp.code_from(rp.submit_login(again.location, "alice", PASSWORD))


def test_a_signed_in_browser_gets_its_code_in_one_commit_and_no_flow_row(
    app, provider, monkeypatch
):
    from idp.extensions import db
    from idp.models import AuthFlowRow, SignIn

    provider.user()
    rp = provider.rp()
    rp.tokens()
    commits = _commits_per_step(app, monkeypatch)
    inserted: list[str] = []

    @sa.event.listens_for(_engine(app), "before_cursor_execute")
    def flow_writes(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if "auth_flows" in sql and not sql.lstrip().upper().startswith("SELECT"):
            inserted.append(sql.split(None, 1)[0])

    assert rp.code_from(rp.browser.get(rp.authorize_url()))
    assert commits == {"GET /authorize": 1}
    # The flow began and ended in this request: it was never written.
    assert inserted == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuthFlowRow)) == 0
        kinds = db.session.scalars(sa.select(SignIn.kind).order_by(SignIn.created_at)).all()
        assert kinds == ["password", "sso"]


def _engine(app: Any) -> Any:
    from idp.extensions import db

    with app.app_context():
        return db.engine


def test_two_passwords_racing_on_one_flow_get_one_code(app, provider, monkeypatch):
    """A flow ends once: the same password posted twice at the same moment (a copied
    cookie, a double click) passes both times, and both go on to the code, but only the
    request that ends the flow keeps its code; the other's session, code, learned sign-in
    and log row are rolled back, and it shows the expired page."""
    import threading

    from idp.extensions import db
    from idp.models import AuthorizationCode, SignIn, SsoSession
    from idp.services import services
    from tests.conftest import REDIRECT_URI

    provider.user()
    rp = provider.rp()
    login = rp.browser.get(rp.authorize_url()).location
    form = {"csrf_token": csrf_from(rp.browser.get(login)), "username": "alice"}
    browsers = []
    for _ in range(2):
        browser = app.test_client()
        for name in ("idp_session", "idp_device"):
            browser.set_cookie(name, rp.browser.get_cookie(name).value)
        browsers.append(browser)
    both = threading.Barrier(2)
    hasher = services(app).passwords
    verify = hasher.verify

    def at_once(*args: Any, **kwargs: Any) -> Any:
        verified = verify(*args, **kwargs)
        both.wait(timeout=10)  # both have read the flow and passed the password
        return verified

    monkeypatch.setattr(hasher, "verify", at_once)
    answers: list[Any] = []
    threads = [
        threading.Thread(
            target=lambda b=b: answers.append(b.post(login, data={**form, "password": PASSWORD}))
        )
        for b in browsers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(a.status_code for a in answers) == [302, 400]
    (won,) = [a for a in answers if a.status_code == 302]
    assert won.location.startswith(REDIRECT_URI)
    (lost,) = [a for a in answers if a.status_code == 400]
    assert "This sign-in has expired" in lost.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuthorizationCode)) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SsoSession)) == 1
        outcomes = db.session.scalars(sa.select(SignIn.outcome).where(SignIn.kind == "password"))
        assert sorted(outcomes) == ["success"]
    assert rp.redeem(rp.code_from(won)).status_code == 200


def test_the_password_post_replayed_after_its_code_is_refused(app, provider):
    """The flow ended with the code its POST answered: the same POST again (the back
    button, a copied request) shows the expired page and issues nothing."""
    from idp.extensions import db
    from idp.models import AuthorizationCode

    provider.user()
    rp = provider.rp()
    login = rp.browser.get(rp.authorize_url()).location
    form = {
        "csrf_token": csrf_from(rp.browser.get(login)),
        "username": "alice",
        "password": PASSWORD,
    }
    assert rp.code_from(rp.browser.post(login, data=form))
    again = rp.browser.post(login, data=form)
    assert again.status_code == 400
    assert "This sign-in has expired" in again.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuthorizationCode)) == 1


def test_a_client_deleted_while_the_password_is_typed_gets_a_page_not_a_code(app, provider):
    """The password's POST goes on with the authorization request as it stands: a client
    deleted meanwhile is invalid_client on a page (no redirect to a URI no longer
    registered), and nothing of the sign-in is kept."""
    from idp.clients import delete_client, query_client
    from idp.extensions import db
    from idp.models import AuthorizationCode, SsoSession

    provider.user()
    rp = provider.rp()
    login = rp.browser.get(rp.authorize_url()).location
    form = {"csrf_token": csrf_from(rp.browser.get(login)), "username": "alice"}
    with app.app_context():
        delete_client(query_client(rp.client_id))
    answer = rp.browser.post(login, data={**form, "password": PASSWORD})
    assert answer.status_code == 400
    page = answer.get_data(as_text=True)
    assert "This sign-in link is not valid" in page and "invalid_client" in page
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuthorizationCode)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SsoSession)) == 0
