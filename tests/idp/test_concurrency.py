"""Concurrent sign-ins across two workers on one database lose no sign-in log row."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from idp.models import SignIn
from tests.conftest import PASSWORD, Provider


def test_concurrent_attempts_all_logged(make_app, settings):
    worker1 = make_app()
    worker2 = make_app()
    Provider(worker1).user("alice")
    rps = [Provider(app).rp() for app in (worker1, worker2) for _ in range(3)]
    barrier = threading.Barrier(len(rps))
    statuses: list[int] = []

    def attempt(index: int) -> None:
        rp = rps[index]
        login = rp.browser.get(rp.authorize_url()).location
        barrier.wait()
        password = PASSWORD if index % 2 else "wrong password"
        statuses.append(rp.submit_login(login, "alice", password).status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(rps))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [302, 302, 302, 401, 401, 401]
    from idp.extensions import db

    with worker1.app_context():
        rows = db.session.execute(
            sa.select(SignIn.outcome, sa.func.count()).group_by(SignIn.outcome)
        ).all()
    assert dict(rows) == {"success": 3, "failure": 3}


def test_one_refresh_token_raced_on_two_workers_is_spent_once(make_app, settings):
    """Six requests present one refresh token at once, three to each worker: one gets new
    tokens, the others invalid_grant (the same client within seconds: a race, not theft, so
    the winner's new refresh token still works), and one token row is added."""
    from idp.extensions import db
    from idp.models import Token

    worker1, worker2 = make_app(), make_app()
    Provider(worker1).user("alice")
    rp = Provider(worker1).rp()
    tokens = rp.tokens()
    clients = [rp, rp, rp]
    other = Provider(worker2).rp()
    other.client_id, other.secret = rp.client_id, rp.secret
    clients += [other, other, other]
    barrier = threading.Barrier(len(clients))
    answers: list[tuple[int, dict]] = []

    def refresh(index: int) -> None:
        barrier.wait()
        answer = clients[index].token_request(
            {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        )
        answers.append((answer.status_code, answer.get_json()))

    threads = [threading.Thread(target=refresh, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(status for status, _ in answers) == [200, 400, 400, 400, 400, 400]
    assert {body["error"] for status, body in answers if status == 400} == {"invalid_grant"}
    (won,) = [body for status, body in answers if status == 200]
    with worker1.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Token)) == 2
    again = rp.token_request({"grant_type": "refresh_token", "refresh_token": won["refresh_token"]})
    assert again.status_code == 200, again.get_json()
