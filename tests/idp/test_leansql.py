"""Reads on the driver's cursor (idp.leansql): the rows SQLAlchemy gives, in the session's
transaction, and a dead connection replaced as SQLAlchemy would replace it."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from idp.extensions import db
from idp.leansql import Lean
from idp.models import AuthFlowRow
from idp.services import services

FLOWS = AuthFlowRow.__table__
READ = sa.select(FLOWS.c.id, FLOWS.c.data, FLOWS.c.version, FLOWS.c.expires_at).where(
    FLOWS.c.kind == "lean-test", FLOWS.c.version >= sa.bindparam("version")
)


def test_rows_are_what_sqlalchemy_reads_with_the_same_types(app):
    lean = Lean(READ.order_by(FLOWS.c.version).limit(5))
    with app.app_context():
        now = services(app).clock.now()
        for version in (1, 2, 3):
            db.session.execute(
                sa.insert(FLOWS).values(
                    id=f"lean-{version}-" + "x" * 20,
                    kind="lean-test",
                    browser="b",
                    data={"n": version, "list": [1, "two"], "text": "é\u2028"},
                    version=version,
                    expires_at=now + timedelta(minutes=version),
                )
            )
        # Uncommitted rows: the same transaction sees them.
        rows = lean.rows({"version": 2})
        expected = db.session.execute(lean.statement, {"version": 2}).all()
        db.session.commit()
    assert [tuple(r) for r in rows] == [tuple(r) for r in expected]
    assert [r.data["n"] for r in rows] == [2, 3]
    assert rows[0].expires_at == now + timedelta(minutes=2)
    assert rows[0].expires_at.tzinfo is not None
    with app.app_context():
        assert lean.first({"version": 9}) is None


def test_expanding_parameters_are_refused(app):
    lean = Lean(sa.select(FLOWS.c.id).where(FLOWS.c.id.in_(sa.bindparam("ids", expanding=True))))
    with app.app_context(), pytest.raises(TypeError):
        lean.rows({"ids": ["a"]})


def test_a_dead_connection_is_replaced(app, settings):
    """As a server restart would (PostgreSQL), or a closed file handle (SQLite): the read
    fails once, the pool drops the connection, the next read gets a new one."""
    lean = Lean(READ)
    postgresql = settings.database_url.startswith("postgresql")
    with app.app_context():
        driver = db.session.connection().connection.driver_connection
        if postgresql:
            pid = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
            admin = sa.create_engine(settings.database_url)
            with admin.connect() as conn:
                conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            admin.dispose()
        else:
            driver.close()
        with pytest.raises(Exception, match="terminat|closed|connection"):
            lean.rows({"version": 1})
        db.session.remove()
    with app.app_context():
        assert lean.rows({"version": 1000}) == []
        assert db.session.connection().connection.driver_connection is not driver


def test_own_connection_commits_by_its_end_without_the_session(app):
    from idp import leansql

    insert = Lean(sa.insert(FLOWS), column_keys=[c.key for c in FLOWS.columns])
    count = Lean(sa.select(sa.func.count()).select_from(FLOWS).where(FLOWS.c.kind == "own"))

    def row(n):
        return {
            "id": f"own-{n}-" + "x" * 20,
            "kind": "own",
            "browser": "b",
            "data": {},
            "version": 1,
            "expires_at": services(app).clock.now(),
        }

    with app.app_context():
        with leansql.own_connection():
            insert.execute(row(1))
            leansql.commit()  # the session's commit is not this connection's
        assert count.first({})[0] == 1  # committed by the block's end
        assert db.session.scalar(count.statement) == 1
        with pytest.raises(RuntimeError), leansql.own_connection():
            insert.execute(row(2))
            raise RuntimeError("the answer failed after the INSERT")
        # SQLite's block is one transaction; PostgreSQL's statements commit as they run.
        kept = 1 if db.engine.dialect.name == "sqlite" else 2
        assert count.first({})[0] == kept
        db.session.rollback()


def test_a_connection_back_from_own_connection_runs_transactions_again(app, settings):
    """own_connection switches the driver to autocommit and back: a session that draws the
    same pooled connection next still rolls back what it wrote."""
    from idp import leansql

    count = Lean(sa.select(sa.func.count()).select_from(FLOWS).where(FLOWS.c.kind == "pool"))
    with app.app_context():
        with leansql.own_connection():
            assert count.first({})[0] == 0
            own = leansql._OWN.get().connection.driver_connection
        assert db.session.connection().connection.driver_connection is own  # the pool's one
        db.session.execute(
            sa.insert(FLOWS).values(
                id="pool-" + "x" * 20,
                kind="pool",
                browser="b",
                data={},
                version=1,
                expires_at=services(app).clock.now(),
            )
        )
        db.session.rollback()
        assert count.first({})[0] == 0


def test_own_connection_on_a_dead_connection_fails_once(app, settings):
    """A connection the server ended (PostgreSQL) or closed (SQLite) fails the block that
    draws it; the pool drops it and the next block reads on a new one."""
    from idp import leansql

    lean = Lean(READ)
    with app.app_context():
        with leansql.own_connection():
            own = leansql._OWN.get().connection.driver_connection
        if settings.database_url.startswith("postgresql"):
            admin = sa.create_engine(settings.database_url)
            with admin.connect() as conn:
                conn.execute(
                    sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": own.info.backend_pid}
                )
            admin.dispose()
        else:
            own.close()  # as a closed file handle would
        with pytest.raises(Exception, match="terminat|closed|connection"):
            with leansql.own_connection():
                lean.rows({"version": 1})
        with leansql.own_connection():
            assert lean.rows({"version": 1000}) == []
            assert leansql._OWN.get().connection.driver_connection is not own
