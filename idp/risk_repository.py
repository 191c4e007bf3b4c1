"""The risk engine's history repository over the provider's tables: sign-in history,
learned features, the organisation's countries, failed-attempt counts and the population's
novelty counts (risk.repository.HistoryRepository)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from risk.context import IpInfo, SignInContext
from risk.engine import Assessment
from risk.novelty import NoveltyCounts
from risk.repository import PastSignIn, UserProfile

from .extensions import db
from .models import NoveltyCount, OrgCountry, SignIn, UserFeature, UserHistory


def _insert(model: Any) -> Any:
    """An INSERT that understands ON CONFLICT on both supported databases."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


_HISTORY = UserHistory.__table__
_FEATURES = UserFeature.__table__
_SIGN_INS = SignIn.__table__

# Core statements, compiled once and cached: on the hot path the ORM's per-row work cost
# about ten times the queries themselves (see bench/risk_pg_bench.py).
# One query answers both last_successful_sign_in and user_profile: the history row with
# the user's features joined to it.
_HISTORY_AND_FEATURES = sa.select(
    _HISTORY.c.first_seen, _HISTORY.c.successful_sign_ins, _HISTORY.c.last_at,
    _HISTORY.c.last_ip, _HISTORY.c.last_latitude, _HISTORY.c.last_longitude,
    _HISTORY.c.last_accuracy_radius_km, _HISTORY.c.last_country, _HISTORY.c.last_city,
    _HISTORY.c.last_trusted_location, _FEATURES.c.kind, _FEATURES.c.value,
    _FEATURES.c.last_seen,
).select_from(
    _HISTORY.outerjoin(_FEATURES, _FEATURES.c.user_id == _HISTORY.c.user_id)
).where(_HISTORY.c.user_id == sa.bindparam("user_id"))
_ORG_COUNTRY = sa.select(sa.literal(1)).where(
    OrgCountry.__table__.c.country == sa.bindparam("country"))
# Only existing accounts count: anyone can type made-up names from a shared address.
_FAILED_ACCOUNTS = sa.select(sa.func.count(sa.distinct(_SIGN_INS.c.user_id))).where(
    _SIGN_INS.c.ip == sa.bindparam("ip"), _SIGN_INS.c.created_at >= sa.bindparam("since"),
    _SIGN_INS.c.kind == "password", _SIGN_INS.c.error_code == 50126,
    _SIGN_INS.c.user_id.is_not(None),
)
_FAILED_PASSWORDS = sa.select(sa.func.count()).select_from(_SIGN_INS).where(
    _SIGN_INS.c.user_id == sa.bindparam("user_id"), _SIGN_INS.c.ip == sa.bindparam("ip"),
    _SIGN_INS.c.created_at >= sa.bindparam("since"),
    _SIGN_INS.c.kind == "password", _SIGN_INS.c.error_code == 50126,
)
_FAILED_MFA = sa.select(sa.func.count()).select_from(_SIGN_INS).where(
    _SIGN_INS.c.user_id == sa.bindparam("user_id"),
    _SIGN_INS.c.created_at >= sa.bindparam("since"),
    _SIGN_INS.c.kind == "mfa", _SIGN_INS.c.outcome == "failure",
)


_NOVELTY = NoveltyCount.__table__
_NOVELTY_COUNTS = sa.select(_NOVELTY.c.name, _NOVELTY.c.count)
_USERS_WITH_FEATURE = sa.select(sa.func.count()).select_from(_FEATURES).where(
    _FEATURES.c.kind == sa.bindparam("kind"), _FEATURES.c.value == sa.bindparam("value"))
NOVELTY_COUNTS_SECONDS = 30.0
"""How long a process reuses the population counts it read (they move slowly)."""


def _run(statement: Any, **params: Any) -> Any:
    return db.session.connection().execute(statement, params)


class SqlHistoryRepository:
    """risk.repository.HistoryRepository over the provider's tables; each read is one query."""

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
            time=row.last_at, ip=row.last_ip, latitude=row.last_latitude,
            longitude=row.last_longitude, accuracy_radius_km=row.last_accuracy_radius_km,
            country=row.last_country, city=row.last_city,
            trusted_location=row.last_trusted_location,
        )

    def user_profile(self, user_id: str) -> UserProfile:
        rows = self._history(user_id)
        if not rows:
            return UserProfile()
        return UserProfile(
            first_seen=rows[0].first_seen,
            successful_sign_ins=rows[0].successful_sign_ins,
            features=frozenset((r.kind, r.value) for r in rows if r.kind is not None),
            last_seen={(r.kind, r.value): r.last_seen for r in rows
                       if r.kind is not None and r.last_seen is not None},
        )

    def users_with_feature(self, feature: tuple[str, str]) -> int:
        kind, value = feature
        return int(_run(_USERS_WITH_FEATURE, kind=kind, value=value[:200]).scalar() or 0)

    def novelty_counts(self) -> NoveltyCounts:
        """Every process's counts, re-read at most every NOVELTY_COUNTS_SECONDS."""
        if self._novelty is None or time.monotonic() - self._novelty[0] > NOVELTY_COUNTS_SECONDS:
            rows = _run(_NOVELTY_COUNTS).all()
            self._novelty = (time.monotonic(), NoveltyCounts.summed(
                (r.name, r.count) for r in rows))
        return self._novelty[1]

    def org_has_seen_country(self, country: str) -> bool:
        return _run(_ORG_COUNTRY, country=country).first() is not None

    def failed_accounts_from_ip(self, ip: str, since: datetime) -> int:
        return int(_run(_FAILED_ACCOUNTS, ip=ip, since=since).scalar() or 0)

    def failed_passwords(self, user_id: str, ip: str, since: datetime) -> int:
        return int(_run(_FAILED_PASSWORDS, user_id=user_id, ip=ip, since=since).scalar() or 0)

    def failed_mfa_count(self, user_id: str, since: datetime) -> int:
        return int(_run(_FAILED_MFA, user_id=user_id, since=since).scalar() or 0)

    def record(self, ctx: SignInContext, ip_info: IpInfo, assessment: Assessment,
               succeeded: bool) -> None:
        # Failed attempts are already history: they are sign-in log rows.
        if not succeeded or ctx.user_id is None:
            return
        db.session.info.get("risk_history", {}).pop(ctx.user_id, None)
        last = {
            "last_at": ctx.time, "last_ip": ip_info.ip, "last_latitude": ip_info.latitude,
            "last_longitude": ip_info.longitude,
            "last_accuracy_radius_km": ip_info.accuracy_radius_km,
            "last_country": ip_info.country, "last_city": ip_info.city,
            "last_trusted_location": assessment.trusted_location,
        }
        stmt = _insert(UserHistory).values(
            user_id=ctx.user_id, first_seen=ctx.time, successful_sign_ins=1, **last
        )
        # Workers finish sign-ins out of order: an older one must not replace the latest
        # place (travel is measured from it) nor leave a later first_seen.
        newer = stmt.excluded.last_at >= UserHistory.last_at
        keep_latest = {
            name: sa.case((newer, stmt.excluded[name]), else_=getattr(UserHistory, name))
            for name in last
        }
        earlier = stmt.excluded.first_seen < UserHistory.first_seen
        db.session.execute(stmt.on_conflict_do_update(
            index_elements=["user_id"],
            set_={**keep_latest,
                  "first_seen": sa.case((earlier, stmt.excluded.first_seen),
                                        else_=UserHistory.first_seen),
                  "successful_sign_ins": UserHistory.successful_sign_ins + 1},
        ))
        if assessment.features:
            rows = [{"user_id": ctx.user_id, "kind": kind, "value": value[:200],
                     "first_seen": ctx.time, "last_seen": ctx.time}
                    for kind, value in sorted(assessment.features)]
            stmt = _insert(UserFeature).values(rows)
            later = sa.or_(UserFeature.last_seen.is_(None),
                           stmt.excluded.last_seen > UserFeature.last_seen)
            db.session.execute(stmt.on_conflict_do_update(
                index_elements=["user_id", "kind", "value"],
                set_={"last_seen": sa.case((later, stmt.excluded.last_seen),
                                           else_=UserFeature.last_seen)},
            ))
        if assessment.novelty is not None:
            self._count_novelty(assessment.novelty.counter_names())
        if ip_info.country:
            db.session.execute(_insert(OrgCountry).values(
                country=ip_info.country, first_seen=ctx.time).on_conflict_do_nothing())
        db.session.commit()


    def _count_novelty(self, names: Iterable[str]) -> None:
        # Rows in one order in every transaction, so concurrent sign-ins cannot deadlock.
        rows = [{"name": name, "count": 1} for name in sorted(names)]
        stmt = _insert(NoveltyCount).values(rows)
        db.session.execute(stmt.on_conflict_do_update(
            index_elements=["name"], set_={"count": NoveltyCount.count + stmt.excluded.count},
        ))
        if self._novelty is not None:
            # This process sees its own sign-ins at once; others' within the cache time.
            at, counts = self._novelty
            self._novelty = (at, NoveltyCounts.summed(
                [*counts.counters.items(), *((r["name"], 1) for r in rows)]))
