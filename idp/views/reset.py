"""Self-service password reset: user name, TOTP or a passkey, new password; it remediates
user risk.

Its state is a server-side flow (kind "reset") whose id is the only thing in the cookie;
the flow ends when the new password is set, so a copy of the cookie cannot set another.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, redirect, render_template, request, session, url_for

from mfa.errors import MfaError, PasskeyError, Throttled
from risk.vocabulary import RiskDetail

from .. import flows, passkeys
from ..accounts import apply_new_password
from ..extensions import db
from ..forms import CodeForm, NewPasswordForm, ResetStartForm
from ..i18n import gettext
from ..models import User
from ..secondfactor import LOCKED_OUT, MFA_FAILED, Nobody, check_code, error_message
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
        return render_template("reset_start.html", flow=flow, expired=request.args.get("expired"))
    form = ResetStartForm.submitted()
    session[KIND] = flows.create(
        KIND,
        {
            "username": form.username.data,
            "flow": flow[:64],
            "correlation_id": str(uuid.uuid4()),
            "verified_user": None,
        },
        minutes=RESET_MINUTES,
    )
    return redirect(url_for("reset.verify"))


def _verify_page(
    flow_id: str, data: dict[str, Any], version: int, error: str | None = None, status: int = 200
) -> Any:
    """The verification page, for every user name the same: a code form and "Use a passkey",
    with a fresh challenge kept in the reset flow (the previous one is dead)."""
    if not passkeys.available():
        return render_template("reset_verify.html", error=error), status
    ceremony = passkeys.begin_authentication()
    try:
        flows.save(flow_id, {**data, "passkey_challenge": ceremony.challenge}, version)
    except flows.FlowConflict:
        return _expired()
    passkeys.use_script()
    return render_template(
        "reset_verify.html", error=error, passkey_options=ceremony.options
    ), status


@bp.route("/verify", methods=["GET", "POST"])
def verify() -> Any:
    """Prove the account with its authenticator app or a passkey (the same page for every
    user name)."""
    state = _state()
    if state is None:
        return _expired()
    flow_id, data, version = state
    if request.method == "GET":
        return _verify_page(flow_id, data, version)
    form = CodeForm.submitted()
    user = db.session.scalar(sa.select(User).filter_by(username=data["username"]))
    if form.action.data == "passkey":
        return _verify_passkey(flow_id, data, version, user, form.credential.data)
    return _verify_code(flow_id, data, version, user, form.code.data)


def _verify_code(
    flow_id: str, data: dict[str, Any], version: int, user: User | None, code: str
) -> Any:
    """A code from the named user's authenticator app, or one of their recovery codes."""
    usable = user is not None and user.has_totp and not user.disabled
    try:
        # Every name, real or not, goes through the same throttle and the same check, so
        # neither the message nor the time tells which names exist.
        check_code(
            user if user is not None and usable else Nobody(data["username"]), code, scope="reset"
        )
    except MfaError as exc:
        return _refused(flow_id, data, version, user, exc)
    assert user is not None
    try:
        flows.save(flow_id, {**data, "verified_user": user.id, "passkey_challenge": None}, version)
    except flows.FlowConflict:
        return _expired()
    return redirect(url_for("reset.new_password"))


def _verify_passkey(
    flow_id: str, data: dict[str, Any], version: int, user: User | None, credential: str
) -> Any:
    """A passkey of the named user in place of a code; the flow's challenge is spent first."""
    challenge = data.get("passkey_challenge")
    data = {**data, "passkey_challenge": None}
    try:
        version = flows.save(flow_id, data, version)
    except flows.FlowConflict:
        return _expired()
    usable = user is not None and not user.disabled
    try:
        # An unknown or disabled name owns no passkey: any answer fails as a wrong one does.
        passkeys.authenticate(
            credential,
            challenge,
            user_id=user.id if usable and user is not None else "name:" + data["username"],
        )
    except PasskeyError as exc:
        return _refused(flow_id, data, version, user, exc)
    assert user is not None
    try:
        flows.save(flow_id, {**data, "verified_user": user.id}, version)
    except flows.FlowConflict:
        return _expired()
    return redirect(url_for("reset.new_password"))


def _refused(
    flow_id: str, data: dict[str, Any], version: int, user: User | None, exc: MfaError
) -> Any:
    """Log the wrong code or refused passkey and say so; the reset's own throttle, never the
    sign-in's."""
    throttled = isinstance(exc, Throttled)
    reason = (
        f"passkey refused ({passkeys.reason(exc)})"
        if isinstance(exc, PasskeyError)
        else type(exc).__name__
    )
    record(
        correlation_id=data["correlation_id"],
        kind="reset",
        outcome="failure",
        user=user,
        username=data["username"],
        client_id=None,
        error_code=LOCKED_OUT if throttled else MFA_FAILED,
        reason=reason,
    )
    message = passkeys.user_message(exc) if isinstance(exc, PasskeyError) else error_message(exc)
    found = flows.load(KIND, flow_id)
    if found is None:
        return _expired()
    return _verify_page(flow_id, found[0], found[1], message, 429 if throttled else 400)


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
    reason = gettext("Choose a new password for your account.")
    if request.method == "GET":
        return render_template("change_password.html", endpoint="reset.new_password", reason=reason)
    form = NewPasswordForm(user)
    if not form.validate_on_submit():
        return render_template(
            "change_password.html", endpoint="reset.new_password", reason=reason, error=form.error
        ), 400
    new = form.new_password.data
    # The flow is spent before the password changes: a racing copy finds it gone.
    if not flows.drop(flow_id):
        return _expired()
    session.pop(KIND, None)
    apply_new_password(
        user,
        new,
        keep_sid=None,
        event="password_reset",
        detail=RiskDetail.USER_PERFORMED_SECURED_PASSWORD_RESET,
    )
    next_url = url_for("signin.login", flow=data["flow"]) if data.get("flow") else None
    return render_template("reset_done.html", next_url=next_url)
