"""The admin API's lists on the SQL side: each list's filterable columns and keyset order.

A `Listing` names, for one list endpoint, the column behind every filterable property, the
property `since`/`until` bound, and the (time, id) keyset the list is ordered and paged by.
`where` turns `odata.Condition`s into SQL conditions for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ...models import RiskDetection, RiskHistory, SignIn, User, UserRisk
from .odata import Condition, Property
from .vocabulary import DETAILS, EVENT_TYPES, LEVELS, STATES

TEXT = Property()
INT = Property("int")
TIME = Property("time")
LEVEL = Property("enum", LEVELS)
STATE = Property("enum", STATES)
DETAIL = Property("enum", DETAILS)
EVENT_TYPE = Property("enum", EVENT_TYPES)

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": lambda c, v: c == v,
    "ne": lambda c, v: c != v,
    "gt": lambda c, v: c > v,
    "ge": lambda c, v: c >= v,
    "lt": lambda c, v: c < v,
    "le": lambda c, v: c <= v,
    "in": lambda c, v: c.in_(v),
}


@dataclass(frozen=True)
class Listing:
    """A list endpoint: its filterable properties with their columns, and its keyset order."""

    fields: Mapping[str, tuple[Any, Property]]
    time_field: str
    order_time: Any
    order_id: Any
    properties: Mapping[str, Property] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "properties", {name: prop for name, (_, prop) in self.fields.items()}
        )

    def where(self, conditions: list[Condition]) -> list[Any]:
        """SQL conditions for parsed query conditions on this list's properties."""
        return [_COMPARE[c.op](self.fields[c.name][0], c.value) for c in conditions]


RISKY_USERS = Listing(
    fields={
        "id": (UserRisk.user_id, TEXT),
        "userPrincipalName": (User.username, TEXT),
        "riskLevel": (UserRisk.risk_level, LEVEL),
        "riskState": (UserRisk.risk_state, STATE),
        "riskDetail": (UserRisk.risk_detail, DETAIL),
        "riskLastUpdatedDateTime": (UserRisk.updated_at, TIME),
    },
    time_field="riskLastUpdatedDateTime",
    order_time=UserRisk.updated_at,
    order_id=UserRisk.user_id,
)

HISTORY = Listing(
    fields={},
    time_field="riskLastUpdatedDateTime",
    order_time=RiskHistory.at,
    order_id=RiskHistory.id,
)

RISK_DETECTIONS = Listing(
    fields={
        "id": (RiskDetection.id, TEXT),
        "userId": (RiskDetection.user_id, TEXT),
        "userPrincipalName": (User.username, TEXT),
        "correlationId": (RiskDetection.correlation_id, TEXT),
        "requestId": (RiskDetection.correlation_id, TEXT),
        "ipAddress": (RiskDetection.ip, TEXT),
        "source": (RiskDetection.source, TEXT),
        "riskEventType": (RiskDetection.risk_event_type, EVENT_TYPE),
        "riskLevel": (RiskDetection.risk_level, LEVEL),
        "riskState": (RiskDetection.risk_state, STATE),
        "riskDetail": (RiskDetection.risk_detail, DETAIL),
        "detectedDateTime": (RiskDetection.detected_at, TIME),
        "activityDateTime": (RiskDetection.detected_at, TIME),
        "lastUpdatedDateTime": (RiskDetection.last_updated_at, TIME),
    },
    time_field="detectedDateTime",
    order_time=RiskDetection.detected_at,
    order_id=RiskDetection.id,
)

SIGN_INS = Listing(
    fields={
        "id": (SignIn.id, TEXT),
        "userId": (SignIn.user_id, TEXT),
        "userPrincipalName": (SignIn.username, TEXT),
        "appId": (SignIn.client_id, TEXT),
        "correlationId": (SignIn.correlation_id, TEXT),
        "ipAddress": (SignIn.ip, TEXT),
        "riskLevelDuringSignIn": (SignIn.risk_level_during_sign_in, LEVEL),
        # Graph has no riskLevel on a sign-in; scripts that say it mean the sign-in's own risk.
        "riskLevel": (SignIn.risk_level_during_sign_in, LEVEL),
        "riskLevelAggregated": (SignIn.risk_level_aggregated, LEVEL),
        "riskState": (SignIn.risk_state, STATE),
        "riskDetail": (SignIn.risk_detail, DETAIL),
        # A success is logged without a code; Graph reports it as errorCode 0.
        "status/errorCode": (sa.func.coalesce(SignIn.error_code, 0), INT),
        "createdDateTime": (SignIn.created_at, TIME),
    },
    time_field="createdDateTime",
    order_time=SignIn.created_at,
    order_id=SignIn.id,
)
