"""bench/signin_cost.py: it runs the whole sign-in, counts what it sends to the database per
step, and prints CPU figures (on SQLite and, with IDP_TEST_DATABASE_URL, PostgreSQL)."""

from __future__ import annotations

from typing import Any

import signin_cost


def test_a_sign_in_is_run_measured_and_its_statements_counted(
    database_url: str, tmp_path: Any
) -> None:
    from idp.extensions import db

    app, rp = signin_cost.build(database_url, str(tmp_path))
    try:
        steps = signin_cost.statements(app, rp)
        # /authorize stores its flow; the password's POST starts the session, then goes on
        # as /authorize and issues the code: one commit each.
        assert steps["GET /authorize"].count("COMMIT") == 1
        assert "INSERT INTO auth_flows (id," in steps["GET /authorize"]
        assert not any(s.startswith("INSERT INTO oauth2_codes") for s in steps["GET /authorize"])
        assert "COMMIT" not in steps["POST /login"]
        assert any(s.startswith("INSERT INTO sso_sessions") for s in steps["POST /login"])
        resumed = steps["POST /login, going on as GET /authorize"]
        assert resumed.count("COMMIT") == 1 and resumed[-1] == "COMMIT"
        assert any(s.startswith("INSERT INTO oauth2_codes") for s in resumed)
        assert steps["POST /token"][-1] == "COMMIT"
        figures = signin_cost.cpu_per_sign_in(app, rp, sign_ins=2, batches=2)
        assert len(figures) == 2 and all(f > 0 for f in figures)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_the_command_prints_the_figure(capsys: Any) -> None:
    assert signin_cost.main(["--sign-ins", "2", "--batches", "1", "--statements"]) == 0
    out = capsys.readouterr().out
    assert "POST /login: " in out
    assert "SQLite: " in out and "ms of CPU a sign-in (median of 1 batches of 2" in out
