"""User risk: detections stored with their evidence, the user's risk level from the active
ones, the riskyUser state machine with its history, remediation, and the detections raised
outside a sign-in's evaluation (a replayed refresh token, an admin, the user)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from risk.context import IpInfo
from risk.detections import Detection, anomalous_token
from risk.levels import Level
from risk.userrisk import StoredDetection, user_risk_level
from risk.vocabulary import ACTIVE_STATES, RiskDetail, RiskState, Scope

from .extensions import db
from .leansql import Lean
from .metrics import DETECTIONS
from .models import RiskDetection, RiskHistory, UserRisk
from .risk_engine import engine
from .services import services
from .sessions import clock_now

SYSTEM = "system"


def store_detections(
    user_id: str,
    correlation_id: str,
    detections: Iterable[Detection],
    ip_info: IpInfo | None,
    source: str = "realtime",
) -> list[RiskDetection]:
    """Persist detections with their evidence; the caller recomputes the user's risk."""
    at = clock_now()
    location = {}
    if ip_info is not None:
        location = {
            "city": ip_info.city,
            "countryOrRegion": ip_info.country,
            "geoCoordinates": {"latitude": ip_info.latitude, "longitude": ip_info.longitude},
        }
    rows = []
    for detection in detections:
        row = RiskDetection(
            user_id=user_id,
            correlation_id=correlation_id,
            risk_event_type=detection.risk_event_type.value,
            risk_level=detection.level.value,
            scope=detection.scope.value,
            risk_state=RiskState.AT_RISK.value,
            risk_detail=RiskDetail.NONE.value,
            detected_at=at,
            last_updated_at=at,
            ip=ip_info.ip if ip_info else None,
            location=location,
            evidence=dict(detection.evidence_dict),
            description=detection.describe(),
            source=source,
        )
        db.session.add(row)
        rows.append(row)
    db.session.commit()
    for row in rows:
        DETECTIONS.labels(row.risk_event_type).inc()
    return rows


def _stored(row: Any) -> StoredDetection:
    """A row of _ACTIVE_DETECTIONS."""
    return StoredDetection(
        risk_event_type=row.risk_event_type,
        level=Level.parse(row.risk_level),
        scope=Scope(row.scope),
        state=RiskState(row.risk_state),
        detected_at=row.detected_at,
        risk_detail=RiskDetail(row.risk_detail),
    )


# Every sign-in's policies read it: on the driver's cursor, the few columns it needs.
_DETECTIONS = RiskDetection.__table__
_ACTIVE_DETECTIONS = Lean(
    sa.select(
        *(
            _DETECTIONS.c[name]
            for name in (
                "risk_event_type",
                "risk_level",
                "scope",
                "risk_state",
                "detected_at",
                "risk_detail",
            )
        )
    ).where(
        _DETECTIONS.c.user_id == sa.bindparam("user_id"),
        sa.or_(*(_DETECTIONS.c.risk_state == state.value for state in ACTIVE_STATES)),
    )
)


def current_level(user_id: str) -> Level:
    """The user's current risk level, from the active detections."""
    rows = _ACTIVE_DETECTIONS.rows({"user_id": user_id})
    return user_risk_level((_stored(r) for r in rows), clock_now(), engine().settings)


def _next_state(current: str, level: Level, requested: RiskState | None) -> str:
    """The riskyUser state after a change: explicit if given, else follows the level."""
    if requested is not None:
        return requested.value
    if level is not Level.NONE:
        keep = current == RiskState.CONFIRMED_COMPROMISED.value
        return current if keep else RiskState.AT_RISK.value
    if current in (RiskState.AT_RISK.value, RiskState.CONFIRMED_COMPROMISED.value):
        return RiskState.REMEDIATED.value
    return current


def recompute(
    user_id: str,
    *,
    initiated_by: str = SYSTEM,
    activity: str = "riskUpdated",
    detail: RiskDetail = RiskDetail.NONE,
    state: RiskState | None = None,
    note: str = "",
) -> UserRisk:
    """Refresh the user's riskyUser row and append a history item when anything changed."""
    level = current_level(user_id)
    row = db.session.get(UserRisk, user_id)
    if row is None:
        row = UserRisk(
            user_id=user_id,
            risk_level="none",
            risk_state="none",
            risk_detail="none",
            updated_at=clock_now(),
        )
        db.session.add(row)
    new_state = _next_state(row.risk_state, level, state)
    previous = Level.parse(row.risk_level)
    changed = (row.risk_level, row.risk_state, row.risk_detail) != (
        level.value,
        new_state,
        detail.value,
    )
    if changed:
        row.risk_level, row.risk_state, row.risk_detail = level.value, new_state, detail.value
        row.updated_at = clock_now()
        db.session.add(
            RiskHistory(
                user_id=user_id,
                at=row.updated_at,
                initiated_by=initiated_by,
                activity=activity,
                risk_level=level.value,
                risk_state=new_state,
                risk_detail=detail.value,
                note=note,
            )
        )
    db.session.commit()
    if level > previous:
        hook = services().on_user_risk_raised
        if hook is not None:
            hook(user_id, previous, level)
    return row


def close_detections(
    user_id: str,
    *,
    state: RiskState,
    detail: RiskDetail,
    correlation_id: str | None = None,
    scope: Scope | None = None,
) -> int:
    """Move a user's active detections (optionally one sign-in's, or one scope) to `state`."""
    stmt = sa.update(RiskDetection).where(
        RiskDetection.user_id == user_id,
        RiskDetection.risk_state.in_([s.value for s in ACTIVE_STATES]),
    )
    if correlation_id is not None:
        stmt = stmt.where(RiskDetection.correlation_id == correlation_id)
    if scope is not None:
        stmt = stmt.where(RiskDetection.scope == scope.value)
    result = db.session.execute(
        stmt.values(risk_state=state.value, risk_detail=detail.value, last_updated_at=clock_now())
    )
    db.session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def remediate(
    user_id: str, detail: RiskDetail, *, initiated_by: str, correlation_id: str | None = None
) -> UserRisk:
    """Remediate detections (all of the user's, or one sign-in's) and refresh user risk."""
    close_detections(
        user_id, state=RiskState.REMEDIATED, detail=detail, correlation_id=correlation_id
    )
    state = RiskState.REMEDIATED if correlation_id is None else None
    return recompute(
        user_id, initiated_by=initiated_by, activity="remediated", detail=detail, state=state
    )


def raise_user_detection(
    user_id: str,
    detection: Detection,
    *,
    correlation_id: str,
    initiated_by: str = SYSTEM,
    ip_info: IpInfo | None = None,
    source: str = "realtime",
) -> None:
    """Store a user-level detection raised outside an evaluation (token replay, admin)."""
    store_detections(user_id, correlation_id, [detection], ip_info, source=source)
    recompute(user_id, initiated_by=initiated_by, activity=detection.risk_event_type.value)


def on_refresh_token_reuse(token: Any) -> None:
    """A rotated refresh token came back: someone holds a stolen copy (anomalousToken)."""
    raise_user_detection(
        token.user_id,
        anomalous_token(client_id=token.client_id, token_family=token.grant_id or ""),
        correlation_id=str(uuid.uuid4()),
        source="token",
    )
