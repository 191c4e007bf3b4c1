"""What an administrator can do to a user or a detection; the dashboard and the API share it.

Every action is written to the user's risk history with who did it and when.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from flask import current_app

from risk.detections import admin_confirmed_compromised
from risk.vocabulary import ACTIVE_STATES, RiskDetail, RiskState

from . import backchannel, user_risk
from .errors import IdpError
from .extensions import db
from .models import RiskDetection, RiskHistory, User, UserRisk
from .sessions import clock_now, revoke_sessions
from .users import delete_user, reset_second_factors, set_disabled, set_password

# Closed by the user's own remediation: an admin cannot reopen these.
USER_REMEDIATIONS = frozenset(
    {
        RiskDetail.USER_PASSED_MFA_DRIVEN_BY_RISK_BASED_POLICY.value,
        RiskDetail.USER_PERFORMED_SECURED_PASSWORD_CHANGE.value,
        RiskDetail.USER_PERFORMED_SECURED_PASSWORD_RESET.value,
    }
)

# Detection actions: the state they set, the riskDetail, and the history activity.
DETECTION_ACTIONS: dict[str, tuple[RiskState, RiskDetail, str]] = {
    "resolve": (RiskState.REMEDIATED, RiskDetail.NONE, "detectionResolved"),
    "falsePositive": (
        RiskState.CONFIRMED_SAFE,
        RiskDetail.ADMIN_CONFIRMED_SIGNIN_SAFE,
        "detectionMarkedFalsePositive",
    ),
    "ignore": (
        RiskState.DISMISSED,
        RiskDetail.ADMIN_DISMISSED_ALL_RISK_FOR_USER,
        "detectionIgnored",
    ),
    "reactivate": (RiskState.AT_RISK, RiskDetail.NONE, "detectionReactivated"),
}


class ActionRefused(IdpError):
    """The action does not apply to this user or detection; the message says why."""


def get_user(user_id: str) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise ActionRefused(f"no user with id {user_id}")
    return user


def dismiss(user_id: str, admin: str) -> None:
    """Dismiss all of a user's risk (Graph: dismiss riskyUsers)."""
    get_user(user_id)
    detail = RiskDetail.ADMIN_DISMISSED_ALL_RISK_FOR_USER
    user_risk.close_detections(user_id, state=RiskState.DISMISSED, detail=detail)
    user_risk.recompute(
        user_id, initiated_by=admin, activity="dismissed", detail=detail, state=RiskState.DISMISSED
    )


def confirm_safe(user_id: str, admin: str) -> None:
    """Confirm the user's risky sign-ins were the user (every active detection is safe)."""
    get_user(user_id)
    detail = RiskDetail.ADMIN_CONFIRMED_SIGNIN_SAFE
    user_risk.close_detections(user_id, state=RiskState.CONFIRMED_SAFE, detail=detail)
    user_risk.recompute(
        user_id,
        initiated_by=admin,
        activity="confirmedSafe",
        detail=detail,
        state=RiskState.CONFIRMED_SAFE,
    )


def confirm_compromised(user_id: str, admin: str) -> None:
    """Confirm the account is compromised: user risk becomes high until remediated."""
    get_user(user_id)
    detail = RiskDetail.ADMIN_CONFIRMED_USER_COMPROMISED
    rows = user_risk.store_detections(
        user_id, str(uuid.uuid4()), [admin_confirmed_compromised(admin=admin)], None, source="admin"
    )
    for row in rows:
        row.risk_state = RiskState.CONFIRMED_COMPROMISED.value
        row.risk_detail = detail.value
    db.session.commit()
    user_risk.recompute(
        user_id,
        initiated_by=admin,
        activity="confirmedCompromised",
        detail=detail,
        state=RiskState.CONFIRMED_COMPROMISED,
    )
    # Whoever holds the account now holds its sessions: end them, and tell every app at
    # once (as continuous access evaluation does) instead of waiting for tokens to expire.
    revoke_sessions(user_id, reason=backchannel.COMPROMISED)


def require_password_reset(user_id: str, admin: str) -> None:
    """At the next sign-in the user passes TOTP, then chooses a new password."""
    user = get_user(user_id)
    if not user.has_second_factor:
        raise ActionRefused(
            "the user has no second factor (no TOTP, no passkey), so a "
            "password reset at sign-in would not be secure; generate a "
            "temporary password instead"
        )
    user.password_must_change = True
    db.session.commit()
    _history(user_id, admin, "passwordResetRequired")


def temporary_password(user_id: str, admin: str) -> str:
    """Replace the password with a random one (shown once) that must be changed at sign-in."""
    user = get_user(user_id)
    password = "-".join(secrets.token_urlsafe(6) for _ in range(3))
    set_password(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        user,
        password,
        temporary=True,
    )
    revoke_sessions(user_id, reason=backchannel.TEMPORARY_PASSWORD)
    user_risk.remediate(user_id, RiskDetail.ADMIN_GENERATED_TEMPORARY_PASSWORD, initiated_by=admin)
    return password


def revoke_all_sessions(user_id: str, admin: str) -> None:
    """Sign the user out everywhere and revoke every refresh token."""
    get_user(user_id)
    revoke_sessions(user_id, reason=backchannel.ADMIN_REVOKE)
    _history(user_id, admin, "sessionsRevoked")


def _not_yourself(user: Any, admin: str, what: str) -> None:
    if user.username == admin:
        raise ActionRefused(f"you cannot {what} your own account here; ask another admin")


def disable_user(user_id: str, admin: str) -> None:
    """No sign-in, no token use; signed out everywhere."""
    user = get_user(user_id)
    _not_yourself(user, admin, "disable")
    set_disabled(user, True)
    _history(user_id, admin, "userDisabled")


def enable_user(user_id: str, admin: str) -> None:
    """Let a disabled user sign in again."""
    set_disabled(get_user(user_id), False)
    _history(user_id, admin, "userEnabled")


def reset_mfa(user_id: str, admin: str) -> None:
    """Remove the authenticator and recovery codes (a lost phone); sessions end."""
    reset_second_factors(get_user(user_id), initiated_by=admin)


def remove_user(user_id: str, admin: str) -> None:
    """Delete the user and everything of theirs."""
    user = get_user(user_id)
    _not_yourself(user, admin, "delete")
    delete_user(user)


def detection_action(detection_id: str, action: str, admin: str) -> RiskDetection:
    """Resolve, mark false positive, ignore, or reactivate one detection."""
    if action not in DETECTION_ACTIONS:
        raise ActionRefused(f"unknown action {action!r}")
    row = db.session.get(RiskDetection, detection_id)
    if row is None:
        raise ActionRefused(f"no detection with id {detection_id}")
    state, detail, activity = DETECTION_ACTIONS[action]
    if action == "reactivate":
        if row.risk_detail in USER_REMEDIATIONS:
            raise ActionRefused("the user remediated this detection; it cannot be reactivated")
        if row.risk_state in {s.value for s in ACTIVE_STATES}:
            raise ActionRefused("the detection is already active")
    elif row.risk_state not in {s.value for s in ACTIVE_STATES}:
        raise ActionRefused("the detection is not active")
    row.risk_state, row.risk_detail = state.value, detail.value
    row.last_updated_at = clock_now()
    db.session.commit()
    user_risk.recompute(
        row.user_id,
        initiated_by=admin,
        activity=activity,
        detail=detail,
        note=f"{row.risk_event_type} detection {row.id}",
    )
    return row


def remove_passkey(user_id: str, passkey_id: str, admin: str) -> str | None:
    """Remove one passkey of the user (lost device); its name, or None if there is none."""
    from .passkeys import remove

    removed = remove(user_id, passkey_id)
    if removed is None:
        return None
    _history(user_id, admin, "passkeyRemoved")
    return removed.name


def _history(user_id: str, admin: str, activity: str) -> None:
    """Log an action that leaves the user's risk as it is."""
    state = db.session.get(UserRisk, user_id) or user_risk.recompute(user_id)
    db.session.add(
        RiskHistory(
            user_id=user_id,
            at=clock_now(),
            initiated_by=admin,
            activity=activity,
            risk_level=state.risk_level,
            risk_state=state.risk_state,
            risk_detail=state.risk_detail,
        )
    )
    db.session.commit()
