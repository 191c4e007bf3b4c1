"""Alembic migrations: they build exactly the models' schema and upgrade populated databases."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from idp.extensions import db
from idp.migrate import check_current


def test_migrations_match_models(database_url):
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    engine.dispose()
    assert diff == []
    assert check_current(database_url) is None


def test_upgrade_keeps_existing_rows(tmp_path):
    from idp.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (id, username, groups, password_hash, password_changed_at, "
                "password_must_change, created_at, disabled) VALUES ('u1', 'old', '[]', 'h', "
                "CURRENT_TIMESTAMP, 0, CURRENT_TIMESTAMP, 0)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO sign_ins (id, created_at, correlation_id, kind, "
                "outcome) VALUES ('s1', CURRENT_TIMESTAMP, 'c', 'password', "
                "'success')"
            )
        )
    assert "schema is at 0001" in (check_current(url) or "")
    upgrade(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT username FROM users")).one() == ("old",)
        assert (
            conn.execute(sa.text("SELECT risk_level_aggregated FROM sign_ins")).scalar() == "none"
        )
    engine.dispose()
    assert check_current(url) is None
