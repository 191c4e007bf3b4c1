"""Rows of the database as the admin API's resources (Graph-shaped JSON objects).

Each function reads model rows into the matching pydantic model of `resources` or
`user_resources` and returns its JSON object (`Resource.graph()`).
"""

from __future__ import annotations

import json
from typing import Any

from ... import claims
from ...models import RiskDetection, RiskHistory, SignIn, User, UserRisk
from . import resources
from .user_resources import User as UserResource
from .vocabulary import EVENT_TYPES, GRAPH_USER_CLAIMS


def _location(city: Any, country: Any, latitude: Any, longitude: Any) -> resources.SignInLocation:
    return resources.SignInLocation(
        city=city,
        state=None,
        country_or_region=country,
        geo_coordinates=resources.GeoCoordinates(
            latitude=latitude, longitude=longitude, altitude=None
        ),
    )


def risky_user(user: User, risk: UserRisk) -> dict[str, Any]:
    """Graph's riskyUser."""
    return resources.RiskyUser(
        id=user.id,
        user_principal_name=user.username,
        user_display_name=user.display_name,
        risk_level=risk.risk_level,
        risk_state=risk.risk_state,
        risk_detail=risk.risk_detail,
        risk_last_updated_date_time=risk.updated_at,
        is_deleted=False,
        is_processing=False,
    ).graph()


def history_item(user: User, item: RiskHistory) -> dict[str, Any]:
    """Graph's riskyUserHistoryItem, plus what was done (`action`) and a `note`."""
    events = [item.activity] if item.activity in EVENT_TYPES else []
    return resources.RiskyUserHistoryItem(
        id=item.id,
        user_id=user.id,
        user_principal_name=user.username,
        user_display_name=user.display_name,
        initiated_by=item.initiated_by,
        activity=resources.RiskUserActivity(detail=item.risk_detail, risk_event_types=events),
        risk_level=item.risk_level,
        risk_state=item.risk_state,
        risk_detail=item.risk_detail,
        risk_last_updated_date_time=item.at,
        is_deleted=False,
        is_processing=False,
        action=item.activity,
        note=item.note,
    ).graph()


def risk_detection(row: RiskDetection, user: User) -> dict[str, Any]:
    """Graph's riskDetection, plus our plain-language `description` of the evidence."""
    where: dict[str, Any] = dict(row.location or {})
    coordinates = where.get("geoCoordinates")
    if not isinstance(coordinates, dict):
        coordinates = {}
    return resources.RiskDetection(
        id=row.id,
        request_id=row.correlation_id,
        correlation_id=row.correlation_id,
        risk_event_type=row.risk_event_type,
        risk_level=row.risk_level,
        risk_state=row.risk_state,
        risk_detail=row.risk_detail,
        source=row.source,
        detection_timing_type="offline" if row.source == "admin" else "realtime",
        activity="signin" if row.scope == "signIn" else "user",
        token_issuer_type="idp",
        ip_address=row.ip,
        location=_location(
            where.get("city"),
            where.get("countryOrRegion"),
            coordinates.get("latitude"),
            coordinates.get("longitude"),
        ),
        activity_date_time=row.detected_at,
        detected_date_time=row.detected_at,
        last_updated_date_time=row.last_updated_at,
        user_id=user.id,
        user_principal_name=user.username,
        user_display_name=user.display_name,
        # Graph's additionalInfo is a JSON string of Key/Value pairs.
        additional_info=json.dumps(
            [{"Key": key, "Value": value} for key, value in sorted((row.evidence or {}).items())],
            separators=(",", ":"),
            default=str,
        ),
        description=row.description,
    ).graph()


def _conditional_access_status(policies: list[dict[str, str]]) -> str:
    # Report-only results enforce nothing, so they never make a sign-in succeed or fail.
    results = {policy.get("result") for policy in policies}
    if "failure" in results:
        return "failure"
    if "success" in results:
        return "success"
    return "notApplied"


def sign_in(row: SignIn, user: User | None) -> dict[str, Any]:
    """Graph's signIn, plus our `outcome` (success, interrupted by a challenge, or failure)."""
    policies = list(row.policies or [])
    return resources.SignIn(
        id=row.id,
        created_date_time=row.created_at,
        user_id=row.user_id,
        user_principal_name=row.username,
        user_display_name=user.display_name if user is not None else None,
        app_id=row.client_id,
        ip_address=row.ip,
        user_agent=row.user_agent,
        location=_location(row.city, row.country, row.latitude, row.longitude),
        correlation_id=row.correlation_id,
        risk_level_during_sign_in=row.risk_level_during_sign_in,
        risk_level_aggregated=row.risk_level_aggregated,
        risk_state=row.risk_state,
        risk_detail=row.risk_detail,
        risk_event_types=list(row.risk_event_types or []),
        riskEventTypes_v2=list(row.risk_event_types or []),
        status=resources.SignInStatus(
            error_code=row.error_code or 0, failure_reason=row.reason, additional_details=None
        ),
        conditional_access_status=_conditional_access_status(policies),
        applied_conditional_access_policies=[
            resources.AppliedConditionalAccessPolicy(
                id=policy["displayName"],
                display_name=policy["displayName"],
                result=policy["result"],
                reason=policy["reason"],
            )
            for policy in policies
        ],
        outcome=row.outcome,
    ).graph()


def user_resource(user: User) -> dict[str, Any]:
    """Graph's user (the properties that apply), plus `claims`: every OpenID Connect claim
    the user has, by claim name."""
    values = claims.profile(user)
    address = values.get("address") or {}
    graph: dict[str, Any] = {}
    for prop, name in GRAPH_USER_CLAIMS.items():
        head, _, field = name.partition(".")
        graph[prop] = address.get(field) if field else values.get(head)
    return UserResource.model_validate(
        {
            "id": user.id,
            "userPrincipalName": user.username,
            **graph,
            "accountEnabled": not user.disabled,
            "createdDateTime": user.created_at,
            "claims": values,
        }
    ).graph()


def recommendation(resource: dict[str, Any]) -> dict[str, Any]:
    """A recommendation of `idp.posture` as the API shows it."""
    return resources.Recommendation.model_validate(resource).graph()
