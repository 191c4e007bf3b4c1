"""What-if: logged sign-ins replayed under candidate policies (`idp policy simulate`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from idp.models import SignIn
from idp.services import services
from risk.policy import MFA_REGISTRATION, SIGN_IN_RISK, USER_RISK
from tests.conftest import PASSWORD
from tests.idp.conftest import LEAKED_PASSWORD, LISTED_ANON, LONDON, TOR, submit_code, with_policy

IDP = [sys.executable, "-m", "idp"]


def candidate(settings, name, **changes):
    return with_policy(settings, name, **changes).policies


def format_report(report):
    from idp.simulate import format_report

    return format_report(report)


def run_simulation(stepup, policies, days=30):
    from idp.simulate import simulate

    return stepup.with_app(lambda: simulate(policies, days, stepup.clock.now()))


def table(text, title):
    """{row label: cells} of the table under `title` in format_report's text."""
    lines = text.splitlines()
    rows = {}
    for line in lines[lines.index(title) + 1 :]:
        if not line:
            break
        match = re.match(r"^  (\S.*?)\s{2,}(\d.*)$", line)
        if match:
            rows[match[1]] = re.findall(r"\d+ / \d+", match[2])
    return rows


def counts(tally):
    """{outcome: (sign-ins, users)} without the empty outcomes."""
    return {o: pair for o, pair in tally.pairs().items() if pair != (0, 0)}


def log_row(
    app,
    user_id,
    at,
    *,
    outcome="success",
    error_code=None,
    level="none",
    user_level="none",
    kind="password",
    correlation_id=None,
):
    """One sign-in log row written directly, as the authorize endpoint would have."""
    from idp.extensions import db

    with app.app_context():
        db.session.add(
            SignIn(
                created_at=at,
                correlation_id=correlation_id or str(uuid.uuid4()),
                user_id=user_id,
                username="x",
                kind=kind,
                outcome=outcome,
                error_code=error_code,
                risk_level_during_sign_in=level,
                risk_level_aggregated=user_level,
            )
        )
        db.session.commit()


@pytest.fixture
def logged(stepup):
    """Four authorizations through the real flows, with TOTP challenge passed for one."""
    stepup.user("alice")
    secret = stepup.register_totp("alice")
    stepup.user("bob")
    stepup.user("carol", groups=["breakglass"])
    stepup.register_totp("carol")
    london = stepup.browser_rp(LONDON)
    assert london.code_from(london.sign_in("alice"))
    tor = stepup.browser_rp(TOR)
    challenge = tor.sign_in("alice")
    assert "/mfa/verify" in challenge.location
    assert tor.code_from(
        tor.browser.get(submit_code(tor, challenge.location, stepup.code(secret)).location)
    )
    assert stepup.browser_rp(LISTED_ANON).sign_in("bob").status_code == 403
    carol = stepup.browser_rp(TOR)
    assert "/mfa/verify" in carol.sign_in("carol").location
    return stepup


def test_current_policies_replay_what_happened(logged):
    report = run_simulation(logged, services(logged.app).settings.policies)
    overall = report.overall
    assert (report.sign_ins, report.users, report.not_replayed) == (4, 3, 0)
    assert counts(overall.actual) == {"allowed": (1, 1), "mfa": (2, 2), "blocked53004": (1, 1)}
    assert counts(overall.current) == counts(overall.actual)
    assert overall.candidate == overall.current
    assert (overall.changed_sign_ins, overall.changed_users) == (0, 0)


def test_candidate_blocking_at_medium(logged):
    settings = services(logged.app).settings
    report = run_simulation(logged, candidate(settings, "sign_in_risk", block_at="medium"))
    overall = report.overall
    assert counts(overall.current) == {"allowed": (1, 1), "mfa": (2, 2), "blocked53004": (1, 1)}
    # Block 53003 outranks the 53004 block bob actually got.
    assert counts(overall.candidate) == {"allowed": (1, 1), "blocked53003": (3, 3)}
    assert (overall.changed_sign_ins, overall.changed_users) == (3, 3)
    sign_in = report.policy(SIGN_IN_RISK)
    assert counts(sign_in.current) == {"allowed": (1, 1), "mfa": (2, 2), "blocked53004": (1, 1)}
    assert counts(sign_in.candidate) == {"allowed": (1, 1), "blocked53003": (3, 3)}
    unchanged = report.policy(USER_RISK)
    assert counts(unchanged.current) == counts(unchanged.candidate) == {"allowed": (4, 3)}
    assert unchanged.changed_sign_ins == 0
    # Bob has no TOTP: registration alone would have asked him to register.
    registration = report.policy(MFA_REGISTRATION)
    assert counts(registration.candidate) == {"allowed": (3, 2), "registerMfa": (1, 1)}
    text = format_report(report)
    assert text.splitlines()[0] == (
        "What-if over 30 days, 2026-01-31 09:00 to 2026-03-02 09:00 UTC: 4 sign-ins by 3 users"
    )
    assert table(text, "All policies together") == {
        "allowed": ["1 / 1", "1 / 1", "1 / 1"],
        "challenged (TOTP)": ["2 / 2", "2 / 2", "0 / 0"],
        "register TOTP": ["0 / 0", "0 / 0", "0 / 0"],
        "change password": ["0 / 0", "0 / 0", "0 / 0"],
        "blocked 53003": ["0 / 0", "0 / 0", "3 / 3"],
        "blocked 53004": ["1 / 1", "1 / 1", "0 / 0"],
        "changed by candidate": ["3 / 3"],
    }
    assert table(text, "userRiskPolicy alone (the other policies off)")["allowed"] == [
        "4 / 3",
        "4 / 3",
    ]
    assert (
        "  candidate: on, mfa_at medium, block_at medium, mfa_strength any, "
        "include_groups *, exclude_groups -" in text.splitlines()
    )


def test_report_only_and_excluded_group_count_as_allowed(logged):
    settings = services(logged.app).settings
    report = run_simulation(logged, candidate(settings, "sign_in_risk", state="report-only"))
    # Bob (no TOTP) is still sent to register by the registration policy.
    assert counts(report.overall.candidate) == {"allowed": (3, 2), "registerMfa": (1, 1)}
    assert counts(report.policy(SIGN_IN_RISK).candidate) == {"allowed": (4, 3)}
    excluded = run_simulation(
        logged,
        candidate(settings, "sign_in_risk", block_at="medium", exclude_groups=("breakglass",)),
    )
    # Carol is in breakglass: her risky sign-in goes through, as it would from now on.
    assert counts(excluded.overall.candidate) == {"allowed": (2, 2), "blocked53003": (2, 2)}
    assert (excluded.overall.changed_sign_ins, excluded.overall.changed_users) == (3, 3)


def test_days_window_edges(stepup):
    user_id = stepup.user("alice")
    now = stepup.clock.now()
    start = now - timedelta(days=7)
    log_row(stepup.app, user_id, start, error_code=None)
    log_row(stepup.app, user_id, start - timedelta(microseconds=1))
    log_row(stepup.app, user_id, now, outcome="failure", error_code=53003, level="high")
    log_row(stepup.app, user_id, now + timedelta(seconds=1))
    report = run_simulation(stepup, services(stepup.app).settings.policies, days=7)
    assert (report.since, report.until) == (start, now)
    assert counts(report.overall.actual) == {"allowed": (1, 1), "blocked53003": (1, 1)}
    assert report.sign_ins == 2


def test_one_decision_per_authorization_and_unreplayable_rows(stepup):
    user_id = stepup.user("alice")
    stepup.register_totp("alice")
    stepup.clock.advance(hours=2)
    at = stepup.clock.now() - timedelta(hours=1)
    flow = str(uuid.uuid4())
    log_row(stepup.app, user_id, at, outcome="failure", error_code=50126, correlation_id=flow)
    log_row(
        stepup.app,
        user_id,
        at + timedelta(seconds=1),
        outcome="interrupted",
        error_code=50076,
        level="medium",
        correlation_id=flow,
    )
    log_row(
        stepup.app,
        user_id,
        at + timedelta(seconds=2),
        kind="mfa",
        outcome="failure",
        error_code=500121,
        correlation_id=flow,
    )
    log_row(stepup.app, user_id, at + timedelta(seconds=3), level="medium", correlation_id=flow)
    log_row(stepup.app, None, at, outcome="failure", error_code=50126)
    log_row(
        stepup.app,
        user_id,
        at,
        kind="sso",
        outcome="interrupted",
        error_code=50135,
        user_level="high",
    )
    log_row(stepup.app, user_id, at, outcome="interrupted", error_code=50055)
    report = run_simulation(stepup, services(stepup.app).settings.policies)
    assert counts(report.overall.actual) == {"mfa": (1, 1), "changePassword": (2, 1)}
    # The temporary password is no policy's doing: the replay allows that sign-in.
    assert counts(report.overall.current) == {
        "allowed": (1, 1),
        "mfa": (1, 1),
        "changePassword": (1, 1),
    }
    assert report.not_replayed == 2


def test_totp_registered_after_the_sign_in_does_not_count(stepup):
    user_id = stepup.user("alice")
    at = stepup.clock.now() - timedelta(days=1)
    log_row(stepup.app, user_id, at, outcome="failure", error_code=53004, level="medium")
    stepup.register_totp("alice")  # now, a day after the sign-in
    report = run_simulation(stepup, services(stepup.app).settings.policies)
    assert counts(report.overall.current) == {"blocked53004": (1, 1)}


def test_leaked_password_user_risk_replays_as_password_change(stepup):
    stepup.user("alice", LEAKED_PASSWORD)
    stepup.register_totp("alice")
    rp = stepup.browser_rp(LONDON)
    assert "/mfa/verify" in rp.sign_in("alice", LEAKED_PASSWORD).location
    settings = services(stepup.app).settings
    report = run_simulation(stepup, candidate(settings, "user_risk", block_at="high"))
    assert counts(report.overall.actual) == {"changePassword": (1, 1)}
    assert counts(report.overall.current) == {"changePassword": (1, 1)}
    assert counts(report.overall.candidate) == {"blocked53003": (1, 1)}


# The command line, run as an operator would.


def cli(*args, env=None):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    return subprocess.run(
        [*IDP, *args], capture_output=True, text=True, env={**environ, **(env or {})}, timeout=120
    )


@pytest.fixture
def config(tmp_path, database_url):
    path = tmp_path / "idp.toml"
    path.write_text(f"""
secret_key = "test-secret-key-0123456789"
issuer = "http://127.0.0.1:5999"
database_url = "{database_url}"
[policies.mfa_registration]
state = "off"
""")
    return str(path)


def test_cli_simulate_prints_the_report(app, provider, config, tmp_path):
    alice = provider.user("alice", PASSWORD)
    bob = provider.user("bob", PASSWORD)
    now = datetime.now(UTC)
    log_row(app, alice, now - timedelta(days=2))
    log_row(
        app, alice, now - timedelta(days=1), outcome="failure", error_code=53004, level="medium"
    )
    log_row(app, bob, now - timedelta(hours=1), outcome="failure", error_code=53004, level="high")
    log_row(app, bob, now - timedelta(days=20), outcome="failure", error_code=53004, level="high")
    path = tmp_path / "candidate.toml"
    path.write_text('[policies.sign_in_risk]\nblock_at = "high"\n')
    result = cli("policy", "simulate", "--candidate", str(path), "--days", "7", "--config", config)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].endswith("UTC: 3 sign-ins by 2 users")
    rows = table(result.stdout, "All policies together")
    assert rows["allowed"] == ["1 / 1", "1 / 1", "1 / 1"]
    assert rows["blocked 53003"] == ["0 / 0", "0 / 0", "1 / 1"]
    assert rows["blocked 53004"] == ["2 / 2", "2 / 2", "1 / 1"]
    assert rows["changed by candidate"] == ["1 / 1"]
    assert (
        "  candidate: on, mfa_at medium, block_at high, mfa_strength any, "
        "include_groups *, exclude_groups -" in result.stdout.splitlines()
    )
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '[policies.sign_in_risk]\nblock_at = "sometimes"\n',
            "policies.sign_in_risk.block_at: must be one of low | medium | high | never, "
            "got 'sometimes'",
        ),
        (
            '[policies.sign_in_risk]\nblok_at = "high"\n',
            "policies.sign_in_risk.blok_at: unknown key (allowed here: state, mfa_at, block_at, "
            "mfa_strength, include_groups, exclude_groups)",
        ),
        (
            '[policies.sign_in]\nblock_at = "high"\n',
            "policies.sign_in: unknown key (allowed here: mfa_registration, sign_in_risk, "
            "user_risk)",
        ),
        (
            "[policies.mfa_registration]\ngrace_period_days = 31\n",
            "policies.mfa_registration.grace_period_days: must be between 0 and 30, got 31",
        ),
        ("[policies]\nuser_risk = 3\n", "policies.user_risk: must be a table"),
        (
            'secret_key = "x"\n',
            "secret_key: unknown key (a candidate holds only [policies.*] tables)",
        ),
        ("", "policies: missing"),
        ("[policies.user_risk\n", "not valid TOML: "),
    ],
    ids=[
        "bad-value",
        "unknown-key",
        "unknown-policy",
        "out-of-range",
        "not-a-table",
        "other-section",
        "empty",
        "not-toml",
    ],
)
def test_bad_candidate_is_one_line(settings, tmp_path, content, message):
    from idp.errors import ConfigError
    from idp.simulate import load_candidate

    path = tmp_path / "candidate.toml"
    path.write_text(content)
    with pytest.raises(ConfigError) as failure:
        load_candidate(path, settings.policies)
    assert str(failure.value).startswith(f"candidate {path}: {message}")
    assert "\n" not in str(failure.value)


def test_a_candidate_saved_with_a_byte_order_mark_is_read(settings, tmp_path):
    from idp.simulate import load_candidate

    path = tmp_path / "candidate.toml"
    path.write_text('[policies.sign_in_risk]\nblock_at = "high"\n', encoding="utf-8-sig")
    assert load_candidate(path, settings.policies).sign_in_risk.block_at == "high"


def test_missing_candidate(settings, tmp_path):
    from idp.errors import ConfigError
    from idp.simulate import load_candidate

    absent = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match=f"^candidate {re.escape(str(absent))}: not found$"):
        load_candidate(absent, settings.policies)


def test_cli_bad_candidate_is_one_line_on_stderr(config, tmp_path):
    path = tmp_path / "candidate.toml"
    path.write_text('[policies.sign_in_risk]\nblock_at = "sometimes"\n')
    result = cli("policy", "simulate", "--candidate", str(path), "--config", config)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"idp: candidate {path}: policies.sign_in_risk.block_at: must be one of "
        "low | medium | high | never, got 'sometimes'\n"
    )


def test_candidate_keeps_what_it_leaves_out(settings):
    from idp.simulate import candidate_from_mapping

    current = replace(
        settings.policies,
        sign_in_risk=replace(
            settings.policies.sign_in_risk, mfa_at="high", exclude_groups=("breakglass",)
        ),
    )
    merged = candidate_from_mapping({"policies": {"sign_in_risk": {"block_at": "high"}}}, current)
    assert merged.sign_in_risk == replace(current.sign_in_risk, block_at="high")
    assert merged.user_risk == current.user_risk
    assert merged.mfa_registration == current.mfa_registration
