"""Writes the sign-in log: one row per authorization attempt."""

from __future__ import annotations

from flask import current_app

from .extensions import db
from .models import SignIn, User
from .requestinfo import client_ip, user_agent


def record(
    *,
    correlation_id: str,
    kind: str,
    outcome: str,
    user: User | None,
    username: str | None,
    client_id: str | None,
    error_code: int | None = None,
    reason: str | None = None,
) -> SignIn:
    """Append one sign-in row and commit it."""
    row = SignIn(
        created_at=current_app.extensions["idp.clock"].now(),
        correlation_id=correlation_id,
        user_id=user.id if user else None,
        username=(user.username if user else username or "")[:150],
        client_id=client_id,
        ip=client_ip(),
        user_agent=user_agent(),
        kind=kind,
        outcome=outcome,
        error_code=error_code,
        reason=reason,
    )
    db.session.add(row)
    db.session.commit()
    return row
