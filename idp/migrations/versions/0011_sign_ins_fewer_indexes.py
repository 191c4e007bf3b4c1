"""sign_ins: drop the indexes on `ip` and on `user_id` alone

Each is the first column of a composite index made later (`ix_sign_ins_ip_created`,
`ix_sign_ins_user_created`), which serves every lookup the single-column one did, the
foreign key's included. Every sign-in attempt, refused guesses too, inserts a row and
updated both: two B-tree pages fewer to write and commit per attempt.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 21:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_sign_ins_ip", table_name="sign_ins")
    op.drop_index("ix_sign_ins_user_id", table_name="sign_ins")


def downgrade() -> None:
    op.create_index("ix_sign_ins_user_id", "sign_ins", ["user_id"])
    op.create_index("ix_sign_ins_ip", "sign_ins", ["ip"])
