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
