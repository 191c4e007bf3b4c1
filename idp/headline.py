"""The overview's headline figures, risky locations and per-detection tuning, per period.

Every figure comes from the sign-in log and the risk tables with queries bounded by an
indexed time column (sign_ins.created_at, risk_detections.detected_at) or by user id
(risk_history.user_id), so a year of history costs a range scan, not a table scan.
`definitions()` says in words what each figure counts; the page shows it beside the figure.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa

from risk.levels import Level
from risk.policy import BLOCKED_BY_POLICY, MFA_REQUIRED, RISKY_WITHOUT_MFA
from risk.settings import DEFAULT_LEVELS, RiskSettings
from risk.vocabulary import RiskEventType, RiskState, Scope

from .extensions import db
from .i18n import _
from .models import RiskDetection, RiskHistory, SignIn

PERIODS = (7, 30, 90, 365)
DEFAULT_PERIOD = 30
SIGN_IN_KINDS = ("password", "sso")
RISKY_STATES = (RiskState.AT_RISK.value, RiskState.CONFIRMED_COMPROMISED.value)
# A user's risk episode ends when the risk is remediated or an admin dismisses it.
CLOSED_STATES = (
    RiskState.REMEDIATED.value,
    RiskState.DISMISSED.value,
    RiskState.CONFIRMED_SAFE.value,
)
FALSE_POSITIVE_STATES = (RiskState.DISMISSED.value, RiskState.CONFIRMED_SAFE.value)


def definitions() -> dict[str, str]:
    """What each headline figure counts, in the reader's language."""
    return {
        "attacksBlocked": _(
            "Risky sign-ins (sign-in risk low or above) that never got tokens: blocked by a "
            "policy (53003, 53004) or stopped at a challenge that was not passed. Each "
            "authorization request counts once."
        ),
        "challengedPassed": _(
            "Sign-ins challenged for a second factor (50076: by a risk policy, or because the "
            "app asked for one), and how many of them passed it and got tokens. Each "
            "authorization request counts once."
        ),
        "usersProtected": _(
            "Users whose risk went from at risk (or confirmed compromised) to remediated, "
            "dismissed or confirmed safe in the period."
        ),
        "meanTimeToRemediate": _(
            "For each user whose risk was closed in the period: the time from the change that "
            "first made the user risky to the change that closed it, averaged."
        ),
        "newHighRiskUsers": _("Users whose user risk rose to high in the period."),
    }


@dataclass(frozen=True)
class Headline:
    """The overview's figures for one period."""

    days: int
    since: datetime
    attacks_blocked: int
    challenged: int
    challenged_passed: int
    users_protected: int
    mean_time_to_remediate: timedelta | None
    new_high_risk_users: int


def period_days(text: str | None) -> int:
    """The period asked for (7, 30, 90 or 365 days); anything else is the default."""
    try:
        days = int(text or "")
    except ValueError:
        return DEFAULT_PERIOD
    return days if days in PERIODS else DEFAULT_PERIOD


def _sign_in_outcomes(since: datetime, until: datetime) -> dict[str, int]:
    """Authorization requests by what happened to them, one row each (by correlation id)."""
    risky = sa.func.max(sa.case((SignIn.risk_level_during_sign_in != "none", 1), else_=0))
    got_tokens = sa.func.max(sa.case((SignIn.outcome == "success", 1), else_=0))
    challenged = sa.func.max(sa.case((SignIn.error_code == MFA_REQUIRED, 1), else_=0))
    blocked = sa.func.max(
        sa.case((SignIn.error_code.in_([BLOCKED_BY_POLICY, RISKY_WITHOUT_MFA]), 1), else_=0)
    )
    per_request = (
        sa.select(
            risky.label("risky"),
            got_tokens.label("ok"),
            challenged.label("challenged"),
            blocked.label("blocked"),
        )
        .where(
            SignIn.created_at >= since, SignIn.created_at <= until, SignIn.kind.in_(SIGN_IN_KINDS)
        )
        .group_by(SignIn.correlation_id)
    ).subquery()
    row = db.session.execute(
        sa.select(
            sa.func.coalesce(
                sa.func.sum(
                    sa.case((sa.and_(per_request.c.risky == 1, per_request.c.ok == 0), 1), else_=0)
                ),
                0,
            ),
            sa.func.coalesce(sa.func.sum(per_request.c.challenged), 0),
            sa.func.coalesce(
                sa.func.sum(
                    sa.case(
                        (sa.and_(per_request.c.challenged == 1, per_request.c.ok == 1), 1), else_=0
                    )
                ),
                0,
            ),
        )
    ).one()
    return {
        "attacksBlocked": int(row[0]),
        "challenged": int(row[1]),
        "challengedPassed": int(row[2]),
    }


def _episodes(since: datetime, until: datetime) -> list[tuple[str, timedelta]]:
    """(user id, duration) of each user risk episode closed inside the window."""
    closed_here = sa.select(RiskHistory.user_id).where(
        RiskHistory.at >= since, RiskHistory.at <= until, RiskHistory.risk_state.in_(CLOSED_STATES)
    )
    rows = db.session.execute(
        sa.select(RiskHistory.user_id, RiskHistory.at, RiskHistory.risk_state)
        .where(RiskHistory.user_id.in_(closed_here), RiskHistory.at <= until)
        .order_by(RiskHistory.user_id, RiskHistory.at, RiskHistory.id)
    )
    found: list[tuple[str, timedelta]] = []
    started: dict[str, datetime] = {}
    for user_id, at, state in rows:
        if state in RISKY_STATES:
            started.setdefault(user_id, at)
        elif state in CLOSED_STATES and user_id in started:
            begin = started.pop(user_id)
            if at >= since:
                found.append((user_id, at - begin))
    return found


def _new_high_risk_users(since: datetime, until: datetime) -> int:
    from .notify import new_risky_users

    return new_risky_users(since, until).get(Level.HIGH.value, 0)


def headline(days: int, now: datetime) -> Headline:
    """The figures of the `days` before `now`."""
    since = now - timedelta(days=days)
    outcomes = _sign_in_outcomes(since, now)
    episodes = _episodes(since, now)
    mean = (sum((d for _, d in episodes), timedelta()) / len(episodes)) if episodes else None
    return Headline(
        days=days,
        since=since,
        attacks_blocked=outcomes["attacksBlocked"],
        challenged=outcomes["challenged"],
        challenged_passed=outcomes["challengedPassed"],
        users_protected=len({user_id for user_id, _ in episodes}),
        mean_time_to_remediate=mean,
        new_high_risk_users=_new_high_risk_users(since, now),
    )


def duration_text(value: timedelta | None) -> str:
    """A duration as '3 d 4 h', '2 h 5 min' or '40 min'; a dash for none."""
    if value is None:
        return "—"
    minutes = int(value.total_seconds() // 60)
    d, rest = divmod(minutes, 1440)
    h, m = divmod(rest, 60)
    if d:
        return _("%(d)d d %(h)d h", d=d, h=h)
    if h:
        return _("%(h)d h %(m)d min", h=h, m=m)
    return _("%(m)d min", m=m)


@dataclass(frozen=True)
class Location:
    """Risky sign-ins from one country, and the cities among them."""

    country: str
    count: int
    cities: tuple[tuple[str, int], ...]


def risky_locations(since: datetime, until: datetime) -> list[Location]:
    """Countries of risky sign-ins (sign-in risk low or above; each authorization request
    once), busiest first."""
    rows = db.session.execute(
        sa.select(SignIn.country, SignIn.city, sa.func.count(sa.distinct(SignIn.correlation_id)))
        .where(
            SignIn.created_at >= since,
            SignIn.created_at <= until,
            SignIn.kind.in_(SIGN_IN_KINDS),
            SignIn.risk_level_during_sign_in != "none",
            SignIn.country.is_not(None),
        )
        .group_by(SignIn.country, SignIn.city)
    )
    cities: dict[str, Counter[str]] = defaultdict(Counter)
    for country, city, count in rows:
        cities[str(country)][city or ""] += int(count)
    found = [
        Location(
            country,
            sum(c.values()),
            tuple(
                sorted(((k, n) for k, n in c.items() if k), key=lambda item: (-item[1], item[0]))
            ),
        )
        for country, c in cities.items()
    ]
    return sorted(found, key=lambda loc: (-loc.count, loc.country))


# --- tuning ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TuningRow:
    """One detection type over a period: how often it fired and what admins made of it."""

    risk_event_type: str
    fired: int
    false_positive: int
    confirmed: int
    level: str
    threshold: str
    policy: str
    policy_key: str
    policy_value: str
    candidate_value: str

    @property
    def false_positive_rate(self) -> str:
        return f"{100 * self.false_positive / self.fired:.0f}%" if self.fired else "—"

    def whatif_query(self) -> str:
        """The what-if page's query string, its candidate moving this policy threshold."""
        candidate = f'[policies.{self.policy}]\n{self.policy_key} = "{self.candidate_value}"\n'
        return urlencode({"candidate": candidate})


def _thresholds(settings: RiskSettings) -> dict[str, str]:
    """Each detection's thresholds in words, in the reader's language."""
    s = settings
    return {
        RiskEventType.UNLIKELY_TRAVEL.value: _(
            "faster than %(speed)s km/h over %(distance)s km or more (high at %(factor)s×)",
            speed=format(s.impossible_travel_kmh, "g"),
            distance=format(s.impossible_travel_min_distance_km, "g"),
            factor=format(s.impossible_travel_high_factor, "g"),
        ),
        RiskEventType.UNFAMILIAR_FEATURES.value: _(
            "%(low)s / %(medium)s / %(high)s bits of surprise for low / medium / high",
            low=format(s.unfamiliar_low_bits, "g"),
            medium=format(s.unfamiliar_medium_bits, "g"),
            high=format(s.unfamiliar_high_bits, "g"),
        ),
        RiskEventType.SUSPICIOUS_IP_ADDRESS.value: _(
            "%(accounts)s accounts failing from one IP in %(minutes)s min",
            accounts=s.suspicious_ip_min_accounts,
            minutes=s.suspicious_ip_window_minutes,
        ),
        RiskEventType.PASSWORD_SPRAY.value: _(
            "%(accounts)s accounts from one IP in %(minutes)s min",
            accounts=s.password_spray_min_accounts,
            minutes=s.password_spray_window_minutes,
        ),
        RiskEventType.MFA_FRAUD.value: _(
            "%(failures)s failed codes in %(minutes)s min",
            failures=s.mfa_fraud_min_failures,
            minutes=s.mfa_fraud_window_minutes,
        ),
        RiskEventType.LEAKED_CREDENTIALS.value: _("password in the leaked-password file"),
    }


# Detections raised for the user as a whole; the rest raise one sign-in's risk.
_USER_SCOPE = {
    RiskEventType.LEAKED_CREDENTIALS.value,
    RiskEventType.ANOMALOUS_TOKEN.value,
    RiskEventType.ADMIN_CONFIRMED_USER_COMPROMISED.value,
    RiskEventType.USER_REPORTED_SUSPICIOUS_ACTIVITY.value,
    RiskEventType.MFA_FRAUD.value,
}


def _candidate(level: Level, current: str) -> str:
    """The policy threshold that flips whether `level` triggers the policy."""
    if current != "never" and level >= Level.parse(current):
        return "never" if level is Level.HIGH else level.raised().value
    return level.value


def tuning(
    since: datetime, until: datetime, risk_settings: RiskSettings, policies: Any
) -> list[TuningRow]:
    """Per detection type: fired, marked false positive, confirmed, and its thresholds."""
    confirmed_later = sa.exists().where(
        RiskHistory.user_id == RiskDetection.user_id,
        RiskHistory.activity == RiskState.CONFIRMED_COMPROMISED.value,
        RiskHistory.at >= RiskDetection.detected_at,
    )
    confirmed = sa.or_(
        RiskDetection.risk_state == RiskState.CONFIRMED_COMPROMISED.value, confirmed_later
    )
    rows = db.session.execute(
        sa.select(
            RiskDetection.risk_event_type,
            RiskDetection.risk_level,
            RiskDetection.scope,
            sa.func.count(),
            sa.func.sum(sa.case((RiskDetection.risk_state.in_(FALSE_POSITIVE_STATES), 1), else_=0)),
            sa.func.sum(sa.case((confirmed, 1), else_=0)),
        )
        .where(RiskDetection.detected_at >= since, RiskDetection.detected_at <= until)
        .group_by(RiskDetection.risk_event_type, RiskDetection.risk_level, RiskDetection.scope)
    )
    fired: Counter[str] = Counter()
    false_positive: Counter[str] = Counter()
    confirmed_count: Counter[str] = Counter()
    levels: dict[str, Counter[str]] = defaultdict(Counter)
    scopes: dict[str, Counter[str]] = defaultdict(Counter)
    for kind, level, scope, count, fp, conf in rows:
        fired[kind] += int(count)
        false_positive[kind] += int(fp or 0)
        confirmed_count[kind] += int(conf or 0)
        levels[kind][level] += int(count)
        scopes[kind][scope] += int(count)
    thresholds = _thresholds(risk_settings)
    found = []
    for event in RiskEventType:
        kind = event.value
        if event in DEFAULT_LEVELS:
            base = risk_settings.level_for(event)
        else:
            base = Level.MEDIUM
        level = Level.parse(levels[kind].most_common(1)[0][0]) if levels[kind] else base
        user_scope = (
            scopes[kind].most_common(1)[0][0] == Scope.USER.value
            if scopes[kind]
            else kind in _USER_SCOPE
        )
        policy, key = (
            ("user_risk", "password_change_at") if user_scope else ("sign_in_risk", "mfa_at")
        )
        value = getattr(getattr(policies, policy), key)
        threshold = thresholds.get(kind, "")
        if event in DEFAULT_LEVELS:
            # The level is the vocabulary's value (low, medium, high), as in the table's
            # other columns.
            level_text = _("level %(level)s", level=base.value)
            threshold = f"{level_text}; {threshold}" if threshold else level_text
        if not risk_settings.is_enabled(event):
            threshold = _("turned off (risk.disabled_detections)")
        found.append(
            TuningRow(
                kind,
                fired[kind],
                false_positive[kind],
                confirmed_count[kind],
                level.value,
                threshold,
                policy,
                key,
                value,
                _candidate(level, value),
            )
        )
    return sorted(found, key=lambda row: (-row.fired, row.risk_event_type))
