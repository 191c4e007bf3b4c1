"""A sign-in's writes: each step commits once, and a code is issued only with its log row."""

from __future__ import annotations

import collections
from typing import Any

import pytest
import sqlalchemy as sa
from flask import has_request_context, request


def _commits_per_step(app: Any, monkeypatch: pytest.MonkeyPatch) -> collections.Counter[str]:
    """Counts the commits that follow a write (a read-only connection's COMMIT is none), by
    the request that made them: SQLAlchemy's statements and Lean's, on any connection."""
    from idp.leansql import Lean

    counts: collections.Counter[str] = collections.Counter()
    wrote = [False]
    engine = _engine(app)

    @sa.event.listens_for(engine, "before_cursor_execute")
    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if sql.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            wrote[0] = True

    lean_execute = Lean.execute

    def lean_write(self: Lean, params: Any) -> None:
        wrote[0] = True
        lean_execute(self, params)

    monkeypatch.setattr(Lean, "execute", lean_write)

    @sa.event.listens_for(engine, "commit")
    def commit(_conn: Any) -> None:
        if wrote[0] and has_request_context():
            counts[f"{request.method} {request.path}"] += 1
        wrote[0] = False

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
    code = rp.code_from(rp.submit_login(first.location, "alice", "correct horse battery"))
    # The password page commits the session, the counters and the flow together; the
    # return to /authorize the code, the learned sign-in, the ended flow and its log row.
    assert commits == {"GET /authorize": 2, "POST /login": 1}
    assert rp.redeem(code).status_code == 200
    assert commits["POST /token"] == 1


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
    # The flow was not ended either: the browser's next try completes it.
    assert rp.code_from(rp.browser.get(rp.authorize_url()))


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


def test_two_requests_racing_on_one_flow_get_one_code(app, provider, monkeypatch):
    """A flow ends once: two GETs of its /authorize at the same moment (a copied cookie, a
    double click) both pass every check, but only the one that ends the flow keeps its
    code; the other's code, learned sign-in and log row are rolled back."""
    import threading

    from idp.extensions import authorization, db
    from idp.models import AuthorizationCode, SignIn
    from tests.conftest import PASSWORD, REDIRECT_URI, csrf_from

    provider.user()
    rp = provider.rp()
    login = rp.browser.get(rp.authorize_url()).location
    form = {"csrf_token": csrf_from(rp.browser.get(login)), "username": "alice"}
    back = rp.browser.post(login, data={**form, "password": PASSWORD})
    assert "/authorize" in back.location
    browsers = []
    for _ in range(2):
        browser = app.test_client()
        for name in ("idp_session", "idp_device"):
            browser.set_cookie(name, rp.browser.get_cookie(name).value)
        browsers.append(browser)
    both = threading.Barrier(2)
    issue = authorization.create_authorization_response

    def at_once(*args: Any, **kwargs: Any) -> Any:
        both.wait(timeout=10)  # both have read the flow and passed its checks
        return issue(*args, **kwargs)

    monkeypatch.setattr(authorization, "create_authorization_response", at_once)
    answers: list[Any] = []
    threads = [
        threading.Thread(target=lambda b=b: answers.append(b.get(back.location))) for b in browsers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(a.status_code for a in answers) == [302, 400]
    (won,) = [a for a in answers if a.status_code == 302]
    assert won.location.startswith(REDIRECT_URI)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuthorizationCode)) == 1
        outcomes = db.session.scalars(sa.select(SignIn.outcome).where(SignIn.kind == "password"))
        assert sorted(outcomes) == ["success"]
    assert rp.redeem(rp.code_from(won)).status_code == 200
