"""risk_history: an index on `at`

The overview's headline counts risks closed in a period (`at` between two times, every
user) and the admin API lists the history newest first: without an index on `at` both
read the whole table.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 18:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_risk_history_at", "risk_history", ["at"])


def downgrade() -> None:
    op.drop_index("ix_risk_history_at", table_name="risk_history")
