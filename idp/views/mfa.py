"""Second-factor pages: the challenge ("Verification code", "Use a passkey") and the
registration ("Add a passkey" beside the authenticator app) with its grace period."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, redirect, render_template, request

from mfa import totp
from mfa.errors import InvalidCode, InvalidRecoveryCode, PasskeyError, ReplayedCode, Throttled
from risk.policy import ANY, PHISHING_RESISTANT, USER_RISK, Action, Decision, Result
from risk.vocabulary import RiskDetail, RiskState, Scope

from .. import authflow, passkeys, user_risk
from ..accounts import bind_totp, tell_user
from ..authflow import AuthFlow, Step, StepContext
from ..claims import requested_acr_values
from ..forms import CodeForm, RegisterFactorForm
from ..i18n import N_, gettext
from ..models import SsoSession, User
from ..secondfactor import MFA_FAILED, check_code, error_message, record_failure
from ..secretbox import seal, unseal
from ..services import services
from ..sessions import clock_now, elevate_session
from ..signin_log import record

bp = Blueprint("mfa", __name__, url_prefix="/mfa")


NEEDS_PASSKEY = N_(
    "This sign-in needs a passkey: an authenticator app code is not enough here. Use a passkey."
)


def _context(flow: AuthFlow, user: User, sso: SsoSession) -> authflow.Context:
    return authflow.Context(
        flow=flow,
        user=user,
        sso=sso,
        prompts=frozenset(),
        max_age=None,
        acr_values=requested_acr_values(flow.param("acr_values"), flow.param("claims")),
    )


def _verify_page(flow: AuthFlow, user: User, error: str | None = None, status: int = 200) -> Any:
    """The challenge: a code form when a code may be used, and "Use a passkey" when the user
    has one (with a fresh challenge kept in the flow; the previous one is dead)."""
    options = None
    if user.has_passkey and passkeys.available():
        ceremony = passkeys.begin_authentication()
        flow = authflow.save(replace(flow, passkey_challenge=ceremony.challenge))
        options = ceremony.options
        passkeys.use_script()
    return render_template(
        "mfa_verify.html",
        flow=flow.id,
        error=error,
        passkey_options=options,
        code_allowed=user.has_totp and flow.mfa_strength != PHISHING_RESISTANT,
        passkey_required=flow.mfa_strength == PHISHING_RESISTANT,
        user_risk_due=flow.user_risk_due and user.has_passkey,
    ), status


@bp.route("/verify", methods=["GET", "POST"])
@authflow.step_page(Step.MFA)
def verify(step: StepContext) -> Any:
    """The second-factor challenge: a TOTP or recovery code, or a passkey."""
    flow, user, sso = step.flow, step.user, step.sso
    if not user.has_second_factor:
        return redirect(authflow.resume_url(flow))
    if request.method == "GET":
        return _verify_page(flow, user)
    form = CodeForm.submitted()
    if form.action.data == "passkey":
        return _verify_passkey(flow, user, sso, form.credential.data)
    if not user.has_totp or flow.mfa_strength == PHISHING_RESISTANT:
        # A phishing-resistant demand is never met by a code, right or wrong.
        return _verify_page(flow, user, gettext(NEEDS_PASSKEY), 400)
    try:
        method = check_code(user, form.code.data)
    except (InvalidCode, ReplayedCode, Throttled, InvalidRecoveryCode) as exc:
        record_failure(user, exc, correlation_id=flow.correlation_id, client_id=flow.client_id)
        return _verify_page(
            flow, user, error_message(exc), 429 if isinstance(exc, Throttled) else 400
        )
    flow = authflow.save(flow.passing(Step.MFA, passkey_challenge=None))
    elevate_session(sso, {"otp" if method == "otp" else "rc", "mfa"})
    _after_second_factor(flow, user, sso)
    return redirect(authflow.resume_url(flow))


def _verify_passkey(flow: AuthFlow, user: User, sso: SsoSession, credential: str) -> Any:
    """Check a passkey assertion against this flow's challenge, which is spent first."""
    challenge = flow.passkey_challenge
    flow = authflow.save(replace(flow, passkey_challenge=None))
    try:
        passkeys.authenticate(credential, challenge, user_id=user.id)
    except PasskeyError as exc:
        record(
            correlation_id=flow.correlation_id,
            kind="mfa",
            outcome="failure",
            user=user,
            username=None,
            client_id=flow.client_id,
            error_code=MFA_FAILED,
            reason=f"passkey refused ({passkeys.reason(exc)})",
        )
        return _verify_page(flow, user, passkeys.user_message(exc), 400)
    flow = authflow.save(flow.passing(Step.MFA, passkey_passed=True))
    elevate_session(sso, {"hwk", "mfa"})
    _after_second_factor(flow, user, sso)
    return redirect(authflow.resume_url(flow))


def _after_second_factor(flow: AuthFlow, user: User, sso: SsoSession) -> None:
    """Remediate what the factor just passed answers: the sign-in's risk when the challenge
    was risk-driven, and user risk when the policies count this passkey as its remediation."""
    if flow.mfa_risk_driven:
        user_risk.close_detections(
            user.id,
            state=RiskState.REMEDIATED,
            detail=RiskDetail.USER_PASSED_MFA_DRIVEN_BY_RISK_BASED_POLICY,
            correlation_id=flow.correlation_id,
            scope=Scope.SIGN_IN,
        )
        user_risk.recompute(
            user.id,
            activity="mfaPassed",
            detail=RiskDetail.USER_PASSED_MFA_DRIVEN_BY_RISK_BASED_POLICY,
        )
        tell_user(user, "risky_sign_in", correlation_id=flow.correlation_id)
    if (
        flow.passkey_passed
        and _context(flow, user, sso).judgement.decision.result_of(USER_RISK).result
        is Result.SUCCESS
    ):
        passkeys.remediate_user_risk(user, keep_sid=sso.id, correlation_id=flow.correlation_id)


def _register_page(
    flow: AuthFlow, user: User, page: dict[str, Any], error: str | None = None, status: int = 200
) -> Any:
    """The registration page with a fresh passkey challenge kept in the flow (none when the
    issuer is an IP address, which no browser accepts as RP ID)."""
    options = None
    if passkeys.available():
        ceremony = passkeys.begin_registration(user)
        flow = authflow.save(replace(flow, passkey_challenge=ceremony.challenge))
        passkeys.use_script()
        options = ceremony.options
    return render_template(
        "mfa_register.html", **page, error=error, passkey_options=options
    ), status


def _registration_wanted(decision: Decision, user: User) -> bool:
    """Whether the policies ask this user to register here (never on a risky sign-in)."""
    if decision.action is not Action.REGISTER_MFA or user.has_passkey:
        return False
    return decision.strength == PHISHING_RESISTANT or not user.has_totp


def _page_data(flow: AuthFlow, user: User, decision: Decision) -> tuple[AuthFlow, dict[str, Any]]:
    """What the registration page shows; the authenticator app's part only when a code may
    be the factor (a new secret for each attempt, kept sealed in the flow until proven)."""
    totp_allowed = decision.strength == ANY and not user.has_totp
    page: dict[str, Any] = {
        "flow": flow.id,
        "skippable": decision.skippable,
        "days_left": decision.grace_days_left,
        "totp": totp_allowed,
        "passkey_required": decision.strength == PHISHING_RESISTANT,
    }
    if totp_allowed:
        if flow.totp_pending is None:
            flow = authflow.save(replace(flow, totp_pending=seal(totp.new_secret())))
        assert flow.totp_pending is not None
        secret = unseal(flow.totp_pending)
        issuer = services().settings.mfa.totp_issuer
        uri = totp.provisioning_uri(secret, account=user.username, issuer=issuer)
        label = gettext("QR code to scan with your authenticator app")
        page.update(secret=secret, uri=uri, qr=totp.qr_svg(uri, label=label))
    return flow, page


@bp.route("/register", methods=["GET", "POST"])
@authflow.step_page(Step.REGISTER_MFA)
def register(step: StepContext) -> Any:
    """Register a second factor: an authenticator app (QR code, secret, otpauth link) or a
    passkey; "Skip for now" inside the grace period."""
    flow, user, sso = step.flow, step.user, step.sso
    decision = _context(flow, user, sso).judgement.decision
    if not _registration_wanted(decision, user):
        return redirect(authflow.resume_url(flow))
    flow, page = _page_data(flow, user, decision)
    if request.method == "GET":
        return _register_page(flow, user, page)
    form = RegisterFactorForm.submitted()
    action = form.action.data
    if action == "skip":
        if not decision.skippable:
            return _register_page(
                flow,
                user,
                page,
                gettext("The grace period is over: register now to continue."),
                400,
            )
        flow = authflow.save(
            replace(flow, pending=None, registration_skipped=True, passkey_challenge=None)
        )
        return redirect(authflow.resume_url(flow))
    if action == "passkey":
        return _register_passkey(flow, user, sso, page, form)
    if not page["totp"]:
        return _register_page(flow, user, page, gettext(NEEDS_PASSKEY), 400)
    return _register_totp(flow, user, sso, page, form.code.data)


def _register_totp(
    flow: AuthFlow, user: User, sso: SsoSession, page: dict[str, Any], code: str
) -> Any:
    """Bind the flow's secret once a correct code proves the app holds it."""
    try:
        proven = totp.verify(page["secret"], code, now=clock_now(), last_used_step=None)
    except (InvalidCode, ReplayedCode) as exc:
        return _register_page(flow, user, page, error_message(exc), 400)
    flow = authflow.save(flow.passing(Step.REGISTER_MFA, totp_pending=None, passkey_challenge=None))
    codes = bind_totp(user, seal(page["secret"]), proven)
    if codes is None:
        # Another attempt registered an authenticator first: that one must be used.
        return redirect(authflow.resume_url(flow))
    flow = authflow.save(flow.passing(Step.MFA))
    elevate_session(sso, {"otp", "mfa"})
    return render_template(
        "mfa_recovery_codes.html", codes=codes, next_fields=parse_qsl(flow.query)
    )


def _register_passkey(
    flow: AuthFlow, user: User, sso: SsoSession, page: dict[str, Any], form: RegisterFactorForm
) -> Any:
    """Store a new passkey made against this flow's challenge, which is spent first; the
    passkey's user verification counts as the second factor of this sign-in."""
    name = form.name.data
    problem = passkeys.name_problem(name)
    if problem:
        return _register_page(flow, user, page, problem, 400)
    challenge = flow.passkey_challenge
    flow = authflow.save(replace(flow, passkey_challenge=None))
    try:
        passkeys.register(user, form.credential.data, challenge, name)
    except PasskeyError as exc:
        return _register_page(flow, user, page, passkeys.user_message(exc), 400)
    flow = authflow.save(flow.passing(Step.REGISTER_MFA, totp_pending=None))
    flow = authflow.save(flow.passing(Step.MFA, passkey_passed=True))
    elevate_session(sso, {"hwk", "mfa"})
    tell_user(user, "passkey_added")
    return redirect(authflow.resume_url(flow))
