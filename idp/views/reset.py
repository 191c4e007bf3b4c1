"""Self-service password reset: user name, TOTP, new password; it remediates user risk."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, redirect, render_template, request, session, url_for

from mfa.errors import InvalidCode, InvalidRecoveryCode, ReplayedCode, Throttled
from risk.vocabulary import RiskDetail

from ..extensions import db
from ..models import User
from ..secretbox import unseal
from ..sessions import check_csrf, clock_now
from .mfa import check_code, error_message, record_failure
from .signin import apply_new_password, new_password_problem

bp = Blueprint("reset", __name__, url_prefix="/password/reset")

RESET_MINUTES = 15


def _state() -> dict[str, Any] | None:
    state = session.get("reset")
    if not isinstance(state, dict):
        return None
    if clock_now().timestamp() - state.get("started", 0) > RESET_MINUTES * 60:
        session.pop("reset", None)
        return None
    return state


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
    session["reset"] = {
        "username": request.form.get("username", "").strip()[:150],
        "flow": flow, "started": int(clock_now().timestamp()),
        "correlation_id": str(uuid.uuid4()), "verified_user": None,
    }
    return redirect(url_for("reset.verify"))


@bp.route("/verify", methods=["GET", "POST"])
def verify() -> Any:
    """Prove the account with its authenticator app (the same page for every user name)."""
    state = _state()
    if state is None:
        return _expired()
    if request.method == "GET":
        return render_template("reset_verify.html")
    check_csrf()
    user = db.session.scalar(sa.select(User).filter_by(username=state["username"]))
    try:
        if user is None or not user.has_totp or user.disabled:
            raise InvalidCode()
        check_code(user, unseal(user.totp_secret or ""), request.form.get("code", ""))
    except (InvalidCode, ReplayedCode, Throttled, InvalidRecoveryCode) as exc:
        if user is not None:
            record_failure(user, {"correlation_id": state["correlation_id"]}, exc)
        return render_template("reset_verify.html", error=error_message(exc)), 400
    state["verified_user"] = user.id
    session["reset"] = state
    return redirect(url_for("reset.new_password"))


@bp.route("/new", methods=["GET", "POST"])
def new_password() -> Any:
    """Choose the new password; every session and refresh token of the user ends."""
    state = _state()
    if state is None or not state.get("verified_user"):
        return _expired()
    user = db.session.get(User, state["verified_user"])
    if user is None:
        return _expired()
    if request.method == "GET":
        return render_template("change_password.html", endpoint="reset.new_password",
                               reason="Choose a new password for your account.")
    check_csrf()
    new = request.form.get("new_password", "")
    problem = new_password_problem(user, new, request.form.get("confirm_password", ""))
    if problem:
        return render_template("change_password.html", endpoint="reset.new_password",
                               reason="Choose a new password for your account.",
                               error=problem), 400
    apply_new_password(user, new, keep_sid=None,
                       detail=RiskDetail.USER_PERFORMED_SECURED_PASSWORD_RESET)
    session.pop("reset", None)
    flow = state.get("flow")
    next_url = url_for("signin.login", flow=flow) if flow else None
    return render_template("reset_done.html", next_url=next_url)
