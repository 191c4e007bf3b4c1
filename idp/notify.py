"""Email notifications to admins."""

from __future__ import annotations

from risk.levels import Level


def on_user_risk_raised(user_id: str, previous: Level, level: Level) -> None:
    """Called after a user's risk level rose."""
