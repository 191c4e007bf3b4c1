"""Policy evaluation: the outcome table of SPEC, strongest demand first, report-only inert."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from risk.levels import Level
from risk.policy import (
    MFA_REGISTRATION,
    SIGN_IN_RISK,
    USER_RISK,
    Action,
    Result,
    Subject,
    evaluate,
    in_scope,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Reg:
    state: str = "on"
    grace_period_days: int = 14
    include_groups: tuple[str, ...] = ("*",)
    exclude_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class SignIn:
    state: str = "on"
    mfa_at: str = "medium"
    block_at: str = "never"
    mfa_strength: str = "any"
    include_groups: tuple[str, ...] = ("*",)
    exclude_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class UserP:
    state: str = "on"
    password_change_at: str = "high"
    block_at: str = "never"
    mfa_strength: str = "any"
    include_groups: tuple[str, ...] = ("*",)
    exclude_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Policies:
    mfa_registration: Reg = field(default_factory=Reg)
    sign_in_risk: SignIn = field(default_factory=SignIn)
    user_risk: UserP = field(default_factory=UserP)


REGISTERED = Subject(groups=frozenset({"staff"}), has_totp=True)
UNREGISTERED = Subject(
    groups=frozenset({"staff"}), has_totp=False, registration_grace_started=NOW - timedelta(days=1)
)


def decide(policies=None, sign_in=Level.NONE, user=Level.NONE, subject=REGISTERED, now=NOW):
    return evaluate(
        policies or Policies(), sign_in_level=sign_in, user_level=user, subject=subject, now=now
    )


@pytest.mark.parametrize(
    "sign_in, user, subject, action, code",
    [
        (Level.NONE, Level.NONE, REGISTERED, Action.ALLOW, None),
        (Level.LOW, Level.NONE, REGISTERED, Action.ALLOW, None),
        (Level.MEDIUM, Level.NONE, REGISTERED, Action.MFA, 50076),
        (Level.HIGH, Level.NONE, REGISTERED, Action.MFA, 50076),
        (Level.MEDIUM, Level.NONE, UNREGISTERED, Action.BLOCK, 53004),
        (Level.NONE, Level.MEDIUM, REGISTERED, Action.ALLOW, None),
        (Level.NONE, Level.HIGH, REGISTERED, Action.MFA, 50135),
        (Level.NONE, Level.HIGH, UNREGISTERED, Action.BLOCK, 53004),
        (Level.LOW, Level.NONE, UNREGISTERED, Action.REGISTER_MFA, 50079),
    ],
    ids=[
        "clean",
        "low-below-mfa-at",
        "medium-at-mfa-at",
        "high",
        "risky-unregistered-53004",
        "user-medium-below",
        "user-high-mfa-then-change",
        "user-high-unregistered-53004",
        "unregistered-low-registers",
    ],
)
def test_outcome_table(sign_in, user, subject, action, code):
    decision = decide(sign_in=sign_in, user=user, subject=subject)
    assert (decision.action, decision.error_code) == (action, code)


def test_password_change_follows_mfa():
    first = decide(user=Level.HIGH)
    assert first.action is Action.MFA and first.then_change_password
    second = decide(user=Level.HIGH, subject=replace(REGISTERED, mfa_in_flow=True))
    assert (second.action, second.error_code) == (Action.CHANGE_PASSWORD, 50135)


def test_mfa_in_flow_satisfies_sign_in_risk():
    decision = decide(sign_in=Level.HIGH, subject=replace(REGISTERED, mfa_in_flow=True))
    assert decision.action is Action.ALLOW
    assert decision.result_of(SIGN_IN_RISK).result is Result.SUCCESS


def test_mfa_from_earlier_in_session_does_not_satisfy_risk():
    decision = decide(sign_in=Level.MEDIUM, subject=replace(REGISTERED, mfa_in_session=True))
    assert decision.action is Action.MFA and decision.risk_driven


@pytest.mark.parametrize(
    "block_at, level, action, code",
    [
        ("high", Level.MEDIUM, Action.MFA, 50076),
        ("high", Level.HIGH, Action.BLOCK, 53003),
        ("medium", Level.MEDIUM, Action.BLOCK, 53003),
        ("never", Level.HIGH, Action.MFA, 50076),
    ],
    ids=["below-block", "at-block", "block-medium", "never-blocks"],
)
def test_sign_in_block_at(block_at, level, action, code):
    decision = decide(Policies(sign_in_risk=SignIn(block_at=block_at)), sign_in=level)
    assert (decision.action, decision.error_code) == (action, code)


def test_strongest_wins_53003_over_53004():
    policies = Policies(user_risk=UserP(block_at="high"))
    decision = decide(policies, sign_in=Level.HIGH, user=Level.HIGH, subject=UNREGISTERED)
    assert decision.error_code == 53003


def test_53004_beats_registration_inside_grace():
    decision = decide(sign_in=Level.MEDIUM, subject=UNREGISTERED)
    assert (decision.action, decision.error_code) == (Action.BLOCK, 53004)
    assert decision.result_of(MFA_REGISTRATION).result is Result.FAILURE


def test_password_change_beats_step_up():
    decision = decide(
        sign_in=Level.HIGH, user=Level.HIGH, subject=replace(REGISTERED, mfa_in_flow=True)
    )
    assert decision.action is Action.CHANGE_PASSWORD


@pytest.mark.parametrize(
    "days_since_start, skippable, days_left",
    [
        (0, True, 14),
        (13, True, 1),
        (13.99, True, 1),
        (14, False, 0),
        (15, False, 0),
    ],
    ids=["day-0", "day-13", "just-before-deadline", "day-14", "day-15"],
)
def test_registration_grace(days_since_start, skippable, days_left):
    subject = replace(
        UNREGISTERED, registration_grace_started=NOW - timedelta(days=days_since_start)
    )
    decision = decide(subject=subject)
    assert decision.action is Action.REGISTER_MFA
    assert (decision.skippable, decision.grace_days_left) == (skippable, days_left)


def test_first_sign_in_starts_grace():
    decision = decide(subject=replace(UNREGISTERED, registration_grace_started=None))
    assert decision.skippable and decision.grace_days_left == 14


def test_zero_grace_means_register_now():
    decision = decide(
        Policies(mfa_registration=Reg(grace_period_days=0)),
        subject=replace(UNREGISTERED, registration_grace_started=None),
    )
    assert decision.action is Action.REGISTER_MFA and not decision.skippable


def test_skip_inside_grace_allows():
    decision = decide(subject=replace(UNREGISTERED, registration_skipped_in_flow=True))
    assert decision.action is Action.ALLOW
    assert decision.result_of(MFA_REGISTRATION).result is Result.SUCCESS


def test_skip_after_grace_is_ignored():
    subject = replace(
        UNREGISTERED,
        registration_skipped_in_flow=True,
        registration_grace_started=NOW - timedelta(days=15),
    )
    decision = decide(subject=subject)
    assert decision.action is Action.REGISTER_MFA and not decision.skippable


@pytest.mark.parametrize(
    "sign_in, user, subject, expected",
    [
        (Level.MEDIUM, Level.NONE, REGISTERED, Result.REPORT_ONLY_INTERRUPTED),
        (Level.MEDIUM, Level.NONE, UNREGISTERED, Result.REPORT_ONLY_FAILURE),
        (
            Level.MEDIUM,
            Level.NONE,
            replace(REGISTERED, mfa_in_flow=True),
            Result.REPORT_ONLY_SUCCESS,
        ),
        (Level.LOW, Level.NONE, REGISTERED, Result.NOT_APPLIED),
    ],
    ids=["would-mfa", "would-53004", "satisfied", "not-applied"],
)
def test_report_only_sign_in_risk_logs_but_does_not_enforce(sign_in, user, subject, expected):
    policies = Policies(sign_in_risk=SignIn(state="report-only"))
    decision = decide(policies, sign_in=sign_in, user=user, subject=subject)
    assert decision.result_of(SIGN_IN_RISK).result is expected
    assert decision.action in (Action.ALLOW, Action.REGISTER_MFA)
    assert decision.error_code != 53004


def test_report_only_user_risk():
    policies = Policies(user_risk=UserP(state="report-only"))
    decision = decide(policies, user=Level.HIGH)
    assert decision.action is Action.ALLOW
    assert decision.result_of(USER_RISK).result is Result.REPORT_ONLY_INTERRUPTED


def test_off_policy_not_applied():
    decision = decide(Policies(sign_in_risk=SignIn(state="off")), sign_in=Level.HIGH)
    assert decision.action is Action.ALLOW
    assert decision.result_of(SIGN_IN_RISK).result is Result.NOT_APPLIED


@pytest.mark.parametrize(
    "include, exclude, groups, expected",
    [
        (("*",), (), set(), True),
        (("*",), ("breakglass",), {"breakglass"}, False),
        (("staff",), (), {"staff", "x"}, True),
        (("staff",), (), {"contractors"}, False),
        (("staff",), ("staff",), {"staff"}, False),
    ],
    ids=["all", "excluded", "included", "not-included", "exclude-wins"],
)
def test_group_scoping(include, exclude, groups, expected):
    assert (
        in_scope(SignIn(include_groups=include, exclude_groups=exclude), frozenset(groups))
        is expected
    )


def test_excluded_group_bypasses_step_up():
    policies = Policies(sign_in_risk=SignIn(exclude_groups=("staff",)))
    assert decide(policies, sign_in=Level.HIGH).action is Action.ALLOW


@pytest.mark.parametrize(
    "subject, action, skippable",
    [
        (REGISTERED, Action.MFA, False),
        (replace(REGISTERED, mfa_in_session=True), Action.ALLOW, False),
        (UNREGISTERED, Action.REGISTER_MFA, False),
    ],
    ids=["registered", "session-has-mfa", "unregistered-no-skip"],
)
def test_client_acr_demands_mfa(subject, action, skippable):
    decision = decide(subject=replace(subject, client_requires_mfa=True))
    assert decision.action is action
    assert decision.skippable is skippable


def test_every_policy_has_a_result():
    decision = decide(sign_in=Level.MEDIUM)
    assert {r.policy for r in decision.results} == {SIGN_IN_RISK, USER_RISK, MFA_REGISTRATION}
