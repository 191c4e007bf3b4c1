"""The admin API's resources as pydantic models with Graph's property names.

Each model is both how a response is serialized (`Resource.graph()`: Graph's camelCase
names, times as ISO 8601 in UTC with a Z) and, through `openapi`, the schema the OpenAPI
document declares for it. A class's docstring is its schema's description. The user
resource, whose claims follow `idp.claims`, is in `user_resources`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema
from pydantic.alias_generators import to_camel

from .vocabulary import (
    CONDITIONAL_ACCESS_STATUSES,
    DETAILS,
    EVENT_TYPES,
    LEVELS,
    OUTCOMES,
    POLICY_RESULTS,
    RECOMMENDATION_STATUSES,
    RESET_MODES,
    STATES,
)


def iso(value: datetime) -> str:
    """An aware datetime as Graph writes DateTimeOffset: ISO 8601 in UTC with a Z."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def one_of(*values: str) -> WithJsonSchema:
    """The schema of a string that takes one of `values`."""
    return WithJsonSchema({"type": "string", "enum": list(values)})


Time = Annotated[
    datetime,
    PlainSerializer(iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
# Kept as given (an int stays an int), so a coordinate reads back exactly as stored.
Coordinate = Annotated[float | int | None, WithJsonSchema({"type": "number", "nullable": True})]
Uri = Annotated[str, WithJsonSchema({"type": "string", "format": "uri"})]
LevelName = Annotated[str, one_of(*LEVELS)]
StateName = Annotated[str, one_of(*STATES)]
DetailName = Annotated[str, one_of(*DETAILS)]
EventTypeName = Annotated[str, one_of(*EVENT_TYPES)]


class Resource(BaseModel):
    """A JSON object of the admin API, named in Graph's camelCase."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def graph(self) -> dict[str, Any]:
        """The JSON object: Graph's names, only the properties that were given."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class Error(Resource):
    """Every error of the API, in the OAuth 2.0 shape the rest of the provider uses."""

    model_config = ConfigDict(alias_generator=None)

    error: str = Field(description="A short code such as invalid_request.")
    error_description: str = Field(description="What went wrong, safe to show.")


class GeoCoordinates(Resource):
    """Where on Earth, when the address is in the GeoIP database."""

    latitude: Coordinate
    longitude: Coordinate
    altitude: Coordinate


class SignInLocation(Resource):
    """Where a sign-in came from, by its IP address."""

    city: str | None
    state: str | None
    country_or_region: str | None = Field(description="ISO 3166 country code.")
    geo_coordinates: GeoCoordinates


class RiskyUser(Resource):
    """Graph's riskyUser."""

    id: str = Field(description="The user's id.")
    user_principal_name: str = Field(description="The user name.")
    user_display_name: str | None
    risk_level: LevelName
    risk_state: StateName
    risk_detail: DetailName
    risk_last_updated_date_time: Time
    is_deleted: bool
    is_processing: bool


class RiskUserActivity(Resource):
    """What raised or lowered the user's risk."""

    detail: DetailName
    risk_event_types: list[EventTypeName]


class RiskyUserHistoryItem(Resource):
    """Graph's riskyUserHistoryItem; riskLastUpdatedDateTime is when it happened."""

    id: str = Field(description="The history item's id.")
    user_id: str
    user_principal_name: str = Field(description="The user name.")
    user_display_name: str | None
    initiated_by: str = Field(description="`system`, `user`, or `client:<client_id>` ...")
    activity: RiskUserActivity
    risk_level: LevelName
    risk_state: StateName
    risk_detail: DetailName
    risk_last_updated_date_time: Time
    is_deleted: bool
    is_processing: bool
    action: str = Field(
        description="What changed the risk (ours), e.g. confirmedCompromised, "
        "dismissed, remediated, or a riskEventType."
    )
    note: str


class RiskDetection(Resource):
    """Graph's riskDetection."""

    id: str
    request_id: str | None
    correlation_id: str | None = Field(description="The sign-in's correlation id.")
    risk_event_type: EventTypeName
    risk_level: LevelName
    risk_state: StateName
    risk_detail: DetailName
    source: str = Field(description="realtime (a sign-in), token (refresh token reuse) or admin.")
    detection_timing_type: Annotated[str, one_of("realtime", "offline")]
    activity: Annotated[str, one_of("signin", "user")]
    token_issuer_type: Annotated[str, one_of("idp")]
    ip_address: str | None
    location: SignInLocation
    activity_date_time: Time
    detected_date_time: Time
    last_updated_date_time: Time
    user_id: str
    user_principal_name: str
    user_display_name: str | None
    additional_info: str = Field(
        description='The evidence as a JSON string of [{"Key": ..., "Value": ...}], as in Graph.'
    )
    description: str = Field(description="The evidence in plain words (ours).")


class SignInStatus(Resource):
    """How a sign-in ended: 0, or the error code it was refused or interrupted with."""

    error_code: int = Field(
        description="0 for success, else the Entra-style code (50126, 50076, 53004 ...)."
    )
    failure_reason: str | None
    additional_details: str | None


class AppliedConditionalAccessPolicy(Resource):
    """One policy's result on a sign-in."""

    id: str
    display_name: str = Field(
        description="mfaRegistrationPolicy, signInRiskPolicy or userRiskPolicy."
    )
    result: Annotated[str, one_of(*POLICY_RESULTS)]
    reason: str = Field(description="Why the policy gave this result (ours).")


class SignIn(Resource):
    """Graph's signIn; `outcome` (ours) says whether it ended in tokens, a challenge or a
    refusal."""

    id: str
    created_date_time: Time
    user_id: str | None
    user_principal_name: str | None
    user_display_name: str | None
    app_id: str | None = Field(description="The client_id.")
    ip_address: str | None
    user_agent: str | None
    location: SignInLocation
    correlation_id: str
    risk_level_during_sign_in: LevelName
    risk_level_aggregated: LevelName
    risk_state: StateName
    risk_detail: DetailName
    risk_event_types: list[str]
    risk_event_types_v2: list[str] = Field(alias="riskEventTypes_v2")
    status: SignInStatus
    conditional_access_status: Annotated[str, one_of(*CONDITIONAL_ACCESS_STATUSES)]
    applied_conditional_access_policies: list[AppliedConditionalAccessPolicy]
    outcome: Annotated[str, one_of(*OUTCOMES)]


class Recommendation(Resource):
    """A recommendation (vulnerability): completed when nothing is affected."""

    id: str = Field(
        description="Stable id: usersWithoutSecondFactor, "
        "adminsWithoutPhishingResistantFactor, "
        "adminsWithoutSecondFactor, policyNotEnforced, "
        "feedMissingOrStale, compromisedNotRemediated, "
        "clientSecretsNotRotated, trustedProxiesTooWide."
    )
    title: str = Field(description="What to do, in a line.")
    description: str = Field(description="Why it matters, with any counts.")
    impacted_count: int = Field(ge=0, description="How many users or objects it affects.")
    status: Annotated[str, one_of(*RECOMMENDATION_STATUSES)]
    action_url: Uri = Field(description="The dashboard page to act on it.")


class UserIds(Resource):
    """The users a riskyUser action applies to."""

    user_ids: list[str] = Field(min_length=1)


class ResetPassword(Resource):
    """How to reset a user's password."""

    mode: Annotated[str, one_of(*RESET_MODES)]


class TemporaryPassword(Resource):
    """A generated temporary password."""

    temporary_password: str = Field(description="Shown once; must be changed at sign-in.")


class RevokeResult(Resource):
    """Graph's answer to revokeSignInSessions."""

    value: bool
