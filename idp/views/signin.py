"""The sign-in pages: user name and password, and the forced password change."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import sqlalchemy as sa
from flask import Blueprint, current_app, redirect, render_template, request

from ..errors import InvalidCredentials, PasswordPolicyError
from ..extensions import db
from ..models import User
from ..requestinfo import client_ip, user_agent
from ..sessions import (
    check_csrf,
    clock_now,
    current_sso,
    current_user,
    revoke_sessions,
    start_session,
)
from ..signin_log import record
from .oauth import get_flow, resume_url, save_flow

bp = Blueprint("signin", __name__)

BAD_CREDENTIALS = "Your account or password is incorrect."


def _flow_or_error(key: str | None) -> tuple[dict[str, Any] | None, Any]:
    flow = get_flow(key)
    if flow is None:
        page = render_template(
            "error.html",
            title="This sign-in has expired",
            error="session_expired",
            description="Go back to the application you came from and sign in again.",
            request_id="",
            now=clock_now(),
        )
        return None, (page, 400)
    return flow, None


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Ask for the user name and password, then continue the authorization request."""
    key = request.args.get("flow")
    flow, error_page = _flow_or_error(key)
    if flow is None:
        return error_page
    hint = parse_qs(flow["query"]).get("login_hint", [""])[0]
    if request.method == "GET":
        return render_template("login.html", flow=key, username=hint[:150])

    check_csrf()
    username = request.form.get("username", "").strip()[:150]
    password = request.form.get("password", "")
    hasher = current_app.extensions["idp.passwords"]
    user = db.session.scalar(sa.select(User).filter_by(username=username)) if username else None
    try:
        verified = hasher.verify(
            password, user.password_hash if user and not user.disabled else None
        )
    except InvalidCredentials as exc:
        record(
            correlation_id=flow["correlation_id"],
            kind="password",
            outcome="failure",
            user=user,
            username=username,
            client_id=flow.get("client_id"),
            error_code=exc.code,
            reason="invalid user name or password",
        )
        return render_template(
            "login.html", flow=key, username=username, error=BAD_CREDENTIALS, error_code=exc.code
        ), 401
    assert user is not None
    if verified.new_hash:
        user.password_hash = verified.new_hash
        db.session.commit()
    sso = start_session(user, ["pwd"], client_ip(), user_agent())
    flow["sid"] = sso.id
    save_flow(key or "", flow)
    return redirect(resume_url(flow))


@bp.route("/password/change", methods=["GET", "POST"])
def change_password() -> Any:
    """Set a new password when the current one may no longer be used."""
    key = request.args.get("flow")
    flow, error_page = _flow_or_error(key)
    if flow is None:
        return error_page
    user = current_user()
    sso = current_sso()
    if user is None or sso is None or flow.get("sid") != sso.id:
        return redirect(resume_url(flow))
    if request.method == "GET":
        return render_template("change_password.html", flow=key)

    check_csrf()
    new = request.form.get("new_password", "")
    confirm = request.form.get("confirm_password", "")
    hasher = current_app.extensions["idp.passwords"]
    problem = None
    if new != confirm:
        problem = "The two passwords do not match."
    else:
        try:
            hasher.check_policy(new)
            hasher.verify(new, user.password_hash)
            problem = "Choose a password different from your current one."
        except PasswordPolicyError as exc:
            problem = str(exc)
        except InvalidCredentials:
            pass
    if problem:
        return render_template("change_password.html", flow=key, error=problem), 400
    user.password_hash = hasher.hash(new)
    user.password_changed_at = clock_now()
    user.password_must_change = False
    db.session.commit()
    # Whoever knew the old password may hold other sessions: end them.
    revoke_sessions(user.id, except_sid=sso.id)
    return redirect(resume_url(flow))
