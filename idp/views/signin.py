"""The sign-in pages: user name and password, and the forced password change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, current_app, redirect, render_template, request

from risk.context import SignInKind
from risk.vocabulary import RiskDetail

from .. import riskops
from ..decision import assess, build_context
from ..errors import InvalidCredentials, PasswordPolicyError
from ..extensions import db
from ..models import SsoSession, User
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
from .oauth import flow_param, get_flow, resume_url, save_flow

bp = Blueprint("signin", __name__)

BAD_CREDENTIALS = "Your account or password is incorrect."


def flow_or_error(key: str | None) -> tuple[dict[str, Any] | None, Any]:
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


@dataclass(frozen=True)
class Step:
    """A step page's authorization flow, and the user and session it belongs to."""

    key: str
    flow: dict[str, Any]
    user: User
    sso: SsoSession


def current_step() -> Step | Any:
    """The step this page continues, or the response to send instead."""
    key = request.args.get("flow")
    flow, error_page = flow_or_error(key)
    if flow is None:
        return error_page
    user, sso = current_user(), current_sso()
    if user is None or sso is None or flow.get("sid") != sso.id or not key:
        return redirect(resume_url(flow))
    return Step(key, flow, user, sso)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Ask for the user name and password, then continue the authorization request."""
    key = request.args.get("flow")
    flow, error_page = flow_or_error(key)
    if flow is None:
        return error_page
    hint = flow_param(flow, "login_hint")
    if request.method == "GET":
        return render_template("login.html", flow=key, username=hint[:150])

    check_csrf()
    username = request.form.get("username", "").strip()[:150]
    password = request.form.get("password", "")
    hasher = current_app.extensions["idp.passwords"]
    user = db.session.scalar(sa.select(User).filter_by(username=username)) if username else None
    correlation_id = flow["correlation_id"]
    try:
        verified = hasher.verify(
            password, user.password_hash if user and not user.disabled else None
        )
    except InvalidCredentials as exc:
        ctx = build_context(kind=SignInKind.PASSWORD, user=user, username=username,
                            client_id=flow.get("client_id", ""), correlation_id=correlation_id,
                            password=password, password_valid=False)
        risk = assess(ctx, user, None)
        record(correlation_id=correlation_id, kind="password", outcome="failure", user=user,
               username=username, client_id=flow.get("client_id"), error_code=exc.code,
               reason="invalid user name or password", risk=risk)
        return render_template("login.html", flow=key, username=username,
                               error=BAD_CREDENTIALS, error_code=exc.code), 401
    assert user is not None
    if verified.new_hash:
        user.password_hash = verified.new_hash
        db.session.commit()
    sso = start_session(user, ["pwd"], client_ip(), user_agent())
    ctx = build_context(kind=SignInKind.PASSWORD, user=user, username=username,
                        client_id=flow.get("client_id", ""), correlation_id=correlation_id,
                        password=password, password_valid=True)
    flow["risk"] = assess(ctx, user, sso.id)
    flow["sid"] = sso.id
    save_flow(key or "", flow)
    return redirect(resume_url(flow))


def new_password_problem(user: User | None, new: str, confirm: str) -> str | None:
    """Why a new password is refused, in words for the user; None when it is acceptable."""
    hasher = current_app.extensions["idp.passwords"]
    if new != confirm:
        return "The two passwords do not match."
    try:
        hasher.check_policy(new)
    except PasswordPolicyError as exc:
        return str(exc)
    leaked = riskops.engine().feeds.leaked_passwords
    if leaked is not None and leaked.count(new) > 0:
        return ("This password appears in a list of leaked passwords. Choose another one "
                "you have not used elsewhere.")
    if user is not None:
        try:
            hasher.verify(new, user.password_hash)
        except InvalidCredentials:
            return None
        return "Choose a password different from your current one."
    return None


def apply_new_password(user: User, new: str, *, keep_sid: str | None,
                       detail: RiskDetail | None) -> None:
    """Store the new password, end other sessions, and remediate risk when it was secured."""
    user.password_hash = current_app.extensions["idp.passwords"].hash(new)
    user.password_changed_at = clock_now()
    user.password_must_change = False
    db.session.commit()
    # Whoever knew the old password may hold other sessions and refresh tokens: end them.
    revoke_sessions(user.id, except_sid=keep_sid)
    if detail is not None:
        riskops.remediate(user.id, detail, initiated_by=user.username)


@bp.route("/password/change", methods=["GET", "POST"])
def change_password() -> Any:
    """Set a new password: after an admin's temporary one, or to remediate user risk."""
    step = current_step()
    if not isinstance(step, Step):
        return step
    key, flow, user, sso = step.key, step.flow, step.user, step.sso
    secured = flow.get("password_change") == "risk"
    if secured and flow.get("mfa_sid") != sso.id:
        # A risk-driven change is only secure after the second factor.
        return redirect(resume_url(flow))
    reason = ("Your account may be at risk. Choose a new password to protect it."
              if secured else None)
    if request.method == "GET":
        return render_template("change_password.html", flow=key, reason=reason)
    check_csrf()
    new = request.form.get("new_password", "")
    problem = new_password_problem(user, new, request.form.get("confirm_password", ""))
    if problem:
        return render_template("change_password.html", flow=key, reason=reason,
                               error=problem), 400
    # After TOTP in this flow the change is secure and remediates the user's risk.
    passed_mfa = flow.get("mfa_sid") == sso.id
    apply_new_password(user, new, keep_sid=sso.id,
                       detail=RiskDetail.USER_PERFORMED_SECURED_PASSWORD_CHANGE
                       if passed_mfa else None)
    flow.pop("password_change", None)
    save_flow(key, flow)
    return redirect(resume_url(flow))
