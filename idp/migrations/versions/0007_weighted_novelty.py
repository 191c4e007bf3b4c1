"""weighted novelty: when each sign-in property was last used, and population counts

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("risk_user_features", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True))
    # A property's last use is not known for history learned before this revision; its
    # first use is the safe stand-in (it can only make a property look older).
    op.execute("UPDATE risk_user_features SET last_seen = first_seen")
    # How many users have a value: a new network nobody else uses weighs more.
    op.create_index("ix_risk_user_features_kind_value", "risk_user_features", ["kind", "value"])
    op.create_table(
        "risk_novelty_counts",
        sa.Column("name", sa.String(length=48), primary_key=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("risk_novelty_counts")
    op.drop_index("ix_risk_user_features_kind_value", table_name="risk_user_features")
    with op.batch_alter_table("risk_user_features", schema=None) as batch_op:
        batch_op.drop_column("last_seen")
