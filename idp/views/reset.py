"""Self-service password reset: user name, TOTP, new password; it remediates user risk.

Its state is a server-side flow (kind "reset") whose id is the only thing in the cookie;
the flow ends when the new password is set, so a copy of the cookie cannot set another.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, redirect, render_template, request, session, url_for

from mfa.errors import MfaError, Throttled
from risk.vocabulary import RiskDetail

from .. import flows
from ..accounts import apply_new_password, new_password_problem
from ..extensions import db
from ..models import User
from ..secondfactor import LOCKED_OUT, MFA_FAILED, Nobody, check_code, error_message
from ..sessions import check_csrf
from ..signin_log import record

bp = Blueprint("reset", __name__, url_prefix="/password/reset")

KIND = "reset"
RESET_MINUTES = 15


def _state() -> tuple[str, dict[str, Any], int] | None:
    flow_id = session.get(KIND)
    found = flows.load(KIND, flow_id)
    if found is None:
        return None
    return str(flow_id), *found


def _expired() -> Any:
    return redirect(url_for("reset.start", expired=1))


@bp.route("", methods=["GET", "POST"])
def start() -> Any:
    """Ask which account to reset."""
    flow = request.args.get("flow", "")
    if request.method == "GET":
        return render_template("reset_start.html", flow=flow,
                               expired=request.args.get("expired"))
    check_csrf()
    session[KIND] = flows.create(KIND, {
        "username": request.form.get("username", "").strip()[:150],
        "flow": flow[:64], "correlation_id": str(uuid.uuid4()), "verified_user": None,
    }, minutes=RESET_MINUTES)
    return redirect(url_for("reset.verify"))


@bp.route("/verify", methods=["GET", "POST"])
def verify() -> Any:
    """Prove the account with its authenticator app (the same page for every user name)."""
    state = _state()
    if state is None:
        return _expired()
    flow_id, data, version = state
    if request.method == "GET":
        return render_template("reset_verify.html")
    check_csrf()
    user = db.session.scalar(sa.select(User).filter_by(username=data["username"]))
    usable = user is not None and user.has_totp and not user.disabled
    try:
        # Every name, real or not, goes through the same throttle and the same check, so
        # neither the message nor the time tells which names exist.
        check_code(user if user is not None and usable else Nobody(data["username"]),
                   request.form.get("code", ""), scope="reset")
    except MfaError as exc:
        return _refused(data, user, exc)
    assert user is not None
    try:
        flows.save(flow_id, {**data, "verified_user": user.id}, version)
    except flows.FlowConflict:
        return _expired()
    return redirect(url_for("reset.new_password"))


def _refused(data: dict[str, Any], user: User | None, exc: MfaError) -> Any:
    """Log the wrong code and say so; the reset's own throttle, never the sign-in's."""
    throttled = isinstance(exc, Throttled)
    record(correlation_id=data["correlation_id"], kind="reset", outcome="failure", user=user,
           username=data["username"], client_id=None,
           error_code=LOCKED_OUT if throttled else MFA_FAILED, reason=type(exc).__name__)
    return render_template("reset_verify.html", error=error_message(exc)), \
        429 if throttled else 400


@bp.route("/new", methods=["GET", "POST"])
def new_password() -> Any:
    """Choose the new password; every session and refresh token of the user ends."""
    state = _state()
    if state is None or not state[1].get("verified_user"):
        return _expired()
    flow_id, data, _ = state
    user = db.session.get(User, data["verified_user"])
    if user is None:
        return _expired()
    reason = "Choose a new password for your account."
    if request.method == "GET":
        return render_template("change_password.html", endpoint="reset.new_password",
                               reason=reason)
    check_csrf()
    new = request.form.get("new_password", "")
    problem = new_password_problem(user, new, request.form.get("confirm_password", ""))
    if problem:
        return render_template("change_password.html", endpoint="reset.new_password",
                               reason=reason, error=problem), 400
    # The flow is spent before the password changes: a racing copy finds it gone.
    if not flows.drop(flow_id):
        return _expired()
    session.pop(KIND, None)
    apply_new_password(user, new, keep_sid=None, event="password_reset",
                       detail=RiskDetail.USER_PERFORMED_SECURED_PASSWORD_RESET)
    next_url = url_for("signin.login", flow=data["flow"]) if data.get("flow") else None
    return render_template("reset_done.html", next_url=next_url)
