"""TOTP pages: the challenge ("Verification code") and the registration with its grace period."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, current_app, redirect, render_template, request

from mfa import totp
from mfa.errors import InvalidCode, InvalidRecoveryCode, ReplayedCode, Throttled
from risk.policy import Action
from risk.vocabulary import RiskDetail, RiskState, Scope

from .. import authflow, riskops
from ..accounts import bind_totp
from ..authflow import Step, StepContext
from ..claims import requested_acr_values
from ..secondfactor import check_code, error_message, record_failure
from ..secretbox import seal, unseal
from ..sessions import check_csrf, clock_now, elevate_session

bp = Blueprint("mfa", __name__, url_prefix="/mfa")


@bp.route("/verify", methods=["GET", "POST"])
@authflow.step_page(Step.MFA)
def verify(step: StepContext) -> Any:
    """The TOTP challenge."""
    flow, user, sso = step.flow, step.user, step.sso
    if not user.has_totp:
        return redirect(authflow.resume_url(flow))
    if request.method == "GET":
        return render_template("mfa_verify.html", flow=flow.id)
    check_csrf()
    try:
        method = check_code(user, request.form.get("code", ""))
    except (InvalidCode, ReplayedCode, Throttled, InvalidRecoveryCode) as exc:
        record_failure(user, exc, correlation_id=flow.correlation_id, client_id=flow.client_id)
        status = 429 if isinstance(exc, Throttled) else 400
        return render_template("mfa_verify.html", flow=flow.id, error=error_message(exc)), status
    flow = authflow.save(flow.passing(Step.MFA))
    elevate_session(sso, {"otp" if method == "otp" else "rc", "mfa"})
    if flow.mfa_risk_driven:
        riskops.close_detections(user.id, state=RiskState.REMEDIATED,
                                 detail=RiskDetail.USER_PASSED_MFA_DRIVEN_BY_RISK_BASED_POLICY,
                                 correlation_id=flow.correlation_id, scope=Scope.SIGN_IN)
        riskops.recompute(user.id, activity="mfaPassed",
                          detail=RiskDetail.USER_PASSED_MFA_DRIVEN_BY_RISK_BASED_POLICY)
    return redirect(authflow.resume_url(flow))


@bp.route("/register", methods=["GET", "POST"])
@authflow.step_page(Step.REGISTER_MFA)
def register(step: StepContext) -> Any:
    """TOTP registration: QR code, secret, otpauth link; "Skip for now" inside the grace."""
    flow, user, sso = step.flow, step.user, step.sso
    ctx = authflow.Context(flow=flow, user=user, sso=sso, prompts=frozenset(), max_age=None,
                           acr_values=requested_acr_values(flow.param("acr_values"),
                                                           flow.param("claims")))
    decision = ctx.judgement.decision
    if user.has_totp or decision.action is not Action.REGISTER_MFA:
        # Only a registration the policies ask for may happen here (never on a risky sign-in).
        return redirect(authflow.resume_url(flow))
    if flow.totp_pending is None:
        # A new secret for each registration attempt, kept in the flow until proven.
        flow = authflow.save(replace(flow, totp_pending=seal(totp.new_secret())))
    assert flow.totp_pending is not None
    secret = unseal(flow.totp_pending)
    issuer = current_app.extensions["idp.settings"].mfa.totp_issuer
    uri = totp.provisioning_uri(secret, account=user.username, issuer=issuer)
    page = {"flow": flow.id, "secret": secret, "uri": uri, "qr": totp.qr_svg(uri),
            "skippable": decision.skippable, "days_left": decision.grace_days_left}
    if request.method == "GET":
        return render_template("mfa_register.html", **page)
    check_csrf()
    if request.form.get("action") == "skip":
        if not decision.skippable:
            return render_template("mfa_register.html", **page,
                                   error="The grace period is over: register now to continue."), 400
        flow = authflow.save(replace(flow, pending=None, registration_skipped=True))
        return redirect(authflow.resume_url(flow))
    try:
        proven = totp.verify(secret, request.form.get("code", ""), now=clock_now(),
                             last_used_step=None)
    except (InvalidCode, ReplayedCode) as exc:
        return render_template("mfa_register.html", **page, error=error_message(exc)), 400
    flow = authflow.save(flow.passing(Step.REGISTER_MFA, totp_pending=None))
    codes = bind_totp(user, seal(secret), proven)
    if codes is None:
        # Another attempt registered an authenticator first: that one must be used.
        return redirect(authflow.resume_url(flow))
    flow = authflow.save(flow.passing(Step.MFA))
    elevate_session(sso, {"otp", "mfa"})
    return render_template("mfa_recovery_codes.html", codes=codes,
                           next_fields=parse_qsl(flow.query))
