"""The sign-in pages: user name and password, and the forced password change."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, redirect, render_template, request

from risk.context import SignInContext, SignInKind
from risk.vocabulary import RiskDetail

from .. import authflow, protection, refusals
from ..accounts import apply_new_password
from ..authflow import AuthFlow, Step, StepContext
from ..decision import assess, build_context
from ..errors import InvalidCredentials
from ..extensions import db
from ..forms import NewPasswordForm, SignInForm
from ..i18n import N_, gettext
from ..models import User
from ..requestinfo import Browser, client_ip, request_id, user_agent
from ..services import services
from ..sessions import csrf_token, elevate_session, new_session_id, start_session
from ..signin_log import record
from .oauth import resume

bp = Blueprint("signin", __name__)

BAD_CREDENTIALS = N_("Your account or password is incorrect.")

# Built once: every posted guess, refused ones included, runs it (building it per request
# cost about as much as running it).
_BY_NAME = sa.select(User).where(User.username == sa.bindparam("username"))


@bp.route("/login", methods=["GET", "POST"])
@authflow.flow_page
def login(flow: AuthFlow) -> Any:
    """Ask for the user name and password, then continue the authorization request."""
    if request.method == "GET":
        return render_template("login.html", flow=flow.id, username=flow.param("login_hint")[:150])
    form = SignInForm.submitted()
    username, password = form.username.data, form.password.data
    hasher = services().passwords
    user = db.session.scalar(_BY_NAME, {"username": username}) if username else None
    # Checked a moment ago, before Flask, when idp.refusals let this name through.
    checked = request.environ.get(protection.CHECKED) == username
    refusal = None if checked else protection.check(username, user)
    if refusal is not None:
        return refused(flow, username, user, refusal)
    try:
        verified = hasher.verify(
            password, user.password_hash if user and not user.disabled else None
        )
    except InvalidCredentials as exc:
        risk = assess(password_context(flow, user, username, password, valid=False), user, None)
        record(
            correlation_id=flow.correlation_id,
            kind="password",
            outcome="failure",
            user=user,
            username=username,
            client_id=flow.client_id,
            error_code=exc.code,
            reason="invalid user name or password",
            risk=risk,
        )
        protection.failed(username, user)
        return render_template(
            "login.html",
            flow=flow.id,
            username=username,
            error=gettext(BAD_CREDENTIALS),
            error_code=exc.code,
        ), 401
    assert user is not None
    sid = new_session_id()
    risk = assess(password_context(flow, user, username, password, valid=True), user, sid)
    # The writes last, after the engine (on SQLite the write lock is then not held while it
    # runs).
    protection.succeeded(username, user)
    if verified.new_hash:
        user.password_hash = verified.new_hash
    sso = start_session(user, ["pwd"], client_ip(), user_agent(), session_id=sid)
    # The authorization request goes on here: its code, or the next step's save, commits
    # these writes with its own (the flow is not saved in between).
    return resume(flow.signed_in(sso, risk))


def password_context(
    flow: AuthFlow, user: User | None, username: str, password: str, *, valid: bool
) -> SignInContext:
    """What the risk engine sees of a posted password, right or wrong."""
    return build_context(
        kind=SignInKind.PASSWORD,
        user=user,
        username=username,
        client_id=flow.client_id,
        correlation_id=flow.correlation_id,
        password=password,
        password_valid=valid,
    )


def refused(flow: AuthFlow, username: str, user: User | None, refusal: protection.Refusal) -> Any:
    """The same answer to a right and a wrong password while locked out or throttled: the
    blocked page (403) for a locked account, the sign-in page (429) for a throttled IP.
    (Most such posts are answered before Flask, by idp.refusals, with this answer.)"""
    page = refusals.page_for(refusal.reason)
    body, headers = refusals.answer(
        page,
        refusal,
        flow,
        username,
        user,
        Browser.of_request(),
        request_id=request_id(),
        csrf_token=csrf_token(),
    )
    return body, page.status, headers


@bp.route("/password/change", methods=["GET", "POST"])
@authflow.step_page(Step.CHANGE_PASSWORD)
def change_password(step: StepContext) -> Any:
    """Set a new password: after an admin's temporary one, or to remediate user risk."""
    flow, user, sso = step.flow, step.user, step.sso
    reason = (
        gettext("Your account may be at risk. Choose a new password to protect it.")
        if flow.password_change == "risk"
        else None
    )
    if request.method == "GET":
        return render_template("change_password.html", flow=flow.id, reason=reason)
    form = NewPasswordForm(user)
    if not form.validate_on_submit():
        return render_template(
            "change_password.html", flow=flow.id, reason=reason, error=form.error
        ), 400
    new = form.new_password.data
    flow = authflow.save(flow.passing(Step.CHANGE_PASSWORD, password_change=None))
    # After the second factor in this flow the change is secure and remediates user risk.
    secured = Step.MFA in flow.passed_in(sso)
    apply_new_password(
        user,
        new,
        keep_sid=sso.id,
        event="password_change",
        detail=RiskDetail.USER_PERFORMED_SECURED_PASSWORD_CHANGE if secured else None,
    )
    elevate_session(sso, set())
    return redirect(authflow.resume_url(flow))
