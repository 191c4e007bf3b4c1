"""Admin actions on users: state, detail and history, on both databases."""

from __future__ import annotations

import sqlalchemy as sa

from idp import admin_actions
from idp.models import RiskHistory, UserRisk


def test_confirm_compromised_then_revoke_keeps_detail(provider, db):
    user_id = provider.user("bob")
    admin_actions.confirm_compromised(user_id, "root")
    admin_actions.revoke_all_sessions(user_id, "root")
    risk = db.session.get(UserRisk, user_id)
    assert (risk.risk_level, risk.risk_state, risk.risk_detail) == (
        "high",
        "confirmedCompromised",
        "adminConfirmedUserCompromised",
    )
    activities = [
        h.activity
        for h in db.session.scalars(
            sa.select(RiskHistory).filter_by(user_id=user_id, initiated_by="root")
        )
    ]
    assert sorted(activities) == ["confirmedCompromised", "sessionsRevoked"]


def test_dismiss_and_confirm_safe(provider, db):
    user_id = provider.user("bob")
    admin_actions.confirm_compromised(user_id, "root")
    admin_actions.dismiss(user_id, "root")
    risk = db.session.get(UserRisk, user_id)
    assert (risk.risk_level, risk.risk_state, risk.risk_detail) == (
        "none",
        "dismissed",
        "adminDismissedAllRiskForUser",
    )
    admin_actions.confirm_compromised(user_id, "root")
    admin_actions.confirm_safe(user_id, "root")
    assert db.session.get(UserRisk, user_id).risk_state == "confirmedSafe"
