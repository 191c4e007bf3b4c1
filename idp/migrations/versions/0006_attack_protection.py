"""attack protection: shared counters, one row per recovery code, who rotated a token

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 02:10:00
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attack_counters",
        sa.Column("key", sa.String(length=200), primary_key=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_attack_counters_expires_at", "attack_counters", ["expires_at"])
    codes = op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "user_id",
            sa.String(length=36),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("code_hash", sa.String(length=128), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_recovery_codes_user_id", "recovery_codes", ["user_id"])
    # Each code of the old JSON list becomes its own row, claimable once.
    conn = op.get_bind()
    rows = []
    for user_id, stored in conn.execute(sa.text("SELECT id, recovery_code_hashes FROM users")):
        hashes = json.loads(stored) if isinstance(stored, str) else (stored or [])
        rows += [{"user_id": user_id, "code_hash": h} for h in hashes]
    if rows:
        op.bulk_insert(codes, rows)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("recovery_code_hashes")
    with op.batch_alter_table("oauth2_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("refresh_token_rotated_by", sa.String(length=64), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("oauth2_tokens", schema=None) as batch_op:
        batch_op.drop_column("refresh_token_rotated_by")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("recovery_code_hashes", sa.JSON(), nullable=False, server_default="[]")
        )
    op.drop_index("ix_recovery_codes_user_id", table_name="recovery_codes")
    op.drop_table("recovery_codes")
    op.drop_index("ix_attack_counters_expires_at", table_name="attack_counters")
    op.drop_table("attack_counters")
