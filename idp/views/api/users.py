"""Routes under /users: a user with their profile claims, changing them, and the admin
actions on one user (reset the password, revoke every session)."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, jsonify, request

from ... import admin_actions, claims
from ...extensions import db
from ...models import User
from .auth import admin
from .blueprint import bp
from .resources import RevokeResult, TemporaryPassword
from .serializers import user_resource
from .vocabulary import GRAPH_USER_CLAIMS, RESET_MODES


@bp.post("/users/<user_id>/resetPassword")
def reset_password(user_id: str) -> Any:
    """Require a password reset at next sign-in, or generate a temporary password."""
    body = request.get_json(silent=True)
    mode = body.get("mode") if isinstance(body, dict) else None
    if mode not in RESET_MODES:
        abort(
            400,
            description='The body must be {"mode": "requireReset"} or '
            '{"mode": "temporaryPassword"}.',
        )
    if db.session.get(User, user_id) is None:
        abort(404, description=f"no user with id {user_id}")
    try:
        if mode == "requireReset":
            admin_actions.require_password_reset(user_id, admin())
            return "", 204
        password = admin_actions.temporary_password(user_id, admin())
    except admin_actions.ActionRefused as exc:
        abort(400, description=str(exc))
    response = jsonify(TemporaryPassword(temporary_password=password).graph())
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/users/<user_id>/revokeSignInSessions")
def revoke_sign_in_sessions(user_id: str) -> Response:
    """Sign the user out everywhere (Graph answers {"value": true})."""
    if db.session.get(User, user_id) is None:
        abort(404, description=f"no user with id {user_id}")
    admin_actions.revoke_all_sessions(user_id, admin())
    return jsonify(RevokeResult(value=True).graph())


@bp.get("/users/<user_id>")
def get_user(user_id: str) -> Response:
    """One user with their profile claims."""
    user = db.session.get(User, user_id)
    if user is None:
        abort(404, description=f"no user with id {user_id}")
    return jsonify(user_resource(user))


def _profile_changes(body: Any) -> dict[str, Any]:
    """Claim changes from a PATCH body: Graph names at the top, OpenID names under `claims`."""
    if not isinstance(body, dict):
        abort(400, description="The body must be a JSON object of user properties.")
    changes: dict[str, Any] = {}
    for prop, value in body.items():
        if prop == "claims":
            continue
        if prop not in GRAPH_USER_CLAIMS:
            abort(
                400,
                description=f"{prop[:60]!r} cannot be changed; accepted: "
                f"{', '.join(GRAPH_USER_CLAIMS)}, claims.",
            )
        changes[GRAPH_USER_CLAIMS[prop]] = value
    named = body.get("claims", {})
    if not isinstance(named, dict):
        abort(400, description="claims must be an object of OpenID Connect claim values.")
    for name, value in named.items():
        if name in changes:
            abort(400, description=f"{name} is set twice (a Graph property and in claims).")
        changes[name] = value
    return changes


@bp.patch("/users/<user_id>")
def update_user(user_id: str) -> Response:
    """Set or remove (null) profile claims; nothing changes unless every value is valid."""
    user = db.session.get(User, user_id)
    if user is None:
        abort(404, description=f"no user with id {user_id}")
    changes = _profile_changes(request.get_json(silent=True))
    try:
        claims.set_claims(user, changes)
    except claims.ClaimError as exc:
        abort(400, description=f"{exc}.")
    return jsonify(user_resource(user))
