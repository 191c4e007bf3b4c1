"""Recommendations: what weakens this deployment, how many users or objects it touches, and
where to act (Identity Protection's "vulnerabilities").

Each recommendation is one check over the database or the settings, computed on request
(a handful of narrow queries), so it is never stale: fixing the cause turns it to
`completed` at the next look. The dashboard, the admin API and the weekly digest all read
`recommendations()`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa

from risk.vocabulary import RiskState

from .config import Settings, too_wide_proxies
from .extensions import db
from .i18n import N_, _
from .models import Client, User, UserRisk, WebAuthnCredential
from .services import services

# A grace period ending within this many days counts as "near its end".
GRACE_NEAR_END_DAYS = 3
# A client secret older than this (never rotated) is long-lived.
CLIENT_SECRET_MAX_AGE_DAYS = 180
# How old each feed file may be before it is stale: MaxMind publishes its databases twice a
# week, IP lists (Tor exits, botnets) change by the hour, Pwned Passwords a few times a year.
FEED_MAX_AGE_DAYS: dict[str, int] = {
    "geoip_city_db": 30,
    "geoip_asn_db": 30,
    "anonymous_ip_db": 30,
    "anonymous_ip_list": 7,
    "malicious_ip_list": 7,
    "infected_ip_list": 7,
    "leaked_passwords": 183,
}
FEED_LABELS: dict[str, str] = {
    "geoip_city_db": N_("GeoIP city database"),
    "geoip_asn_db": N_("GeoIP ASN database"),
    "anonymous_ip_db": N_("Anonymous-IP database"),
    "anonymous_ip_list": N_("anonymizer IP list"),
    "malicious_ip_list": N_("malicious IP list"),
    "infected_ip_list": N_("malware-infected IP list"),
    "leaked_passwords": N_("leaked-password file"),
}
# Feeds a deployment needs, as groups of which one is enough: each group feeds detections
# that cannot fire without it. The malware-infected list is optional (few have one).
FEEDS_NEEDED: tuple[tuple[str, ...], ...] = (
    ("geoip_city_db",),
    ("geoip_asn_db",),
    ("anonymous_ip_db", "anonymous_ip_list"),
    ("malicious_ip_list",),
    ("leaked_passwords",),
)
ACTIVE = "active"
COMPLETED = "completed"


@dataclass(frozen=True)
class Recommendation:
    """One recommendation: Graph-like id, what and why, how many it affects, where to act."""

    id: str
    title: str
    description: str
    impacted_count: int
    action_path: str
    # The affected users or objects in words (user names, feeds, clients, CIDRs), for the
    # dashboard; at most a page of them.
    impacted: tuple[str, ...] = field(default=())

    @property
    def status(self) -> str:
        return ACTIVE if self.impacted_count else COMPLETED

    def action_url(self) -> str:
        """The absolute URL of the page where an admin acts on it."""
        return f"{_settings().issuer}{self.action_path}"

    def resource(self) -> dict[str, Any]:
        """The admin API's shape: id, title, description, impactedCount, status, actionUrl."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "impactedCount": self.impacted_count,
            "status": self.status,
            "actionUrl": self.action_url(),
        }


SHOWN_IMPACTED = 50


def _settings() -> Settings:
    return services().settings


def _now() -> datetime:
    return services().clock.now()


def group_members(group: str) -> list[User]:
    """The enabled users in `group`, by user name."""
    # A textual pre-filter on the stored JSON keeps this one narrow query on both databases;
    # the exact membership test is in Python.
    text = sa.cast(User.groups, sa.Text)
    rows = db.session.scalars(
        sa.select(User)
        .where(
            User.disabled.is_(False),
            sa.or_(
                text.contains(json.dumps(group), autoescape=True),
                text.contains(group, autoescape=True),
            ),
        )
        .order_by(User.username)
    )
    return [user for user in rows if group in (user.groups or [])]


def phishing_resistant_user_ids(user_ids: list[str]) -> set[str]:
    """Which of these users hold a phishing-resistant factor: a passkey (WebAuthn)."""
    if not user_ids:
        return set()
    return set(
        db.session.scalars(
            sa.select(WebAuthnCredential.user_id)
            .where(WebAuthnCredential.user_id.in_(user_ids))
            .distinct()
        )
    )


def _without_second_factor() -> Recommendation:
    no_totp = sa.and_(
        User.disabled.is_(False),
        sa.or_(User.totp_registered_at.is_(None), User.totp_secret.is_(None)),
    )
    rows = db.session.execute(
        sa.select(User.id, User.username, User.mfa_grace_started_at)
        .where(no_totp)
        .order_by(User.username)
    ).all()
    holders = phishing_resistant_user_ids([row.id for row in rows])
    rows = [row for row in rows if row.id not in holders]
    now = _now()
    grace = timedelta(days=_settings().policies.mfa_registration.grace_period_days)
    ends = [row.mfa_grace_started_at + grace for row in rows if row.mfa_grace_started_at]
    past = sum(1 for end in ends if end <= now)
    near = sum(1 for end in ends if now < end <= now + timedelta(days=GRACE_NEAR_END_DAYS))
    description = _(
        "Users with only a password lose their account to one phished or leaked password, "
        "and a risky sign-in cannot be challenged: it is blocked (53004) instead. "
        "%(past)d of them are past the end of their registration grace period and "
        "%(near)d are within %(days)d days of it.",
        past=past,
        near=near,
        days=GRACE_NEAR_END_DAYS,
    )
    return Recommendation(
        "usersWithoutSecondFactor",
        _("Have every user register a second factor"),
        description,
        len(rows),
        "/admin/directory",
        tuple(row.username for row in rows[:SHOWN_IMPACTED]),
    )


def _admins() -> list[User]:
    return group_members(_settings().admin_group)


def _admins_without_phishing_resistant() -> Recommendation:
    admins = _admins()
    holders = phishing_resistant_user_ids([user.id for user in admins])
    lacking = [user for user in admins if user.id not in holders]
    return Recommendation(
        "adminsWithoutPhishingResistantFactor",
        _("Give every administrator a phishing-resistant factor (a passkey)"),
        _(
            "A code from an authenticator app can be phished in real time by a proxy page; "
            "a passkey is bound to this site and cannot. Administrators are the accounts "
            "attackers want most."
        ),
        len(lacking),
        "/admin/directory",
        tuple(user.username for user in lacking[:SHOWN_IMPACTED]),
    )


def _admins_without_any() -> Recommendation:
    admins = _admins()
    holders = phishing_resistant_user_ids([user.id for user in admins])
    lacking = [user for user in admins if not user.has_totp and user.id not in holders]
    return Recommendation(
        "adminsWithoutSecondFactor",
        _("Have every administrator register a second factor"),
        _(
            "An administrator with only a password cannot open the dashboard (it demands a "
            "second factor) and is one leaked password away from a takeover of the provider."
        ),
        len(lacking),
        "/admin/directory",
        tuple(user.username for user in lacking[:SHOWN_IMPACTED]),
    )


def _policies_not_enforced() -> Recommendation:
    policies = _settings().policies
    names = [
        name for name in ("sign_in_risk", "user_risk") if getattr(policies, name).state != "on"
    ]
    # The what-if page opens with these policies turned on, ready to replay.
    candidate = "".join(f'[policies.{name}]\nstate = "on"\n' for name in names)
    return Recommendation(
        "policyNotEnforced",
        _("Enforce the sign-in risk and user risk policies"),
        _(
            "A risk policy that is off or in report-only evaluates sign-ins but challenges or "
            "blocks none: risky sign-ins get tokens. Try the policy on the what-if page with "
            'state = "on", then set it in [policies.*] of the configuration.'
        ),
        len(names),
        "/admin/whatif" + (f"?{urlencode({'candidate': candidate})}" if names else ""),
        tuple(f"{name}: {getattr(policies, name).state}" for name in names),
    )


def feed_problems() -> list[str]:
    """Each needed feed that is not configured, and each configured one that cannot be
    read or is older than its limit, in words."""
    risk = _settings().risk
    now = _now().timestamp()
    problems = []
    for group in FEEDS_NEEDED:
        if not any(getattr(risk, key) for key in group):
            problems.append(
                _(
                    "%(label)s (risk.%(key)s): not configured",
                    label=_(" or ").join(_(FEED_LABELS[k]) for k in group),
                    key=" or risk.".join(group),
                )
            )
    for key, max_days in FEED_MAX_AGE_DAYS.items():
        path = str(getattr(risk, key) or "")
        label = _(FEED_LABELS[key])
        if not path:
            continue
        try:
            age_days = (now - os.stat(path).st_mtime) / 86400
        except OSError:
            problems.append(_("%(label)s (risk.%(key)s): cannot be read", label=label, key=key))
            continue
        if age_days > max_days:
            problems.append(
                _(
                    "%(label)s (risk.%(key)s): %(age)d days old, more than %(max)d",
                    label=label,
                    key=key,
                    age=age_days,
                    max=max_days,
                )
            )
    return problems


def _feeds() -> Recommendation:
    problems = feed_problems()
    limits = ", ".join(
        _("%(label)s %(days)d days", label=_(FEED_LABELS[k]), days=d)
        for k, d in FEED_MAX_AGE_DAYS.items()
    )
    return Recommendation(
        "feedMissingOrStale",
        _("Configure the risk feeds and keep them fresh"),
        _(
            "Without a feed its detections cannot fire (no GeoIP: no unlikely travel or new "
            "country; no leaked-password file: no leaked credentials), and an old file misses "
            "new Tor exits, botnets and leaks. Limits: %(limits)s.",
            limits=limits,
        ),
        len(problems),
        "/admin/recommendations#feedMissingOrStale",
        tuple(problems),
    )


def _client_secrets() -> Recommendation:
    cutoff = int((_now() - timedelta(days=CLIENT_SECRET_MAX_AGE_DAYS)).timestamp())
    clients = db.session.scalars(
        sa.select(Client)
        .where(
            Client.client_secret.is_not(None),
            Client.client_secret != "",
            Client.client_id_issued_at < cutoff,
        )
        .order_by(Client.name)
    ).all()
    old = [client for client in clients if not client.is_public]
    return Recommendation(
        "clientSecretsNotRotated",
        _("Rotate client secrets older than %(days)d days", days=CLIENT_SECRET_MAX_AGE_DAYS),
        _(
            "A secret that never changes has had years to leak through logs, backups and old "
            "laptops, and whoever holds it can act as the app. Rotate it on the Clients page "
            "and deploy the new one."
        ),
        len(old),
        "/admin/clients",
        tuple(f"{client.name} ({client.client_id})" for client in old[:SHOWN_IMPACTED]),
    )


def _trusted_proxies() -> Recommendation:
    wide = too_wide_proxies(_settings().trusted_proxies)
    return Recommendation(
        "trustedProxiesTooWide",
        _("Narrow trusted_proxies to your own proxies"),
        _(
            "X-Forwarded-For is believed from these networks, and they span a large part of "
            "the internet: anyone there can choose the client IP the risk engine, the throttle "
            "and the sign-in log see. List only the load balancers in front of the provider."
        ),
        len(wide),
        "/admin/recommendations#trustedProxiesTooWide",
        tuple(wide),
    )


def _compromised() -> Recommendation:
    rows = (
        db.session.execute(
            sa.select(User.username)
            .join(UserRisk, UserRisk.user_id == User.id)
            .where(UserRisk.risk_state == RiskState.CONFIRMED_COMPROMISED.value)
            .order_by(User.username)
        )
        .scalars()
        .all()
    )
    return Recommendation(
        "compromisedNotRemediated",
        _("Remediate users confirmed compromised"),
        _(
            "Someone else holds these accounts' password. Until the user changes it (after "
            "the second factor) or you set a temporary one, the attacker can keep trying it; "
            "require a password reset or disable the account."
        ),
        len(rows),
        "/admin/users?state=confirmedCompromised",
        tuple(rows[:SHOWN_IMPACTED]),
    )


CHECKS: tuple[Callable[[], Recommendation], ...] = (
    _compromised,
    _admins_without_any,
    _admins_without_phishing_resistant,
    _policies_not_enforced,
    _without_second_factor,
    _feeds,
    _trusted_proxies,
    _client_secrets,
)


def recommendations() -> list[Recommendation]:
    """Every recommendation, active ones first, each group in order of importance."""
    found = [check() for check in CHECKS]
    return [r for r in found if r.status == ACTIVE] + [r for r in found if r.status != ACTIVE]
