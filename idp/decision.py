"""The one place where the authorize flow decides what happens after the user is identified.

The risk engine is called explicitly (`assess`), its detections stored, and the policies
of the configuration evaluated into one `risk.policy.Decision`; `idp.authflow`'s checks
turn that into the next step for the browser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import render_template

from risk.context import IpInfo, SignInContext, SignInKind
from risk.engine import Assessment
from risk.levels import Level
from risk.policy import (
    NO_PASSKEY,
    RISKY_WITHOUT_MFA,
    Decision,
    Subject,
    in_scope,
)
from risk.policy import evaluate as evaluate_policies

from . import risk_engine, user_risk
from .extensions import db
from .i18n import N_, gettext
from .models import SsoSession, User
from .requestinfo import client_ip, device_id, user_agent
from .requestinfo import request_id as this_request_id
from .services import services
from .sessions import clock_now

ACR_PASSWORD = "urn:idp:acr:password"
ACR_MFA = "urn:idp:acr:mfa"
# Multi-factor with a phishing-resistant factor: a passkey (SPEC "Passkeys").
ACR_PHISHING_RESISTANT = "urn:idp:acr:phishing-resistant"
ACRS = (ACR_PASSWORD, ACR_MFA, ACR_PHISHING_RESISTANT)
TEMPORARY_PASSWORD = 50055


# What a person is told for each blocking code: the reason in plain words, and what to do.
PLAIN_WORDS: dict[int, tuple[str, str]] = {
    53004: (
        N_(
            "This sign-in looks unusual, and your account has no authenticator app to confirm "
            "it is you. For your protection, a risky sign-in cannot be used to set one up."
        ),
        N_(
            "Sign in from a device and network you usually use, or ask your administrator for "
            "help and give them the details below."
        ),
    ),
    50053: (
        N_("Your account is temporarily locked to protect it from someone guessing its password."),
        N_("Wait a little and try again. If you did not try to sign in, tell your administrator."),
    ),
    53003: (
        N_("Your organisation's sign-in policy blocks this sign-in because of its risk."),
        N_(
            "Try again later from a device and network you usually use. If it keeps "
            "happening, contact your administrator with the details below."
        ),
    ),
}


# 53004 for a user who has a second factor, but not the passkey the policy demands.
NO_PASSKEY_WORDS = (
    N_(
        "This sign-in needs a passkey, and your account has none. An authenticator app code "
        "is not enough here, and for your protection this sign-in cannot be used to add a "
        "passkey."
    ),
    N_(
        "Add a passkey on your account page (/account) from a device and network you usually "
        "use, then sign in again; or ask your administrator for help with the details below."
    ),
)


def plain_reason(code: int | None, fallback: str | None) -> tuple[str, str | None]:
    """The reason and advice a person sees for an error code, in English (the OAuth error's
    description); `blocked_page` shows them in the reader's language."""
    if code == RISKY_WITHOUT_MFA and fallback and NO_PASSKEY in fallback:
        return NO_PASSKEY_WORDS
    reason, advice = PLAIN_WORDS.get(code or 0, (fallback or "", None))
    return reason, advice


def blocked_page(
    code: int | None,
    reason: str | None,
    correlation_id: str,
    advice: str | None = None,
    *,
    request_id: str | None = None,
    now: Any = None,
) -> Any:
    """The 403 page: the code, the reason in plain words, what to do, and ids for support
    (this request's id and time unless given)."""
    plain, default_advice = plain_reason(code, reason)
    return render_template(
        "blocked.html",
        code=code,
        reason=gettext(plain) if plain else plain,
        advice=advice or (gettext(default_advice) if default_advice else None),
        correlation_id=correlation_id,
        request_id=request_id or this_request_id(),
        now=now or clock_now(),
    ), 403


@dataclass(frozen=True)
class Judgement:
    """The policies' decision for one authorization, and the acr the session has earned."""

    decision: Decision
    acr: str


def build_context(
    *,
    kind: SignInKind,
    user: User | None,
    username: str,
    client_id: str,
    correlation_id: str,
    password: str | None = None,
    password_valid: bool | None = None,
) -> SignInContext:
    """The frozen sign-in context the risk engine evaluates."""
    return SignInContext(
        correlation_id=correlation_id,
        time=clock_now(),
        ip=client_ip(),
        user_agent=user_agent(),
        client_id=client_id,
        username=username,
        user_id=user.id if user else None,
        kind=kind,
        password_valid=password_valid,
        device_id=device_id(),
        password=password,
    )


def summarize(assessment: Assessment, sid: str | None) -> dict[str, Any]:
    """What the flow keeps of an assessment between requests (no secrets, cookie-sized)."""
    info = assessment.ip_info
    return {
        "sid": sid,
        "level": assessment.sign_in_risk_level.value,
        "events": list(assessment.risk_event_types),
        "not_evaluated": [[n.detector, n.reason] for n in assessment.not_evaluated],
        "features": sorted([list(f) for f in assessment.features]),
        "trusted": assessment.trusted_location,
        "country": info.country,
        "city": info.city,
        "lat": info.latitude,
        "lon": info.longitude,
        "radius_km": info.accuracy_radius_km,
        "asn": info.asn,
        # What the sign-in adds to the population counts unfamiliarFeatures learns from,
        # once it succeeds (a step-up nobody answers adds nothing).
        "novelty": list(assessment.novelty_counters),
    }


def assess(ctx: SignInContext, user: User | None, sid: str | None) -> dict[str, Any]:
    """Run the engine on a sign-in, store what it detected, and summarise it for the flow."""
    assessment = risk_engine.engine().evaluate(ctx)
    detections = assessment.detections
    if ctx.kind is SignInKind.MFA_FAILED:
        # The sign-in's own detections were stored when its password was checked.
        detections = assessment.user_detections
    # Detections of wrong-password attempts are not the user's risk: anyone can type a name.
    if user is not None and ctx.password_valid is not False and detections:
        user_risk.store_detections(user.id, ctx.correlation_id, detections, assessment.ip_info)
        user_risk.recompute(user.id)
    return summarize(assessment, sid)


def record_success(ctx: SignInContext, summary: dict[str, Any]) -> None:
    """The sign-in ended in tokens: it becomes history the detectors learn from."""
    info = IpInfo(
        ip=ctx.ip,
        country=summary["country"],
        city=summary["city"],
        latitude=summary["lat"],
        longitude=summary["lon"],
        accuracy_radius_km=summary.get("radius_km"),
        asn=summary["asn"],
    )
    assessment = Assessment(
        correlation_id=ctx.correlation_id,
        sign_in_risk_level=Level.parse(summary["level"]),
        detections=(),
        not_evaluated=(),
        ip_info=info,
        trusted_location=summary["trusted"],
        features=frozenset((k, v) for k, v in summary["features"]),
        evaluated_at=ctx.time,
        # A flow begun before an upgrade may lack the key.
        counted_novelty=tuple(summary.get("novelty", ())),
    )
    risk_engine.engine().repository.record(ctx, info, assessment, True)


def _start_grace_period(user: User) -> None:
    """The registration grace period starts at the first sign-in under the policy."""
    policy = services().settings.policies.mfa_registration
    if (
        policy.state == "on"
        and user.mfa_grace_started_at is None
        and not user.has_second_factor
        and in_scope(policy, frozenset(user.groups or ()))
    ):
        user.mfa_grace_started_at = clock_now()
        db.session.commit()


def requested_acr(
    acr_values: str, *, mfa_possible: bool, phishing_resistant_possible: bool = False
) -> str | None:
    """The acr the client asked for: the first of its acr_values (a list in order of
    preference) that this sign-in can satisfy; None when it named none of ours."""
    known = [value for value in acr_values.split() if value in ACRS]
    possible = {
        ACR_PASSWORD: True,
        ACR_MFA: mfa_possible,
        ACR_PHISHING_RESISTANT: phishing_resistant_possible,
    }
    for value in known:
        if possible[value]:
            return value
    # None of them can be met with the factors the user has: registering one is how the
    # first (most preferred) is satisfied.
    return known[0] if known else None


def judge(
    *,
    user: User,
    sso: SsoSession,
    risk: dict[str, Any],
    mfa_in_flow: bool,
    skipped_in_flow: bool,
    acr_values: str,
    passkey_in_flow: bool = False,
) -> Judgement:
    """Evaluate the configured policies for this sign-in."""
    settings = services().settings
    _start_grace_period(user)
    mfa_in_session = bool({"otp", "mfa"} & set(sso.amr))
    passkey_in_session = "hwk" in sso.amr
    has_passkey = user.has_passkey  # a query: asked once
    acr_asked = requested_acr(
        acr_values,
        mfa_possible=user.has_totp or has_passkey or mfa_in_flow or mfa_in_session,
        phishing_resistant_possible=has_passkey or passkey_in_flow or passkey_in_session,
    )
    subject = Subject(
        groups=frozenset(user.groups or ()),
        has_totp=user.has_totp,
        registration_grace_started=user.mfa_grace_started_at,
        mfa_in_flow=mfa_in_flow,
        mfa_in_session=mfa_in_session,
        registration_skipped_in_flow=skipped_in_flow,
        client_requires_mfa=acr_asked in (ACR_MFA, ACR_PHISHING_RESISTANT),
        has_passkey=has_passkey,
        passkey_in_flow=passkey_in_flow,
        passkey_in_session=passkey_in_session,
        client_requires_phishing_resistant=acr_asked == ACR_PHISHING_RESISTANT,
    )
    decision = evaluate_policies(
        settings.policies,
        sign_in_level=Level.parse(risk["level"]),
        user_level=user_risk.current_level(user.id),
        subject=subject,
        now=clock_now(),
    )
    # The acr claim says what the user did, whatever was asked for.
    if subject.passkey_in_flow or subject.passkey_in_session:
        acr = ACR_PHISHING_RESISTANT
    elif subject.mfa_in_flow or subject.mfa_in_session:
        acr = ACR_MFA
    else:
        acr = ACR_PASSWORD
    return Judgement(decision, acr)
