"""Refresh token rotation marker: tell a replayed rotated token from one revoked otherwise

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 02:56:00.089755
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("oauth2_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refresh_token_rotated_at", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oauth2_tokens", schema=None) as batch_op:
        batch_op.drop_column("refresh_token_rotated_at")
