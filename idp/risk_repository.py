"""The risk engine's history repository over the provider's tables: sign-in history,
learned features, the organisation's countries, failed-attempt counts and the population's
novelty counts (risk.repository.HistoryRepository)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from risk.context import IpInfo, SignInContext
from risk.engine import Assessment
from risk.features import Feature
from risk.novelty import ORG_USERS_COUNTED, NoveltyCounts
from risk.repository import PastSignIn, UserProfile, beyond_limit

from .extensions import db
from .models import NoveltyCount, OrgCountry, SignIn, UserFeature, UserHistory

_HISTORY = UserHistory.__table__
_NOVELTY = NoveltyCount.__table__
_ORG_COUNTRIES = OrgCountry.__table__
_FEATURES = UserFeature.__table__
_SIGN_INS = SignIn.__table__

# The latest place of a sign-in (travel is measured from it).
_LAST = (
    "last_at",
    "last_ip",
    "last_latitude",
    "last_longitude",
    "last_accuracy_radius_km",
    "last_country",
    "last_city",
    "last_trusted_location",
)


@dataclass(frozen=True)
class _Upserts:
    history: Any
    feature: Any
    novelty: Any
    org_country: Any


def _build_upserts(insert: Any) -> _Upserts:
    """What a successful sign-in writes, as INSERT ... ON CONFLICT statements with bound
    parameters, built once per dialect (building them cost more than running them)."""
    history = insert(_HISTORY).values(
        {
            **{name: sa.bindparam(name) for name in ("user_id", "first_seen", *_LAST)},
            "successful_sign_ins": 1,
        }
    )
    # Workers finish sign-ins out of order: an older one must not replace the latest
    # place nor leave a later first_seen.
    newer = history.excluded.last_at >= _HISTORY.c.last_at
    earlier = history.excluded.first_seen < _HISTORY.c.first_seen
    history = history.on_conflict_do_update(
        index_elements=["user_id"],
        set_={
            **{
                name: sa.case((newer, history.excluded[name]), else_=_HISTORY.c[name])
                for name in _LAST
            },
            "first_seen": sa.case(
                (earlier, history.excluded.first_seen), else_=_HISTORY.c.first_seen
            ),
            "successful_sign_ins": _HISTORY.c.successful_sign_ins + 1,
        },
    )
    feature = insert(_FEATURES).values(
        {
            name: sa.bindparam(name)
            for name in ("user_id", "kind", "value", "first_seen", "last_seen")
        }
    )
    later = sa.or_(
        _FEATURES.c.last_seen.is_(None), feature.excluded.last_seen > _FEATURES.c.last_seen
    )
    feature = feature.on_conflict_do_update(
        index_elements=["user_id", "kind", "value"],
        set_={
            "last_seen": sa.case((later, feature.excluded.last_seen), else_=_FEATURES.c.last_seen)
        },
    )
    novelty = insert(_NOVELTY).values(name=sa.bindparam("name"), count=1)
    novelty = novelty.on_conflict_do_update(
        index_elements=["name"], set_={"count": _NOVELTY.c.count + novelty.excluded.count}
    )
    org_country = (
        insert(_ORG_COUNTRIES)
        .values(country=sa.bindparam("country"), first_seen=sa.bindparam("first_seen"))
        .on_conflict_do_nothing()
    )
    return _Upserts(history, feature, novelty, org_country)


_UPSERTS = {
    "postgresql": _build_upserts(postgresql.insert),
    "sqlite": _build_upserts(sqlite.insert),
}


def _dialect() -> str:
    return str(db.session.get_bind().dialect.name)


def _upserts() -> _Upserts:
    return _UPSERTS[_dialect()]


# Core statements, compiled once and cached: on the hot path the ORM's per-row work cost
# about ten times the queries themselves (see bench/risk_pg_bench.py).
# One query answers both last_successful_sign_in and user_profile: the history row with
# the user's features joined to it.
_HISTORY_AND_FEATURES = (
    sa.select(
        _HISTORY.c.first_seen,
        _HISTORY.c.successful_sign_ins,
        _HISTORY.c.last_at,
        _HISTORY.c.last_ip,
        _HISTORY.c.last_latitude,
        _HISTORY.c.last_longitude,
        _HISTORY.c.last_accuracy_radius_km,
        _HISTORY.c.last_country,
        _HISTORY.c.last_city,
        _HISTORY.c.last_trusted_location,
        _FEATURES.c.kind,
        _FEATURES.c.value,
        _FEATURES.c.last_seen,
        _FEATURES.c.first_seen.label("first_used"),
    )
    .select_from(_HISTORY.outerjoin(_FEATURES, _FEATURES.c.user_id == _HISTORY.c.user_id))
    .where(_HISTORY.c.user_id == sa.bindparam("user_id"))
)
_FORGET_FEATURE = sa.delete(_FEATURES).where(
    _FEATURES.c.user_id == sa.bindparam("user_id"),
    _FEATURES.c.kind == sa.bindparam("kind"),
    _FEATURES.c.value == sa.bindparam("value"),
)
_ORG_COUNTRY = sa.select(sa.literal(1)).where(
    OrgCountry.__table__.c.country == sa.bindparam("country")
)
# Only existing accounts count: anyone can type made-up names from a shared address.
_FAILED_ACCOUNTS = sa.select(sa.func.count(sa.distinct(_SIGN_INS.c.user_id))).where(
    _SIGN_INS.c.ip == sa.bindparam("ip"),
    _SIGN_INS.c.created_at >= sa.bindparam("since"),
    _SIGN_INS.c.kind == "password",
    _SIGN_INS.c.error_code == 50126,
    _SIGN_INS.c.user_id.is_not(None),
)
_FAILED_PASSWORDS = (
    sa.select(sa.func.count())
    .select_from(_SIGN_INS)
    .where(
        _SIGN_INS.c.user_id == sa.bindparam("user_id"),
        _SIGN_INS.c.ip == sa.bindparam("ip"),
        _SIGN_INS.c.created_at >= sa.bindparam("since"),
        _SIGN_INS.c.kind == "password",
        _SIGN_INS.c.error_code == 50126,
    )
)
_FAILED_MFA = (
    sa.select(sa.func.count())
    .select_from(_SIGN_INS)
    .where(
        _SIGN_INS.c.user_id == sa.bindparam("user_id"),
        _SIGN_INS.c.created_at >= sa.bindparam("since"),
        _SIGN_INS.c.kind == "mfa",
        _SIGN_INS.c.outcome == "failure",
    )
)


_NOVELTY_COUNTS = sa.select(_NOVELTY.c.name, _NOVELTY.c.count)
_HOLDERS = sa.select(sa.literal(1)).where(
    _FEATURES.c.kind == sa.bindparam("kind"), _FEATURES.c.value == sa.bindparam("value")
)
# Days between a user's first and latest use of a feature: SQLite keeps datetimes as text,
# which julianday() reads.
_DAYS_KEPT = {
    "postgresql": sa.extract("epoch", _FEATURES.c.last_seen - _FEATURES.c.first_seen) / 86_400,
    "sqlite": sa.func.julianday(_FEATURES.c.last_seen) - sa.func.julianday(_FEATURES.c.first_seen),
}


def _counted(holders: sa.Select[Any]) -> sa.Select[Any]:
    """Count `holders` up to `:at_most`: a browser 100,000 users have costs no more than a
    rare one."""
    return sa.select(sa.func.count()).select_from(holders.limit(sa.bindparam("at_most")).subquery())


_USERS_WITH_FEATURE = _counted(_HOLDERS)
_USERS_KEEPING_FEATURE = {
    dialect: _counted(_HOLDERS.where(days >= sa.bindparam("kept_days")))
    for dialect, days in _DAYS_KEPT.items()
}
NOVELTY_COUNTS_SECONDS = 30.0
"""How long a process reuses the population counts it read (they move slowly)."""


def _run(statement: Any, **params: Any) -> Any:
    return db.session.connection().execute(statement, params)


def _run_many(statement: Any, params: list[dict[str, Any]]) -> None:
    db.session.connection().execute(statement, params)


def _profile(rows: list[Any]) -> UserProfile:
    """The profile of a user's history rows (each joined to one feature, or to none)."""
    last_seen: dict[Feature, datetime] = {}
    first_used: dict[Feature, datetime] = {}
    features = []
    # One pass over the row tuples: every sign-in reads a profile of up to
    # PROFILE_VALUES_PER_KIND values of each kind.
    for *_, kind, value, seen, used in rows:
        if kind is not None:
            feature = (kind, value)
            features.append(feature)
            if seen is not None:
                last_seen[feature] = seen
            if used is not None:
                first_used[feature] = used
    return UserProfile(
        first_seen=rows[0].first_seen,
        successful_sign_ins=rows[0].successful_sign_ins,
        features=frozenset(features),
        last_seen=last_seen,
        first_used=first_used,
    )


def _without(profile: UserProfile, gone: set[Feature]) -> UserProfile:
    return replace(
        profile,
        features=profile.features - gone,
        last_seen={f: at for f, at in profile.last_seen.items() if f not in gone},
        first_used={f: at for f, at in profile.first_used.items() if f not in gone},
    )


def cached_profile(user_id: str) -> UserProfile | None:
    """The user's profile as this database session last read it (user_profile), or None
    when it has not (or has written the user's history since)."""
    return db.session.info.get("risk_profile", {}).get(user_id)  # type: ignore[no-any-return]


class SqlHistoryRepository:
    """risk.repository.HistoryRepository over the provider's tables; each read is one query."""

    unconfirmed_kept_days = 0.0
    """The server learns a stepped-up sign-in only once its second factor is answered."""

    def __init__(self) -> None:
        self._novelty: tuple[float, NoveltyCounts] | None = None

    @staticmethod
    def _history(user_id: str) -> list[Any]:
        """The user's history rows, read once per database session (record() drops them)."""
        cache = db.session.info.setdefault("risk_history", {})
        if user_id not in cache:
            cache[user_id] = _run(_HISTORY_AND_FEATURES, user_id=user_id).all()
        return cache[user_id]  # type: ignore[no-any-return]

    def last_successful_sign_in(self, user_id: str, before: datetime) -> PastSignIn | None:
        rows = self._history(user_id)
        if not rows or rows[0].last_at >= before:
            return None
        row = rows[0]
        return PastSignIn(
            time=row.last_at,
            ip=row.last_ip,
            latitude=row.last_latitude,
            longitude=row.last_longitude,
            accuracy_radius_km=row.last_accuracy_radius_km,
            country=row.last_country,
            city=row.last_city,
            trusted_location=row.last_trusted_location,
        )

    def user_profile(self, user_id: str) -> UserProfile:
        """Built once per database session, like the rows it is built from (record() drops
        both); cached_profile reads it."""
        cache = db.session.info.setdefault("risk_profile", {})
        if user_id not in cache:
            cache[user_id] = self._trimmed(user_id, self._history(user_id))
        return cache[user_id]  # type: ignore[no-any-return]

    @staticmethod
    def _trimmed(user_id: str, rows: list[Any]) -> UserProfile:
        if not rows:
            return UserProfile()
        profile = _profile(rows)
        stale = beyond_limit(profile.features, profile.last_seen)
        if not stale:
            return profile
        # Trimmed where the profile is read, since every sign-in reads it anyway; trimming
        # in record() would cost a read of its own.
        _run_many(_FORGET_FEATURE, [{"user_id": user_id, "kind": k, "value": v} for k, v in stale])
        return _without(profile, set(stale))

    def users_with_feature(
        self, feature: tuple[str, str], kept_days: float = 0.0, at_most: int = ORG_USERS_COUNTED
    ) -> int:
        kind, value = feature
        params = {"kind": kind, "value": value[:200], "at_most": at_most}
        if not kept_days:
            return int(_run(_USERS_WITH_FEATURE, **params).scalar() or 0)
        statement = _USERS_KEEPING_FEATURE[_dialect()]
        return int(_run(statement, kept_days=kept_days, **params).scalar() or 0)

    def novelty_counts(self) -> NoveltyCounts:
        """Every process's counts, re-read at most every NOVELTY_COUNTS_SECONDS."""
        if self._novelty is None or time.monotonic() - self._novelty[0] > NOVELTY_COUNTS_SECONDS:
            rows = _run(_NOVELTY_COUNTS).all()
            self._novelty = (
                time.monotonic(),
                NoveltyCounts.summed((r.name, r.count) for r in rows),
            )
        return self._novelty[1]

    def org_has_seen_country(self, country: str) -> bool:
        return _run(_ORG_COUNTRY, country=country).first() is not None

    def failed_accounts_from_ip(self, ip: str, since: datetime) -> int:
        return int(_run(_FAILED_ACCOUNTS, ip=ip, since=since).scalar() or 0)

    def failed_passwords(self, user_id: str, ip: str, since: datetime) -> int:
        return int(_run(_FAILED_PASSWORDS, user_id=user_id, ip=ip, since=since).scalar() or 0)

    def failed_mfa_count(self, user_id: str, since: datetime) -> int:
        return int(_run(_FAILED_MFA, user_id=user_id, since=since).scalar() or 0)

    def record(
        self, ctx: SignInContext, ip_info: IpInfo, assessment: Assessment, succeeded: bool
    ) -> None:
        # Failed attempts are already history: they are sign-in log rows.
        if not succeeded or ctx.user_id is None:
            return
        for cache in ("risk_history", "risk_profile"):
            db.session.info.get(cache, {}).pop(ctx.user_id, None)
        upserts = _upserts()
        # On the session's connection: the ORM's execution adds nothing to a Core upsert.
        _run(
            upserts.history,
            **{
                "user_id": ctx.user_id,
                "first_seen": ctx.time,
                "last_at": ctx.time,
                "last_ip": ip_info.ip,
                "last_latitude": ip_info.latitude,
                "last_longitude": ip_info.longitude,
                "last_accuracy_radius_km": ip_info.accuracy_radius_km,
                "last_country": ip_info.country,
                "last_city": ip_info.city,
                "last_trusted_location": assessment.trusted_location,
            },
        )
        if assessment.features:
            _run_many(
                upserts.feature,
                [
                    {
                        "user_id": ctx.user_id,
                        "kind": kind,
                        "value": value[:200],
                        "first_seen": ctx.time,
                        "last_seen": ctx.time,
                    }
                    for kind, value in sorted(assessment.features)
                ],
            )
        counters = assessment.novelty_counters
        if counters:
            self._count_novelty(counters)
        if ip_info.country:
            _run(upserts.org_country, country=ip_info.country, first_seen=ctx.time)
        # Committed by the caller, with the sign-in's other writes (views.oauth.issue_code).

    def _count_novelty(self, names: Iterable[str]) -> None:
        # Rows in one order in every transaction, so concurrent sign-ins cannot deadlock.
        rows = [{"name": name} for name in sorted(names)]
        _run_many(_upserts().novelty, rows)
        if self._novelty is not None:
            # This process sees its own sign-ins at once; others' within the cache time.
            at, counts = self._novelty
            self._novelty = (
                at,
                NoveltyCounts.summed([*counts.counters.items(), *((r["name"], 1) for r in rows)]),
            )
