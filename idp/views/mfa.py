"""TOTP pages: the challenge ("Verification code") and the registration with its grace period."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

import sqlalchemy as sa
from flask import Blueprint, current_app, redirect, render_template, request

from mfa import totp
from mfa.errors import InvalidCode, InvalidRecoveryCode, MfaError, ReplayedCode, Throttled
from mfa.recovery import hash_recovery_code, new_recovery_codes, verify_recovery_code
from mfa.throttle import TotpThrottle
from risk.context import SignInKind
from risk.policy import Action
from risk.vocabulary import RiskDetail, RiskState, Scope

from .. import riskops
from ..decision import assess, build_context, decide
from ..extensions import db
from ..models import SignIn, SsoSession, User
from ..secretbox import seal, unseal
from ..sessions import check_csrf, clock_now
from ..signin_log import record
from .oauth import flow_param, resume_url, save_flow
from .signin import Step, current_step

bp = Blueprint("mfa", __name__, url_prefix="/mfa")

THROTTLE = TotpThrottle(max_failures=5, window_seconds=300, lockout_seconds=300)
MFA_FAILED = 500121  # Entra: authentication failed during the strong authentication request
LOCKED_OUT = 50053


def claim_step(user: User, step: int) -> None:
    """Record the accepted time step atomically; a step not above the last is a replay."""
    claimed = db.session.execute(
        sa.update(User)
        .where(User.id == user.id,
               sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
    )
    db.session.commit()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise ReplayedCode()


def check_code(user: User, secret: str, code: str) -> str:
    """Verify a TOTP (or, for a registered user, a recovery) code; raise MfaError if wrong."""
    now = clock_now()
    failures = db.session.scalars(
        sa.select(SignIn.created_at).where(
            SignIn.user_id == user.id, SignIn.kind == "mfa", SignIn.outcome == "failure",
            SignIn.created_at >= now - timedelta(seconds=THROTTLE.window_seconds),
        )
    ).all()
    THROTTLE.check(failures, now)
    cleaned = code.replace(" ", "").replace("-", "")
    if user.has_totp and len(cleaned) > 6 and user.recovery_code_hashes:
        index = verify_recovery_code(code, user.recovery_code_hashes)
        hashes = list(user.recovery_code_hashes)
        del hashes[index]
        user.recovery_code_hashes = hashes
        db.session.commit()
        return "recovery"
    step = totp.verify(secret, code, now=now, last_used_step=user.totp_last_step)
    claim_step(user, step)
    return "otp"


def record_failure(user: User, flow: dict[str, Any], exc: MfaError) -> None:
    """Log a wrong code; repeated ones after a correct password raise mfaFraud."""
    ctx = build_context(kind=SignInKind.MFA_FAILED, user=user, username=user.username,
                        client_id=flow.get("client_id", ""),
                        correlation_id=flow["correlation_id"])
    # The engine counts the attempt it evaluates, so it runs before the attempt is logged.
    if not isinstance(exc, Throttled):
        assess(ctx, user, None)
    code = LOCKED_OUT if isinstance(exc, Throttled) else MFA_FAILED
    record(correlation_id=flow["correlation_id"], kind="mfa", outcome="failure", user=user,
           username=None, client_id=flow.get("client_id"), error_code=code,
           reason=type(exc).__name__)


def error_message(exc: MfaError) -> str:
    if isinstance(exc, Throttled):
        return (f"Too many wrong codes. Wait {exc.retry_after_seconds} seconds, then try again "
                f"(error {LOCKED_OUT}).")
    if isinstance(exc, ReplayedCode):
        return "That code was already used. Wait for the next code and enter it."
    return "That code is not right. Enter the current code from your authenticator app."


def passed(user: User, sso: SsoSession, flow: dict[str, Any], key: str, method: str) -> Any:
    """Mark the second factor done for this flow, remediating a risk-driven challenge."""
    sso.amr = sorted({*sso.amr, "otp" if method == "otp" else "rc", "mfa"})
    db.session.commit()
    flow["mfa_sid"] = sso.id
    save_flow(key, flow)
    if flow.get("mfa_risk_driven"):
        riskops.close_detections(user.id, state=RiskState.REMEDIATED,
                                 detail=RiskDetail.USER_PASSED_MFA_DRIVEN_BY_RISK_BASED_POLICY,
                                 correlation_id=flow["correlation_id"], scope=Scope.SIGN_IN)
        riskops.recompute(user.id, activity="mfaPassed",
                          detail=RiskDetail.USER_PASSED_MFA_DRIVEN_BY_RISK_BASED_POLICY)
    return redirect(resume_url(flow))


@bp.route("/verify", methods=["GET", "POST"])
def verify() -> Any:
    """The TOTP challenge."""
    step = current_step()
    if not isinstance(step, Step):
        return step
    key, flow, user, sso = step.key, step.flow, step.user, step.sso
    if not user.has_totp:
        return redirect(resume_url(flow))
    if request.method == "GET":
        return render_template("mfa_verify.html", flow=key)
    check_csrf()
    try:
        method = check_code(user, unseal(user.totp_secret or ""), request.form.get("code", ""))
    except (InvalidCode, ReplayedCode, Throttled, InvalidRecoveryCode) as exc:
        record_failure(user, flow, exc)
        status = 429 if isinstance(exc, Throttled) else 400
        return render_template("mfa_verify.html", flow=key, error=error_message(exc)), status
    return passed(user, sso, flow, key, method)


def _registration_decision(user: User, sso: SsoSession, flow: dict[str, Any]) -> Any:
    return decide(user=user, sso=sso, risk=flow["risk"], flow=flow,
                  acr_values=flow_param(flow, "acr_values")).decision


@bp.route("/register", methods=["GET", "POST"])
def register() -> Any:
    """TOTP registration: QR code, secret, otpauth link; "Skip for now" inside the grace."""
    step = current_step()
    if not isinstance(step, Step):
        return step
    key, flow, user, sso = step.key, step.flow, step.user, step.sso
    if user.has_totp:
        return redirect(resume_url(flow))
    decision = _registration_decision(user, sso, flow)
    if decision is None or decision.action is not Action.REGISTER_MFA:
        # Only a registration the policies ask for may happen here (never on a risky sign-in).
        return redirect(resume_url(flow))
    if user.totp_secret is None:
        user.totp_secret = seal(totp.new_secret())
        db.session.commit()
    secret = unseal(user.totp_secret)
    issuer = current_app.extensions["idp.settings"].mfa.totp_issuer
    uri = totp.provisioning_uri(secret, account=user.username, issuer=issuer)
    page = {"flow": key, "secret": secret, "uri": uri, "qr": totp.qr_svg(uri),
            "skippable": decision.skippable, "days_left": decision.grace_days_left}
    if request.method == "GET":
        return render_template("mfa_register.html", **page)
    check_csrf()
    if request.form.get("action") == "skip":
        if not decision.skippable:
            return render_template("mfa_register.html", **page,
                                   error="The grace period is over: register now to continue."), 400
        flow["skipped_sid"] = sso.id
        save_flow(key, flow)
        return redirect(resume_url(flow))
    try:
        step = totp.verify(secret, request.form.get("code", ""), now=clock_now(),
                           last_used_step=user.totp_last_step)
        claim_step(user, step)
    except (InvalidCode, ReplayedCode) as exc:
        return render_template("mfa_register.html", **page, error=error_message(exc)), 400
    codes = new_recovery_codes()
    user.recovery_code_hashes = [hash_recovery_code(c) for c in codes]
    user.totp_registered_at = clock_now()
    db.session.commit()
    sso.amr = sorted({*sso.amr, "otp", "mfa"})
    db.session.commit()
    flow["mfa_sid"] = sso.id
    save_flow(key, flow)
    return render_template("mfa_recovery_codes.html", codes=codes,
                           next_fields=parse_qsl(flow["query"]))
