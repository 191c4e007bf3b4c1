"""Policy evaluation: risk levels and facts about the user in, one Decision out.

The three policies of SPEC (MFA registration, sign-in risk, user risk) are evaluated
together; when several demand something, the strongest wins:
53003 block > 53004 block > password change > TOTP step-up > registration.
A policy in report-only state is evaluated and its would-be result recorded, but it
never changes the action.

A risk policy may demand a strength of second factor (`mfa_strength`): "any" (TOTP, a
recovery code or a passkey) or "phishing-resistant" (a passkey only). A user without a
factor of the demanded strength is blocked with 53004, as a user without any is: a risky
session may never register the factor it lacks.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from .levels import Level

DAY = timedelta(days=1)


class Action(StrEnum):
    """What the provider does next."""

    ALLOW = "allow"
    REGISTER_MFA = "registerMfa"
    MFA = "mfa"
    CHANGE_PASSWORD = "changePassword"
    BLOCK = "block"


class Result(StrEnum):
    """A policy's result, as Graph's appliedConditionalAccessPolicies spell it."""

    SUCCESS = "success"
    FAILURE = "failure"
    NOT_APPLIED = "notApplied"
    REPORT_ONLY_SUCCESS = "reportOnlySuccess"
    REPORT_ONLY_FAILURE = "reportOnlyFailure"
    REPORT_ONLY_INTERRUPTED = "reportOnlyInterrupted"


# Entra's codes for the same conditions.
MFA_REQUIRED = 50076
REGISTRATION_REQUIRED = 50079
PASSWORD_CHANGE_REQUIRED = 50135
BLOCKED_BY_POLICY = 53003
RISKY_WITHOUT_MFA = 53004

SIGN_IN_RISK = "signInRiskPolicy"
USER_RISK = "userRiskPolicy"
MFA_REGISTRATION = "mfaRegistrationPolicy"
CLIENT_ACR = "clientRequestedMfa"

# Authentication strengths (`mfa_strength`): any second factor, or a passkey only.
ANY = "any"
PHISHING_RESISTANT = "phishing-resistant"
STRENGTHS = (ANY, PHISHING_RESISTANT)
# Named in the reason of a 53004 that a passkey would have avoided (see idp.decision).
NO_PASSKEY = "no passkey registered"


class ScopedPolicy(Protocol):
    @property
    def state(self) -> str: ...
    @property
    def include_groups(self) -> Collection[str]: ...
    @property
    def exclude_groups(self) -> Collection[str]: ...


class RegistrationPolicyLike(ScopedPolicy, Protocol):
    @property
    def grace_period_days(self) -> int: ...


class SignInRiskPolicyLike(ScopedPolicy, Protocol):
    @property
    def mfa_at(self) -> str: ...
    @property
    def block_at(self) -> str: ...
    @property
    def mfa_strength(self) -> str: ...


class UserRiskPolicyLike(ScopedPolicy, Protocol):
    @property
    def password_change_at(self) -> str: ...
    @property
    def block_at(self) -> str: ...
    @property
    def mfa_strength(self) -> str: ...


class PoliciesLike(Protocol):
    @property
    def mfa_registration(self) -> RegistrationPolicyLike: ...
    @property
    def sign_in_risk(self) -> SignInRiskPolicyLike: ...
    @property
    def user_risk(self) -> UserRiskPolicyLike: ...


@dataclass(frozen=True)
class Subject:
    """What policy evaluation needs to know about the user and this authorization."""

    groups: frozenset[str]
    has_totp: bool
    # When the user first signed in under the registration policy (None: this is the first).
    registration_grace_started: datetime | None = None
    # Passed a TOTP challenge during this authorization request (risk step-ups need this).
    mfa_in_flow: bool = False
    # The SSO session was established with TOTP (enough for a client's acr demand only).
    mfa_in_session: bool = False
    registration_skipped_in_flow: bool = False
    client_requires_mfa: bool = False
    # A passkey is registered; a passkey was passed in this request / in the SSO session.
    has_passkey: bool = False
    passkey_in_flow: bool = False
    passkey_in_session: bool = False
    # The client asked for the phishing-resistant acr (a passkey).
    client_requires_phishing_resistant: bool = False

    @property
    def has_second_factor(self) -> bool:
        """Whether any second factor (TOTP or a passkey) is registered."""
        return self.has_totp or self.has_passkey

    def has_factor(self, strength: str) -> bool:
        """Whether a factor of this strength is registered."""
        return self.has_passkey if strength == PHISHING_RESISTANT else self.has_second_factor

    def passed_in_flow(self, strength: str) -> bool:
        """Whether a factor of this strength was passed during this request."""
        return self.passkey_in_flow if strength == PHISHING_RESISTANT else self.mfa_in_flow


@dataclass(frozen=True)
class PolicyResult:
    """One policy's result for this sign-in and the reason, for the sign-in log."""

    policy: str
    result: Result
    reason: str
    would: Action | None = None


@dataclass(frozen=True)
class Decision:
    """The single outcome of policy evaluation."""

    action: Action
    error_code: int | None
    reason: str
    results: tuple[PolicyResult, ...]
    # For REGISTER_MFA: whether "Skip for now" is offered, and the whole days left.
    skippable: bool = False
    grace_days_left: int | None = None
    # For MFA: passing it remediates the sign-in's risk (userPassedMFADrivenByRiskBasedPolicy).
    risk_driven: bool = False
    # For MFA: a password change follows (secure password change for user risk), unless
    # the factor passed is a passkey, which remediates user risk by itself.
    then_change_password: bool = False
    # For MFA, REGISTER_MFA and a 53004 block: the strength of factor demanded.
    strength: str = ANY

    def result_of(self, policy: str) -> PolicyResult:
        """The named policy's result (KeyError if it was not evaluated)."""
        for item in self.results:
            if item.policy == policy:
                return item
        raise KeyError(policy)


@dataclass(frozen=True)
class _Demand:
    strength: int
    action: Action
    code: int
    reason: str
    enforced: bool
    policy: str
    factor: str = ANY


_STRENGTH = {
    (Action.BLOCK, BLOCKED_BY_POLICY): 5,
    (Action.BLOCK, RISKY_WITHOUT_MFA): 4,
    (Action.CHANGE_PASSWORD, PASSWORD_CHANGE_REQUIRED): 3,
    (Action.MFA, MFA_REQUIRED): 2,
    (Action.REGISTER_MFA, REGISTRATION_REQUIRED): 1,
}


def in_scope(policy: ScopedPolicy, groups: frozenset[str]) -> bool:
    """Whether a user with these groups falls under the policy (exclusions win)."""
    if groups & set(policy.exclude_groups):
        return False
    include = set(policy.include_groups)
    return "*" in include or bool(groups & include)


def at_or_above(level: Level, threshold: str) -> bool:
    """Whether `level` reaches a policy threshold ("never" is never reached)."""
    return threshold != "never" and level >= Level.parse(threshold)


def grace_deadline(started: datetime, grace_period_days: int) -> datetime:
    return started + grace_period_days * DAY


def _demand(
    action: Action, code: int, reason: str, policy: str, enforced: bool, factor: str = ANY
) -> _Demand:
    return _Demand(_STRENGTH[(action, code)], action, code, reason, enforced, policy, factor)


def _lacking(subject: Subject, strength: str) -> str | None:
    """Why the user cannot pass a second factor of `strength` (None when they can)."""
    if not subject.has_second_factor:
        return "no second factor registered"
    if not subject.has_factor(strength):
        return f"phishing-resistant MFA required; {NO_PASSKEY}"
    return None


def _result(enforced: bool, satisfied: bool, blocked: bool) -> Result:
    if enforced:
        return Result.SUCCESS if satisfied else Result.FAILURE
    if satisfied:
        return Result.REPORT_ONLY_SUCCESS
    return Result.REPORT_ONLY_FAILURE if blocked else Result.REPORT_ONLY_INTERRUPTED


def _sign_in_risk(
    policy: SignInRiskPolicyLike, level: Level, subject: Subject
) -> tuple[PolicyResult, _Demand | None]:
    name = SIGN_IN_RISK
    if policy.state == "off" or not in_scope(policy, subject.groups):
        return PolicyResult(name, Result.NOT_APPLIED, "policy off or user not in scope"), None
    enforced = policy.state == "on"
    if at_or_above(level, policy.block_at):
        reason = f"sign-in risk {level} reaches block_at {policy.block_at}"
        demand = _demand(Action.BLOCK, BLOCKED_BY_POLICY, reason, name, enforced)
    elif at_or_above(level, policy.mfa_at):
        strength = policy.mfa_strength
        reached = f"sign-in risk {level} reaches mfa_at {policy.mfa_at}"
        lacking = _lacking(subject, strength)
        if lacking is not None:
            reason = f"{reached}; {lacking}"
            demand = _demand(Action.BLOCK, RISKY_WITHOUT_MFA, reason, name, enforced, strength)
        elif subject.passed_in_flow(strength):
            reason = f"{reached}; second factor ({strength}) passed"
            return PolicyResult(name, _result(enforced, True, False), reason), None
        else:
            reason = f"{reached}; second factor ({strength}) required"
            demand = _demand(Action.MFA, MFA_REQUIRED, reason, name, enforced, strength)
    else:
        reason = f"sign-in risk {level} below mfa_at {policy.mfa_at}"
        return PolicyResult(name, Result.NOT_APPLIED, reason), None
    blocked = demand.action is Action.BLOCK
    return PolicyResult(name, _result(enforced, False, blocked), reason, demand.action), demand


def _user_risk(
    policy: UserRiskPolicyLike, level: Level, subject: Subject
) -> tuple[PolicyResult, _Demand | None]:
    name = USER_RISK
    if policy.state == "off" or not in_scope(policy, subject.groups):
        return PolicyResult(name, Result.NOT_APPLIED, "policy off or user not in scope"), None
    enforced = policy.state == "on"
    if at_or_above(level, policy.block_at):
        reason = f"user risk {level} reaches block_at {policy.block_at}"
        demand = _demand(Action.BLOCK, BLOCKED_BY_POLICY, reason, name, enforced)
    elif at_or_above(level, policy.password_change_at):
        strength = policy.mfa_strength
        reached = f"user risk {level} reaches password_change_at {policy.password_change_at}"
        lacking = _lacking(subject, strength)
        if lacking is not None:
            reason = f"{reached}; {lacking}"
            demand = _demand(Action.BLOCK, RISKY_WITHOUT_MFA, reason, name, enforced, strength)
        elif subject.passkey_in_flow:
            # A passkey sign-in remediates user risk without a password (see idp.views.mfa).
            reason = f"{reached}; remediated by a passkey sign-in"
            return PolicyResult(name, _result(enforced, True, False), reason), None
        else:
            reason = f"{reached}; secure password change required ({strength} second factor)"
            demand = _demand(
                Action.CHANGE_PASSWORD, PASSWORD_CHANGE_REQUIRED, reason, name, enforced, strength
            )
    else:
        reason = f"user risk {level} below password_change_at {policy.password_change_at}"
        return PolicyResult(name, Result.NOT_APPLIED, reason), None
    blocked = demand.action is Action.BLOCK
    return PolicyResult(name, _result(enforced, False, blocked), reason, demand.action), demand


def _registration(
    policy: RegistrationPolicyLike, subject: Subject, now: datetime
) -> tuple[PolicyResult, _Demand | None, bool, int]:
    name = MFA_REGISTRATION
    if policy.state == "off" or not in_scope(policy, subject.groups):
        return (
            PolicyResult(name, Result.NOT_APPLIED, "policy off or user not in scope"),
            None,
            False,
            0,
        )
    if subject.has_second_factor:
        reason = "second factor already registered"
        return PolicyResult(name, Result.NOT_APPLIED, reason), None, False, 0
    started = subject.registration_grace_started or now
    remaining = grace_deadline(started, policy.grace_period_days) - now
    skippable = remaining > timedelta(0)
    days_left = max(0, math.ceil(remaining / DAY))
    if skippable and subject.registration_skipped_in_flow:
        reason = f"registration skipped inside the grace period ({days_left} days left)"
        return PolicyResult(name, Result.SUCCESS, reason), None, skippable, days_left
    if skippable:
        reason = f"TOTP registration requested; {days_left} days of grace left"
    else:
        reason = "TOTP registration required; the grace period is over"
    demand = _demand(Action.REGISTER_MFA, REGISTRATION_REQUIRED, reason, name, True)
    result = PolicyResult(name, Result.FAILURE, reason, Action.REGISTER_MFA)
    return result, demand, skippable, days_left


def evaluate(
    policies: PoliciesLike,
    *,
    sign_in_level: Level,
    user_level: Level,
    subject: Subject,
    now: datetime,
) -> Decision:
    """Evaluate every policy and return the strongest enforced demand as one Decision."""
    sign_in_result, sign_in_demand = _sign_in_risk(policies.sign_in_risk, sign_in_level, subject)
    user_result, user_demand = _user_risk(policies.user_risk, user_level, subject)
    reg_result, reg_demand, skippable, days_left = _registration(
        policies.mfa_registration, subject, now
    )
    results = (reg_result, sign_in_result, user_result)
    demands = [d for d in (sign_in_demand, user_demand, reg_demand) if d and d.enforced]
    client = _client_demand(subject)
    if client is not None:
        demands.append(client)
        skippable = skippable and client.action is not Action.REGISTER_MFA
    if not demands:
        return Decision(Action.ALLOW, None, "no policy requires anything", results)
    top = max(demands, key=lambda d: d.strength)
    # One challenge answers every demand: the strongest factor any of them asks for.
    factor = (
        PHISHING_RESISTANT
        if any(
            d.factor == PHISHING_RESISTANT and d.action is not Action.REGISTER_MFA for d in demands
        )
        else ANY
    )
    if top.action is Action.CHANGE_PASSWORD and not subject.passed_in_flow(factor):
        # A secure password change starts with the second factor, so the attacker with the
        # password alone cannot set a new one; a passkey there remediates by itself.
        return Decision(
            Action.MFA,
            top.code,
            top.reason,
            results,
            risk_driven=True,
            then_change_password=True,
            strength=factor,
        )
    if top.action is Action.MFA:
        risk_driven = any(d.action is Action.MFA and d.policy == SIGN_IN_RISK for d in demands)
        return Decision(
            Action.MFA, top.code, top.reason, results, risk_driven=risk_driven, strength=factor
        )
    if top.action is Action.REGISTER_MFA:
        client_forced = any(d.policy == CLIENT_ACR for d in demands)
        return Decision(
            Action.REGISTER_MFA,
            top.code,
            top.reason,
            results,
            skippable=skippable and not client_forced,
            grace_days_left=days_left,
            strength=PHISHING_RESISTANT
            if any(d.factor == PHISHING_RESISTANT for d in demands if d.action is top.action)
            else ANY,
        )
    return Decision(top.action, top.code, top.reason, results, strength=top.factor)


def _client_demand(subject: Subject) -> _Demand | None:
    """What the client's acr demands: a second factor (a passkey for the phishing-resistant
    acr), registering one when the user has none, after passing the factor they have."""
    if subject.client_requires_phishing_resistant:
        if subject.passkey_in_flow or subject.passkey_in_session:
            return None
        reason = "the application asked for phishing-resistant authentication"
        if subject.has_passkey:
            return _demand(Action.MFA, MFA_REQUIRED, reason, CLIENT_ACR, True, PHISHING_RESISTANT)
        if subject.has_totp and not subject.mfa_in_flow:
            # Adding a factor takes the one the user has, so a password alone cannot.
            return _demand(Action.MFA, MFA_REQUIRED, reason, CLIENT_ACR, True)
        return _demand(
            Action.REGISTER_MFA, REGISTRATION_REQUIRED, reason, CLIENT_ACR, True, PHISHING_RESISTANT
        )
    if subject.client_requires_mfa and not (subject.mfa_in_flow or subject.mfa_in_session):
        reason = "the application asked for multi-factor authentication"
        if subject.has_second_factor:
            return _demand(Action.MFA, MFA_REQUIRED, reason, CLIENT_ACR, True)
        return _demand(Action.REGISTER_MFA, REGISTRATION_REQUIRED, reason, CLIENT_ACR, True)
    return None
