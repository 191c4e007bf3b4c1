"""server-side sign-in flows, session handles, no unproven TOTP secrets

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "auth_flows",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("browser", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_auth_flows_expires_at", "auth_flows", ["expires_at"])
    with op.batch_alter_table("sso_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handle_hash", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_sso_sessions_handle_hash", ["handle_hash"], unique=True)
    # Sessions from before had their id as the cookie's handle; they end with the upgrade.
    op.execute("UPDATE sso_sessions SET revoked_at = CURRENT_TIMESTAMP WHERE revoked_at IS NULL")
    # A secret shown on the registration page but never proven is nobody's second factor.
    op.execute("UPDATE users SET totp_secret = NULL WHERE totp_registered_at IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("sso_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sso_sessions_handle_hash")
        batch_op.drop_column("handle_hash")
    op.drop_index("ix_auth_flows_expires_at", table_name="auth_flows")
    op.drop_table("auth_flows")
