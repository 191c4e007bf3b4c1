"""What-if: replay the logged sign-ins under candidate policies, next to the current ones.

Each authorization request counts once, by the first decision the log holds for it (its
earliest row with a policy decision, per correlation id): a challenge later passed is one
challenged sign-in, not a challenge and an allowed sign-in. The replay re-decides it with the
pure `risk.policy.evaluate` from what the row recorded: the sign-in's risk level, the user's
aggregated risk level, the user's groups (as they are now), whether the user had registered
TOTP by then, whether a passkey the user still has was registered by then (so a candidate's
`mfa_strength = "phishing-resistant"` sends TOTP-only users to 53004), and when the
registration grace period started. A registration request counts
as "register TOTP" inside the grace period too: the page interrupts the sign-in even when it
offers "Skip for now". Requests that never reached a decision (wrong password, locked out,
unknown user) are counted apart as not replayed.
"""

from __future__ import annotations

import tomllib
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa

from risk.levels import Level
from risk.policy import (
    BLOCKED_BY_POLICY,
    MFA_REGISTRATION,
    MFA_REQUIRED,
    PASSWORD_CHANGE_REQUIRED,
    REGISTRATION_REQUIRED,
    RISKY_WITHOUT_MFA,
    SIGN_IN_RISK,
    USER_RISK,
    Subject,
    evaluate,
)

from .config import Policies, section_from_mapping
from .decision import TEMPORARY_PASSWORD
from .errors import ConfigError
from .extensions import db
from .i18n import N_
from .models import SignIn, User, WebAuthnCredential
from .services import services

ALLOWED = "allowed"
CHALLENGED = "mfa"
REGISTER = "registerMfa"
CHANGE_PASSWORD = "changePassword"
BLOCKED_53003 = "blocked53003"
BLOCKED_53004 = "blocked53004"
OUTCOMES = (ALLOWED, CHALLENGED, REGISTER, CHANGE_PASSWORD, BLOCKED_53003, BLOCKED_53004)
# English; the digest email shows them in its reader's language (idp.notify).
LABELS = {
    ALLOWED: N_("allowed"),
    CHALLENGED: N_("challenged (TOTP)"),
    REGISTER: N_("register TOTP"),
    CHANGE_PASSWORD: N_("change password"),
    BLOCKED_53003: N_("blocked 53003"),
    BLOCKED_53004: N_("blocked 53004"),
}

# The error code a decision (or a logged row) carries, as an outcome. 50055 is the
# administrator's temporary password: no policy decides it, but it did interrupt the sign-in.
_BY_CODE = {
    None: ALLOWED,
    MFA_REQUIRED: CHALLENGED,
    REGISTRATION_REQUIRED: REGISTER,
    PASSWORD_CHANGE_REQUIRED: CHANGE_PASSWORD,
    TEMPORARY_PASSWORD: CHANGE_PASSWORD,
    BLOCKED_BY_POLICY: BLOCKED_53003,
    RISKY_WITHOUT_MFA: BLOCKED_53004,
}
_DECIDED_CODES = [code for code in _BY_CODE if code is not None]
REPLAYED_KINDS = ("password", "sso")
OVERALL = "overall"
# Decision.results order; each maps to its attribute on Policies.
POLICY_ATTRIBUTES = {
    MFA_REGISTRATION: "mfa_registration",
    SIGN_IN_RISK: "sign_in_risk",
    USER_RISK: "user_risk",
}


@dataclass(frozen=True)
class Count:
    """How many sign-ins had one outcome, and how many distinct users they belong to."""

    outcome: str
    sign_ins: int
    users: int

    @property
    def label(self) -> str:
        return LABELS[self.outcome]


@dataclass(frozen=True)
class Tally:
    """One Count per outcome, in OUTCOMES order."""

    counts: tuple[Count, ...]

    def __getitem__(self, outcome: str) -> Count:
        for count in self.counts:
            if count.outcome == outcome:
                return count
        raise KeyError(outcome)

    def pairs(self) -> dict[str, tuple[int, int]]:
        """{outcome: (sign-ins, users)} for every outcome."""
        return {c.outcome: (c.sign_ins, c.users) for c in self.counts}


@dataclass(frozen=True)
class Comparison:
    """One policy's (or all policies' together) results, current against candidate."""

    policy: str
    current: Tally
    candidate: Tally
    # Sign-ins (and their users) whose outcome the candidate changes.
    changed_sign_ins: int
    changed_users: int
    # Only for the overall comparison: what the log says happened.
    actual: Tally | None = None


@dataclass(frozen=True)
class SimulationReport:
    """The what-if of a candidate policy set over the logged sign-ins of a window."""

    since: datetime
    until: datetime
    days: int
    sign_ins: int
    users: int
    # Logged attempts with no policy decision to replay (wrong password, locked out ...).
    not_replayed: int
    overall: Comparison
    # One per policy, each evaluated alone (the other two off), in Decision.results order.
    policies: tuple[Comparison, ...]
    current_policies: Policies
    candidate_policies: Policies

    def policy(self, name: str) -> Comparison:
        """The named policy's comparison (KeyError if unknown)."""
        for item in self.policies:
            if item.policy == name:
                return item
        raise KeyError(name)


@dataclass(frozen=True)
class LoggedSignIn:
    """One authorization decision from the sign-in log, with what re-deciding it needs."""

    correlation_id: str
    user_id: str
    username: str
    at: datetime
    sign_in_level: Level
    user_level: Level
    groups: frozenset[str]
    has_totp: bool
    grace_started: datetime | None
    actual: str
    has_passkey: bool = False


def outcome_of(error_code: int | None) -> str:
    """The outcome a decision's (or a logged row's) error code stands for."""
    return _BY_CODE[error_code]


def _decided() -> sa.ColumnElement[bool]:
    """Rows of the log that carry a policy decision (the others never reached one)."""
    return sa.and_(
        SignIn.kind.in_(REPLAYED_KINDS),
        SignIn.user_id.is_not(None),
        # NULL-safe, so that sa.not_() of this counts every other row.
        sa.or_(
            SignIn.outcome == "success", sa.func.coalesce(SignIn.error_code, 0).in_(_DECIDED_CODES)
        ),
    )


def _level(text: str | None) -> Level:
    try:
        return Level.parse(text or "none")
    except ValueError:
        return Level.NONE


def logged_sign_ins(since: datetime, until: datetime) -> Iterator[LoggedSignIn]:
    """Each authorization request of [since, until] by its first decision, oldest first."""
    window = sa.and_(SignIn.created_at >= since, SignIn.created_at <= until)
    numbered = (
        sa.select(
            SignIn.correlation_id,
            SignIn.user_id,
            SignIn.created_at,
            SignIn.outcome,
            SignIn.error_code,
            SignIn.risk_level_during_sign_in,
            SignIn.risk_level_aggregated,
            sa.func.row_number()
            .over(
                partition_by=SignIn.correlation_id,
                # A flow's success comes after its steps; on a tie of times it sorts last.
                order_by=(
                    SignIn.created_at,
                    sa.case((SignIn.outcome == "success", 1), else_=0),
                    SignIn.id,
                ),
            )
            .label("n"),
        )
        .where(window, _decided())
        .subquery()
    )
    # A removed passkey leaves no trace: the oldest one the user still has stands for all.
    first_passkey = (
        sa.select(sa.func.min(WebAuthnCredential.created_at))
        .where(WebAuthnCredential.user_id == numbered.c.user_id)
        .scalar_subquery()
        .label("first_passkey_at")
    )
    stmt = (
        sa.select(
            numbered,
            User.username,
            User.groups,
            User.totp_registered_at,
            User.mfa_grace_started_at,
            first_passkey,
        )
        .join(User, User.id == numbered.c.user_id)
        .where(numbered.c.n == 1)
        .order_by(numbered.c.created_at, numbered.c.correlation_id)
        .execution_options(yield_per=2000)
    )
    for row in db.session.execute(stmt):
        registered, grace = row.totp_registered_at, row.mfa_grace_started_at
        yield LoggedSignIn(
            correlation_id=row.correlation_id,
            user_id=row.user_id,
            username=row.username,
            at=row.created_at,
            sign_in_level=_level(row.risk_level_during_sign_in),
            user_level=_level(row.risk_level_aggregated),
            groups=frozenset(row.groups or ()),
            has_totp=registered is not None and registered <= row.created_at,
            # A grace period that began later did not run at this sign-in.
            grace_started=grace if grace is not None and grace <= row.created_at else None,
            actual=outcome_of(row.error_code if row.outcome != "success" else None),
            has_passkey=row.first_passkey_at is not None and row.first_passkey_at <= row.created_at,
        )


def count_not_replayed(since: datetime, until: datetime) -> int:
    """Logged password/SSO attempts of the window that never reached a policy decision."""
    return int(
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(SignIn)
            .where(
                SignIn.created_at >= since,
                SignIn.created_at <= until,
                SignIn.kind.in_(REPLAYED_KINDS),
                sa.not_(_decided()),
            )
        )
        or 0
    )


class _Tallier:
    def __init__(self) -> None:
        self.sign_ins: Counter[str] = Counter()
        self.users: defaultdict[str, set[str]] = defaultdict(set)

    def add(self, outcome: str, user_id: str) -> None:
        self.sign_ins[outcome] += 1
        self.users[outcome].add(user_id)

    def tally(self) -> Tally:
        return Tally(tuple(Count(o, self.sign_ins[o], len(self.users[o])) for o in OUTCOMES))


class _Variant:
    """One policy set being replayed, and what it decided."""

    def __init__(self, policies: Policies) -> None:
        self.policies = policies
        self.tallier = _Tallier()

    def decide(self, sign_in: LoggedSignIn) -> str:
        subject = Subject(
            groups=sign_in.groups,
            has_totp=sign_in.has_totp,
            has_passkey=sign_in.has_passkey,
            registration_grace_started=sign_in.grace_started,
        )
        decision = evaluate(
            self.policies,
            sign_in_level=sign_in.sign_in_level,
            user_level=sign_in.user_level,
            subject=subject,
            now=sign_in.at,
        )
        outcome = outcome_of(decision.error_code)
        self.tallier.add(outcome, sign_in.user_id)
        return outcome


class _Pair:
    """The same policy (or set) replayed as it is now and as the candidate has it."""

    def __init__(self, name: str, current: Policies, candidate: Policies) -> None:
        self.name = name
        self.current = _Variant(current)
        self.candidate = _Variant(candidate)
        self.changed = 0
        self.changed_users: set[str] = set()

    def replay(self, sign_in: LoggedSignIn) -> None:
        if self.current.decide(sign_in) != self.candidate.decide(sign_in):
            self.changed += 1
            self.changed_users.add(sign_in.user_id)

    def comparison(self, actual: Tally | None = None) -> Comparison:
        return Comparison(
            self.name,
            self.current.tallier.tally(),
            self.candidate.tallier.tally(),
            self.changed,
            len(self.changed_users),
            actual,
        )


def only(policies: Policies, name: str) -> Policies:
    """The policy set with every policy but `name` switched off."""
    off = {
        attr: replace(getattr(policies, attr), state="off")
        for policy, attr in POLICY_ATTRIBUTES.items()
        if policy != name
    }
    return replace(policies, **off)


def simulate(
    candidate_policies: Policies,
    days: int,
    now: datetime,
    *,
    current_policies: Policies | None = None,
) -> SimulationReport:
    """Replay the last `days` of logged sign-ins under the candidate and the current policies."""
    current = current_policies or services().settings.policies
    since = now - timedelta(days=days)
    overall = _Pair(OVERALL, current, candidate_policies)
    alone = [
        _Pair(name, only(current, name), only(candidate_policies, name))
        for name in POLICY_ATTRIBUTES
    ]
    actual = _Tallier()
    sign_ins = 0
    users: set[str] = set()
    for sign_in in logged_sign_ins(since, now):
        sign_ins += 1
        users.add(sign_in.user_id)
        actual.add(sign_in.actual, sign_in.user_id)
        overall.replay(sign_in)
        for pair in alone:
            pair.replay(sign_in)
    return SimulationReport(
        since=since,
        until=now,
        days=days,
        sign_ins=sign_ins,
        users=len(users),
        not_replayed=count_not_replayed(since, now),
        overall=overall.comparison(actual.tally()),
        policies=tuple(pair.comparison() for pair in alone),
        current_policies=current,
        candidate_policies=candidate_policies,
    )


def candidate_from_mapping(data: Mapping[str, Any], current: Policies) -> Policies:
    """Validated candidate policies: the current ones with the tables the candidate names."""
    for key in data:
        if key != "policies":
            raise ConfigError(f"{key}: unknown key (a candidate holds only [policies.*] tables)")
    if "policies" not in data:
        raise ConfigError('policies: missing (e.g. [policies.sign_in_risk] block_at = "high")')
    changes = data["policies"]
    if not isinstance(changes, Mapping):
        raise ConfigError("policies: must be a table")
    merged: dict[str, Any] = asdict(current)
    for name, table in changes.items():
        base = merged.get(name)
        merged[name] = (
            {**base, **table} if isinstance(base, dict) and isinstance(table, Mapping) else table
        )
    return section_from_mapping(Policies, merged, "policies.")


def load_candidate(path: str | Path, current: Policies) -> Policies:
    """Read a candidate TOML file; any problem is a one-line ConfigError naming the file."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8-sig"))
        return candidate_from_mapping(data, current)
    except FileNotFoundError:
        raise ConfigError(f"candidate {path}: not found") from None
    except OSError as exc:
        raise ConfigError(f"candidate {path}: cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"candidate {path}: not valid TOML: {exc}") from None
    except ConfigError as exc:
        raise ConfigError(f"candidate {path}: {exc}") from None


def describe_policy(policies: Policies, name: str) -> str:
    """One policy's settings on one line, e.g. "on, mfa_at medium, block_at never"."""
    policy = getattr(policies, POLICY_ATTRIBUTES[name])
    parts = [policy.state]
    for field_name, value in asdict(policy).items():
        if field_name == "state":
            continue
        shown = ",".join(value) if isinstance(value, tuple | list) else str(value)
        parts.append(f"{field_name} {shown or '-'}")
    return ", ".join(parts)


class Translate(Protocol):
    """gettext's shape: `message` in the reader's language, its %(name)s placeholders filled."""

    def __call__(self, message: str, **variables: Any) -> str: ...


class TranslatePlural(Protocol):
    """ngettext's shape: the form for `num`, its %(num)d and other placeholders filled."""

    def __call__(self, singular: str, plural: str, num: int, **variables: Any) -> str: ...


def english(message: str, **variables: Any) -> str:
    """The CLI's gettext: the English source text, its placeholders filled."""
    return message % variables if variables else message


def english_plural(singular: str, plural: str, num: int, **variables: Any) -> str:
    """The CLI's ngettext: the plural form whatever the count, word for word the text
    `idp policy simulate` has always printed (scripts may read it)."""
    return plural % {"num": num, **variables}


def _cell(sign_ins: int, users: int) -> str:
    return f"{sign_ins} / {users}"


def _table(
    columns: list[tuple[str, Tally]], comparison: Comparison, gettext: Translate
) -> list[str]:
    """Outcome rows by columns, and a last row counting what the candidate changes."""
    labels = [gettext(LABELS[o]) for o in OUTCOMES] + [gettext("changed by candidate")]
    cells = [
        [_cell(tally[o].sign_ins, tally[o].users) for o in OUTCOMES] + [""] for _, tally in columns
    ]
    cells[-1][-1] = _cell(comparison.changed_sign_ins, comparison.changed_users)
    width = max(len(label) for label in labels) + 2
    widths = [
        max(len(name), *(len(c) for c in col)) + 3
        for (name, _), col in zip(columns, cells, strict=True)
    ]
    lines = [
        " " * (width + 2)
        + "".join(name.rjust(w) for (name, _), w in zip(columns, widths, strict=True))
    ]
    for i, label in enumerate(labels):
        lines.append(
            "  "
            + label.ljust(width)
            + "".join(col[i].rjust(w) for col, w in zip(cells, widths, strict=True))
        )
    return lines


def format_report(
    report: SimulationReport,
    gettext: Translate = english,
    ngettext: TranslatePlural = english_plural,
) -> str:
    """The report as plain-text tables of sign-ins / distinct users per outcome.

    In English for the CLI; the admin page passes its `gettext` and `ngettext` for the
    reader's language. Policy names and settings are configuration, shown as written."""
    stamp = "%Y-%m-%d %H:%M"
    lines = [
        gettext(
            "What-if over %(days)s, %(since)s to %(until)s UTC: %(sign_ins)s %(by_users)s",
            days=ngettext("%(num)d day", "%(num)d days", report.days),
            since=f"{report.since:{stamp}}",
            until=f"{report.until:{stamp}}",
            sign_ins=ngettext("%(num)d sign-in", "%(num)d sign-ins", report.sign_ins),
            by_users=ngettext("by %(num)d user", "by %(num)d users", report.users),
        ),
        ngettext(
            "Not replayed: %(num)d attempt that never reached a policy decision "
            "(wrong password, locked out, unknown user).",
            "Not replayed: %(num)d attempts that never reached a policy decision "
            "(wrong password, locked out, unknown user).",
            report.not_replayed,
        ),
        gettext("Each cell: sign-ins / distinct users."),
        "",
        gettext("All policies together"),
    ]
    overall = report.overall
    assert overall.actual is not None
    actual, now, then = gettext("actual"), gettext("current"), gettext("candidate")
    lines += _table(
        [(actual, overall.actual), (now, overall.current), (then, overall.candidate)],
        overall,
        gettext,
    )
    # "current:" and "candidate:" padded to one width, so the settings line up.
    now_label, then_label = gettext("current:"), gettext("candidate:")
    width = max(len(now_label), len(then_label)) + 1
    for item in report.policies:
        current = describe_policy(report.current_policies, item.policy)
        candidate = describe_policy(report.candidate_policies, item.policy)
        lines += [
            "",
            gettext("%(policy)s alone (the other policies off)", policy=item.policy),
            f"  {now_label.ljust(width)}{current}",
            f"  {then_label.ljust(width)}"
            + (gettext("unchanged") if candidate == current else candidate),
        ]
        lines += _table([(now, item.current), (then, item.candidate)], item, gettext)
    return "\n".join(lines)
