"""Writes the sign-in log: one row per authorization attempt, with its risk and policies."""

from __future__ import annotations

from typing import Any

from flask import current_app

from risk.levels import Level
from risk.policy import Decision

from .extensions import db
from .models import SignIn, User, UserRisk
from .requestinfo import client_ip, device_id, user_agent


def record(*, correlation_id: str, kind: str, outcome: str, user: User | None,
           username: str | None, client_id: str | None, error_code: int | None = None,
           reason: str | None = None, risk: dict[str, Any] | None = None,
           decision: Decision | None = None) -> SignIn:
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
        device_id=device_id(),
    )
    if risk is not None:
        row.risk_level_during_sign_in = risk["level"]
        row.risk_event_types = list(risk["events"])
        row.not_evaluated = [{"detector": d, "reason": r} for d, r in risk["not_evaluated"]]
        row.country, row.city = risk["country"], risk["city"]
        row.latitude, row.longitude, row.asn = risk["lat"], risk["lon"], risk["asn"]
    during = Level.parse(risk["level"]) if risk is not None else Level.NONE
    row.risk_level_aggregated = during.value
    if user is not None:
        state = db.session.get(UserRisk, user.id)
        if state is not None:
            # Aggregated: the sign-in's risk and the user's, whichever is higher.
            row.risk_level_aggregated = max(during, Level.parse(state.risk_level)).value
            row.risk_state = state.risk_state
            row.risk_detail = state.risk_detail
    if decision is not None:
        row.policies = [{"displayName": r.policy, "result": r.result.value, "reason": r.reason}
                        for r in decision.results]
    db.session.add(row)
    db.session.commit()
    return row
