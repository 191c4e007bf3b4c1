"""protocol completeness: profile claims, the claims parameter, consent, dynamic
registration and back-channel logout

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 06:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claims", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("email_verified", sa.Boolean(), nullable=True))
        batch_op.add_column(
            sa.Column("profile_updated_at", sa.DateTime(timezone=True), nullable=True)
        )
    op.execute("UPDATE users SET claims = '{}', email_verified = false")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("claims", existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column("email_verified", existing_type=sa.Boolean(), nullable=False)
    with op.batch_alter_table("oauth2_clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_party", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("registered_dynamically", sa.Boolean(), nullable=True))
        batch_op.add_column(
            sa.Column("registration_token_hash", sa.String(length=80), nullable=True)
        )
    # Every client registered before consent existed was the operator's own.
    op.execute("UPDATE oauth2_clients SET first_party = true, registered_dynamically = false")
    with op.batch_alter_table("oauth2_clients", schema=None) as batch_op:
        batch_op.alter_column("first_party", existing_type=sa.Boolean(), nullable=False)
        batch_op.alter_column("registered_dynamically", existing_type=sa.Boolean(), nullable=False)
    with op.batch_alter_table("oauth2_codes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claims_request", sa.Text(), nullable=True))
    with op.batch_alter_table("oauth2_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claims_request", sa.Text(), nullable=True))
    op.create_table(
        "oauth2_consents",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=48), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "client_id"),
    )
    op.create_table(
        "backchannel_logouts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=48), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("sid", sa.String(length=64), nullable=True),
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=48), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("jti"),
    )
    op.create_index("ix_backchannel_logouts_client_id", "backchannel_logouts", ["client_id"])
    op.create_index(
        "ix_backchannel_logouts_next_attempt_at", "backchannel_logouts", ["next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_backchannel_logouts_next_attempt_at", table_name="backchannel_logouts")
    op.drop_index("ix_backchannel_logouts_client_id", table_name="backchannel_logouts")
    op.drop_table("backchannel_logouts")
    op.drop_table("oauth2_consents")
    with op.batch_alter_table("oauth2_tokens", schema=None) as batch_op:
        batch_op.drop_column("claims_request")
    with op.batch_alter_table("oauth2_codes", schema=None) as batch_op:
        batch_op.drop_column("claims_request")
    with op.batch_alter_table("oauth2_clients", schema=None) as batch_op:
        batch_op.drop_column("registration_token_hash")
        batch_op.drop_column("registered_dynamically")
        batch_op.drop_column("first_party")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("profile_updated_at")
        batch_op.drop_column("email_verified")
        batch_op.drop_column("claims")
