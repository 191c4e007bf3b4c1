"""Writes the sign-in log: one row per authorization attempt, with its risk and policies."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import g

from risk.levels import Level
from risk.policy import Decision

from . import leansql
from .leansql import Lean
from .metrics import SIGN_INS
from .models import Account, SignIn, UserRisk, new_id
from .requestinfo import Browser
from .services import services

_SIGN_INS = SignIn.__table__
# Every column given (their defaults are Python's, which only SQLAlchemy's own execution
# would fill in).
_INSERT = Lean(sa.insert(_SIGN_INS), column_keys=[column.key for column in _SIGN_INS.columns])
_RISKS = UserRisk.__table__
# What `record` needs of the user's risk: read here, or given as its `user_risk`.
USER_RISK_COLUMNS = (_RISKS.c.risk_level, _RISKS.c.risk_state, _RISKS.c.risk_detail)
# Every attempt runs these, refused guesses included: Core statements, the read on the
# driver's cursor.
_USER_RISK = Lean(sa.select(*USER_RISK_COLUMNS).where(_RISKS.c.user_id == sa.bindparam("user_id")))


# `record`'s default: the user's risk is read.
READ = object()


def record(
    *,
    correlation_id: str,
    kind: str,
    outcome: str,
    user: Account | None,
    username: str | None,
    client_id: str | None,
    error_code: int | None = None,
    reason: str | None = None,
    risk: dict[str, Any] | None = None,
    decision: Decision | None = None,
    browser: Browser | None = None,
    user_risk: Any = READ,
) -> None:
    """Append one sign-in row and commit it (one Core INSERT: it runs on every attempt,
    refused guesses included). The browser is the request's unless given; the user's
    risk (risk_level, risk_state, risk_detail, or None for none) is read unless given."""
    browser = browser or Browser.of_request()
    row: dict[str, Any] = {
        "id": new_id(),
        "created_at": services().clock.now(),
        "correlation_id": correlation_id,
        "user_id": user.id if user else None,
        "username": (user.username if user else username or "")[:150],
        "client_id": client_id,
        "ip": browser.ip,
        "user_agent": browser.user_agent,
        "kind": kind,
        "outcome": outcome,
        "error_code": error_code,
        "reason": reason,
        "device_id": browser.device_id,
        "risk_state": "none",
        "risk_detail": "none",
        "risk_event_types": [],
        "not_evaluated": [],
        "policies": [],
        "country": None,
        "city": None,
        "latitude": None,
        "longitude": None,
        "asn": None,
    }
    during = Level.NONE
    if risk is not None:
        during = Level.parse(risk["level"])
        row.update(
            risk_event_types=list(risk["events"]),
            not_evaluated=[{"detector": d, "reason": r} for d, r in risk["not_evaluated"]],
            country=risk["country"],
            city=risk["city"],
            latitude=risk["lat"],
            longitude=risk["lon"],
            asn=risk["asn"],
        )
    row["risk_level_during_sign_in"] = row["risk_level_aggregated"] = during.value
    state = user_risk
    if state is READ:
        state = _USER_RISK.first({"user_id": user.id}) if user else None
    if state is not None:
        # Aggregated: the sign-in's risk and the user's, whichever is higher.
        row["risk_level_aggregated"] = max(during, Level.parse(state.risk_level)).value
        row["risk_state"], row["risk_detail"] = state.risk_state, state.risk_detail
    if decision is not None:
        row["policies"] = [
            {"displayName": r.policy, "result": r.result.value, "reason": r.reason}
            for r in decision.results
        ]
    _INSERT.execute(row)
    leansql.commit()
    # The request's log line says which attempt it was.
    g.log_fields = {
        "correlation_id": correlation_id,
        "client_id": client_id,
        "user_id": row["user_id"],
        "outcome": outcome,
        "error_code": error_code,
    }
    SIGN_INS.labels(kind, outcome, str(error_code or 0)).inc()
