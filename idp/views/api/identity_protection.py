"""Routes under /identityProtection: risky users with their history and actions, risk
detections with theirs, and the deployment's recommendations."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Response, abort, jsonify, request

from ... import admin_actions
from ...extensions import db
from ...models import RiskDetection, RiskHistory, User, UserRisk
from .auth import admin
from .blueprint import bp
from .listing import HISTORY, RISK_DETECTIONS, RISKY_USERS
from .odata import storable
from .paging import list_conditions, page
from .serializers import history_item, recommendation, risk_detection, risky_user
from .vocabulary import DETECTION_ACTIONS, USER_ACTIONS

_USER_ACTS = {
    "dismiss": admin_actions.dismiss,
    "confirmCompromised": admin_actions.confirm_compromised,
    "confirmSafe": admin_actions.confirm_safe,
}


@bp.get("/identityProtection/riskyUsers")
def list_risky_users() -> Response:
    """Users who have ever been risky, newest change first."""
    stmt = sa.select(UserRisk, User).join(User, User.id == UserRisk.user_id)
    stmt = stmt.where(*list_conditions(RISKY_USERS))
    return page(RISKY_USERS, stmt, lambda risk, user: risky_user(user, risk))


@bp.get("/identityProtection/riskyUsers/<user_id>")
def get_risky_user(user_id: str) -> Response:
    """One risky user."""
    row = db.session.execute(
        sa.select(UserRisk, User)
        .join(User, User.id == UserRisk.user_id)
        .where(UserRisk.user_id == user_id)
    ).first()
    if row is None:
        abort(404, description=f"no risky user with id {user_id}")
    return jsonify(risky_user(row.User, row.UserRisk))


@bp.get("/identityProtection/riskyUsers/<user_id>/history")
def risky_user_history(user_id: str) -> Response:
    """Every change of the user's risk: who did what, when, and the state it left."""
    user = db.session.get(User, user_id)
    if user is None:
        abort(404, description=f"no user with id {user_id}")
    list_conditions(HISTORY, allowed=("$top", "$skiptoken"))
    stmt = sa.select(RiskHistory).where(RiskHistory.user_id == user_id)
    return page(HISTORY, stmt, lambda item: history_item(user, item))


def _user_ids() -> list[str]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description='The body must be a JSON object: {"userIds": ["..."]}.')
    ids = body.get("userIds")
    if (
        not isinstance(ids, list)
        or not ids
        or not all(isinstance(i, str) and storable(i) for i in ids)
    ):
        abort(400, description="userIds must be a non-empty list of user ids.")
    ids = list(dict.fromkeys(ids))
    found = set(db.session.scalars(sa.select(User.id).where(User.id.in_(ids))))
    missing = [i for i in ids if i not in found]
    if missing:
        # Nothing is changed unless every id is known, so a typo never half-applies.
        abort(400, description=f"no user with id {missing[0]}")
    return ids


@bp.post(f"/identityProtection/riskyUsers/<any({', '.join(USER_ACTIONS)}):action>")
def risky_users_action(action: str) -> tuple[str, int]:
    """Dismiss, confirm compromised, or confirm safe: Graph's riskyUser actions."""
    act = _USER_ACTS[action]
    for user_id in _user_ids():
        act(user_id, admin())
    return "", 204


@bp.get("/identityProtection/riskDetections")
def list_risk_detections() -> Response:
    """Detections with their evidence, newest first."""
    stmt = sa.select(RiskDetection, User).join(User, User.id == RiskDetection.user_id)
    stmt = stmt.where(*list_conditions(RISK_DETECTIONS))
    return page(RISK_DETECTIONS, stmt, risk_detection)


@bp.get("/identityProtection/riskDetections/<detection_id>")
def get_risk_detection(detection_id: str) -> Response:
    """One detection."""
    row = db.session.execute(
        sa.select(RiskDetection, User)
        .join(User, User.id == RiskDetection.user_id)
        .where(RiskDetection.id == detection_id)
    ).first()
    if row is None:
        abort(404, description=f"no detection with id {detection_id}")
    return jsonify(risk_detection(row.RiskDetection, row.User))


@bp.post(
    "/identityProtection/riskDetections/<detection_id>/"
    f"<any({', '.join(DETECTION_ACTIONS)}):action>"
)
def risk_detection_action(detection_id: str, action: str) -> tuple[str, int]:
    """Resolve, mark false positive, ignore, or reactivate one detection."""
    if db.session.get(RiskDetection, detection_id) is None:
        abort(404, description=f"no detection with id {detection_id}")
    try:
        admin_actions.detection_action(detection_id, action, admin())
    except admin_actions.ActionRefused as exc:
        abort(400, description=str(exc))
    return "", 204


@bp.get("/identityProtection/recommendations")
def list_recommendations() -> Response:
    """What weakens this deployment, active ones first (see idp.posture)."""
    for name in request.args:
        abort(400, description=f"unknown query parameter {name[:60]!r}; this list takes none.")
    from ...posture import recommendations

    return jsonify(value=[recommendation(item.resource()) for item in recommendations()])
