"""The OpenAPI 3.0 document of the admin API (served at /api/v1/openapi.json).

Built from the same vocabulary and filter tables the views use, so an enum or a filterable
property cannot be added to one and forgotten in the other; the schemathesis test checks that
every response matches it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from risk.policy import Result

from .claims import ADDRESS_FIELDS, CLAIMS, SETTABLE
from .views.api import (
    DETAILS,
    EVENT_TYPES,
    GRAPH_USER_CLAIMS,
    LEVELS,
    MAX_TOP,
    RESET_MODES,
    RISK_DETECTIONS,
    RISKY_USERS,
    SIGN_INS,
    STATES,
    USER_ACTIONS,
    Listing,
)

DESCRIPTION = f"""\
Identity Protection for this provider, shaped like Microsoft Graph: `riskyUser`,
`riskyUserHistoryItem`, `riskDetection` and `signIn` keep Graph's property names, so a script
written for Graph ports by changing its base URL.

**Authentication.** Every operation except this document takes
`Authorization: Bearer <token>`, a token from the client credentials grant of a client
registered with scope `idp.admin`. No token, or an unknown, expired or revoked one: 401. A
valid token without `idp.admin`, or a token issued to a user: 403. Both carry
`WWW-Authenticate: Bearer`. Admin actions are recorded in the user's risk history with
`initiatedBy` = `client:<client_id>`.

**Errors.** Every error body, of every status, is
`{{"error": "<code>", "error_description": "<text>"}}` (the OAuth 2.0 shape the rest of the
provider uses): `invalid_request` (400), `invalid_token` / `missing_authorization` /
`unsupported_token_type` (401), `insufficient_scope` (403), `not_found` (404),
`method_not_allowed` (405), `server_error` (500).

**Lists** return `{{"value": [...]}}`, newest first. `$top` (1 to {MAX_TOP}, default 100)
sets the page size; when more rows follow, `@odata.nextLink` is the URL of the next page
(with an opaque `$skiptoken`).

**Filters.** Two equivalent forms, combined with AND:
* plain parameters: `?riskLevel=high&riskState=atRisk`; a parameter given twice matches
  either value; `since` (inclusive) and `until` (exclusive) bound the list's time property;
* an OData `$filter` subset: `property op value` clauses joined by `and`, `op` one of
  `eq ne gt ge lt le` (text and enum properties: `eq` and `ne` only), strings in single
  quotes (`''` for a quote), times unquoted or quoted ISO 8601:
  `$filter=riskLevel eq 'high' and riskLastUpdatedDateTime ge 2026-03-01T00:00:00Z`.
An unknown property, operator, parameter or enum value is a 400, never silently ignored.

**Export.** `/export/signIns.jsonl` and `/export/riskDetections.jsonl` stream every row
oldest first as JSON lines (`application/x-ndjson`), one Graph-shaped object a line,
optionally from `since`.
"""

ERROR = {"$ref": "#/components/schemas/Error"}


def _string(nullable: bool = False, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", **extra}
    if nullable:
        schema["nullable"] = True
    return schema


def _enum(values: tuple[str, ...] | list[str]) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def _time(nullable: bool = False) -> dict[str, Any]:
    return _string(nullable, format="date-time")


def _object(properties: dict[str, Any], description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "required": list(properties),
        "properties": properties,
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    return schema


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _number() -> dict[str, Any]:
    return {"type": "number", "nullable": True}


RISKY_USER_PROPERTIES: dict[str, Any] = {
    "id": _string(description="The user's id."),
    "userPrincipalName": _string(description="The user name."),
    "userDisplayName": _string(True),
    "riskLevel": _enum(LEVELS),
    "riskState": _enum(STATES),
    "riskDetail": _enum(DETAILS),
    "riskLastUpdatedDateTime": _time(),
    "isDeleted": {"type": "boolean"},
    "isProcessing": {"type": "boolean"},
}

SCHEMAS: dict[str, Any] = {
    "Error": _object({
        "error": _string(description="A short code such as invalid_request."),
        "error_description": _string(description="What went wrong, safe to show."),
    }),
    "GeoCoordinates": _object({
        "latitude": _number(), "longitude": _number(), "altitude": _number(),
    }),
    "SignInLocation": _object({
        "city": _string(True),
        "state": _string(True),
        "countryOrRegion": _string(True, description="ISO 3166 country code."),
        "geoCoordinates": _ref("GeoCoordinates"),
    }),
    "RiskyUser": _object(RISKY_USER_PROPERTIES, "Graph's riskyUser."),
    "RiskUserActivity": _object({
        "detail": _enum(DETAILS),
        "riskEventTypes": {"type": "array", "items": _enum(EVENT_TYPES)},
    }),
    "RiskyUserHistoryItem": _object({
        **RISKY_USER_PROPERTIES,
        "id": _string(description="The history item's id."),
        "userId": _string(),
        "initiatedBy": _string(description="`system`, `user`, or `client:<client_id>` ..."),
        "activity": _ref("RiskUserActivity"),
        "action": _string(description="What changed the risk (ours), e.g. confirmedCompromised, "
                                       "dismissed, remediated, or a riskEventType."),
        "note": _string(),
    }, "Graph's riskyUserHistoryItem; riskLastUpdatedDateTime is when it happened."),
    "RiskDetection": _object({
        "id": _string(),
        "requestId": _string(True),
        "correlationId": _string(True, description="The sign-in's correlation id."),
        "riskEventType": _enum(EVENT_TYPES),
        "riskLevel": _enum(LEVELS),
        "riskState": _enum(STATES),
        "riskDetail": _enum(DETAILS),
        "source": _string(description="realtime (a sign-in), token (refresh token reuse) or "
                                       "admin."),
        "detectionTimingType": _enum(["realtime", "offline"]),
        "activity": _enum(["signin", "user"]),
        "tokenIssuerType": _enum(["idp"]),
        "ipAddress": _string(True),
        "location": _ref("SignInLocation"),
        "activityDateTime": _time(),
        "detectedDateTime": _time(),
        "lastUpdatedDateTime": _time(),
        "userId": _string(),
        "userPrincipalName": _string(),
        "userDisplayName": _string(True),
        "additionalInfo": _string(description='The evidence as a JSON string of '
                                               '[{"Key": ..., "Value": ...}], as in Graph.'),
        "description": _string(description="The evidence in plain words (ours)."),
    }, "Graph's riskDetection."),
    "SignInStatus": _object({
        "errorCode": {"type": "integer", "description": "0 for success, else the Entra-style "
                                                        "code (50126, 50076, 53004 ...)."},
        "failureReason": _string(True),
        "additionalDetails": _string(True),
    }),
    "AppliedConditionalAccessPolicy": _object({
        "id": _string(),
        "displayName": _string(description="mfaRegistrationPolicy, signInRiskPolicy or "
                                            "userRiskPolicy."),
        "result": _enum([result.value for result in Result]),
        "reason": _string(description="Why the policy gave this result (ours)."),
    }),
    "SignIn": _object({
        "id": _string(),
        "createdDateTime": _time(),
        "userId": _string(True),
        "userPrincipalName": _string(True),
        "userDisplayName": _string(True),
        "appId": _string(True, description="The client_id."),
        "ipAddress": _string(True),
        "userAgent": _string(True),
        "location": _ref("SignInLocation"),
        "correlationId": _string(),
        "riskLevelDuringSignIn": _enum(LEVELS),
        "riskLevelAggregated": _enum(LEVELS),
        "riskState": _enum(STATES),
        "riskDetail": _enum(DETAILS),
        "riskEventTypes": {"type": "array", "items": _string()},
        "riskEventTypes_v2": {"type": "array", "items": _string()},
        "status": _ref("SignInStatus"),
        "conditionalAccessStatus": _enum(["success", "failure", "notApplied"]),
        "appliedConditionalAccessPolicies": {
            "type": "array", "items": _ref("AppliedConditionalAccessPolicy")},
        "outcome": _enum(["success", "interrupted", "failure"]),
    }, "Graph's signIn; `outcome` (ours) says whether it ended in tokens, a challenge or a "
       "refusal."),
    "UserIds": _object({
        "userIds": {"type": "array", "minItems": 1, "items": _string()},
    }),
    "ResetPassword": _object({"mode": _enum(RESET_MODES)}),
    "TemporaryPassword": _object({
        "temporaryPassword": _string(description="Shown once; must be changed at sign-in."),
    }),
    "RevokeResult": _object({"value": {"type": "boolean"}}),
    "Recommendation": _object({
        "id": _string(description="Stable id: usersWithoutSecondFactor, "
                                  "adminsWithoutPhishingResistantFactor, "
                                  "adminsWithoutSecondFactor, policyNotEnforced, "
                                  "feedMissingOrStale, compromisedNotRemediated, "
                                  "clientSecretsNotRotated, trustedProxiesTooWide."),
        "title": _string(description="What to do, in a line."),
        "description": _string(description="Why it matters, with any counts."),
        "impactedCount": {"type": "integer", "minimum": 0,
                          "description": "How many users or objects it affects."},
        "status": _enum(["active", "completed"]),
        "actionUrl": _string(format="uri", description="The dashboard page to act on it."),
    }, "A recommendation (vulnerability): completed when nothing is affected."),
}


def _claim_schema(name: str, nullable: bool) -> dict[str, Any]:
    claim = CLAIMS[name]
    if name in ("email_verified", "phone_number_verified"):
        schema: dict[str, Any] = {"type": "boolean"}
    elif name == "updated_at":
        schema = {"type": "integer"}
    elif name == "groups":
        schema = {"type": "array", "items": _string()}
    elif name == "address":
        schema = {"type": "object", "additionalProperties": False,
                  "properties": {field: _string(nullable) for field in ADDRESS_FIELDS}}
    else:
        schema = _string()
    if nullable:
        schema["nullable"] = True
    schema["description"] = f"Scope {claim.scope}. {claim.description}"
    return schema


def _profile_schemas() -> None:
    """User, UserUpdate and their claims (one property per claim of idp.claims)."""
    shown = [name for name in CLAIMS if name != "groups"]
    SCHEMAS["UserClaims"] = {
        "type": "object", "additionalProperties": False,
        "description": "Every OpenID Connect standard claim the user has a value for.",
        "properties": {name: _claim_schema(name, False) for name in shown}}
    SCHEMAS["UserClaimsUpdate"] = {
        "type": "object", "additionalProperties": False,
        "description": "Claims to set by their OpenID Connect names; null removes one. "
                       "address replaces the whole address.",
        "properties": {name: _claim_schema(name, True) for name in SETTABLE}}
    graph = {prop: _string(True, description=f"The {claim} claim.")
             for prop, claim in GRAPH_USER_CLAIMS.items()}
    SCHEMAS["User"] = _object({
        "id": _string(),
        "userPrincipalName": _string(description="The user name (preferred_username)."),
        **graph,
        "accountEnabled": {"type": "boolean"},
        "createdDateTime": _time(),
        "claims": _ref("UserClaims"),
    }, "Graph's user (the properties that apply here), with `claims`.")
    SCHEMAS["UserUpdate"] = {
        "type": "object", "additionalProperties": False,
        "description": "Graph names for the claims Graph has, `claims` for any settable one; "
                       "null removes a value. A claim may be named once. Every value is "
                       "checked (URLs absolute http(s), birthdate YYYY-MM-DD, YYYY or "
                       "0000-MM-DD, zoneinfo an IANA zone, locale a BCP 47 tag, phone numbers "
                       "E.164, text without control characters) and nothing changes unless "
                       "all are valid. updated_at moves to now.",
        "properties": {**graph, "claims": _ref("UserClaimsUpdate")}}


_profile_schemas()


def _collection(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["value"],
        "properties": {
            "value": {"type": "array", "items": _ref(item)},
            "@odata.nextLink": _string(format="uri", description="The next page, when there "
                                                                  "is one."),
        },
        "additionalProperties": False,
    }


SCHEMAS["RecommendationCollection"] = {
    "type": "object", "required": ["value"], "additionalProperties": False,
    "properties": {"value": {"type": "array", "items": _ref("Recommendation")}},
}

for _name in ("RiskyUser", "RiskyUserHistoryItem", "RiskDetection", "SignIn"):
    SCHEMAS[f"{_name}Collection"] = _collection(_name)


def _error(description: str, challenge: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ERROR}},
    }
    if challenge:
        response["headers"] = {"WWW-Authenticate": {
            "required": True, "schema": {"type": "string"},
            "description": 'Bearer realm="idp", scope="idp.admin" ...'}}
    return response


def _json(schema: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


AUTH_ERRORS = {
    "401": _error("No bearer token, or an unknown, expired or revoked one.", challenge=True),
    "403": _error("The token lacks idp.admin or belongs to a user.", challenge=True),
}


def _operation(operation_id: str, summary: str, responses: dict[str, Any], *,
               parameters: list[Any] | None = None, body: str | None = None,
               tag: str = "identityProtection") -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "responses": {**responses, **AUTH_ERRORS},
    }
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": _ref(body)}}}
    return op


def _query(name: str, schema: dict[str, Any], description: str,
           explode: bool = False) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": "query", "required": False,
                             "schema": schema, "description": description}
    if explode:
        param.update(style="form", explode=True)
    return param


def _path(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"},
            "description": description}


def _list_parameters(listing: Listing) -> list[dict[str, Any]]:
    names = ", ".join(f"`{n}`" for n in listing.fields)
    params = [
        _query("$filter", {"type": "string"},
               f"OData subset (see the API description); filterable: {names}."),
        _query("$top", {"type": "integer", "minimum": 1, "maximum": MAX_TOP},
               "Page size, default 100."),
        _query("$skiptoken", {"type": "string"}, "From @odata.nextLink; opaque."),
        _query("since", _time(), f"{listing.time_field} at or after this time."),
        _query("until", _time(), f"{listing.time_field} before this time."),
    ]
    for name, field in listing.fields.items():
        if field.kind == "enum":
            params.append(_query(name, {"type": "array", "items": _enum(field.values)},
                                 f"Only rows whose {name} is one of these.", explode=True))
        elif field.kind != "time":
            # Any string is a well-formed id or name, so a query string cannot carry a wrong
            # type for these; they are declared as one string, and repeating one matches any.
            params.append(_query(name, {"type": "integer" if field.kind == "int" else "string"},
                                 f"Only rows whose {name} is this (repeat for any of several)."))
    return params


USER_ACTION_SUMMARIES = {
    "dismiss": "Dismiss all risk of users",
    "confirmCompromised": "Confirm users compromised",
    "confirmSafe": "Confirm users safe",
}
DETECTION_ACTION_SUMMARIES = {
    "resolve": "Resolve a detection",
    "falsePositive": "Mark a detection false positive",
    "ignore": "Ignore a detection",
    "reactivate": "Reactivate a detection",
}
BAD_REQUEST = {"400": _error("A malformed parameter or body; the description says which.")}
NOT_FOUND = {"404": _error("No such user or detection.")}
NO_CONTENT = {"204": {"description": "Done."}}
USER_ID = _path("id", "The user's id.")


def _paths() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/identityProtection/riskyUsers": {"get": _operation(
            "listRiskyUsers", "List risky users",
            {"200": _json("RiskyUserCollection"), **BAD_REQUEST},
            parameters=_list_parameters(RISKY_USERS))},
        "/identityProtection/riskyUsers/{id}": {"get": _operation(
            "getRiskyUser", "Get a risky user", {"200": _json("RiskyUser"), **NOT_FOUND},
            parameters=[USER_ID])},
        "/identityProtection/riskyUsers/{id}/history": {"get": _operation(
            "listRiskyUserHistory", "List a risky user's history",
            {"200": _json("RiskyUserHistoryItemCollection"), **BAD_REQUEST, **NOT_FOUND},
            parameters=[USER_ID,
                        _query("$top", {"type": "integer", "minimum": 1, "maximum": MAX_TOP},
                               "Page size, default 100."),
                        _query("$skiptoken", {"type": "string"},
                               "From @odata.nextLink; opaque.")])},
        "/identityProtection/riskDetections": {"get": _operation(
            "listRiskDetections", "List risk detections",
            {"200": _json("RiskDetectionCollection"), **BAD_REQUEST},
            parameters=_list_parameters(RISK_DETECTIONS))},
        "/identityProtection/riskDetections/{id}": {"get": _operation(
            "getRiskDetection", "Get a risk detection",
            {"200": _json("RiskDetection"), **NOT_FOUND},
            parameters=[_path("id", "The detection's id.")])},
        "/identityProtection/recommendations": {"get": _operation(
            "listRecommendations", "List recommendations",
            {"200": _json("RecommendationCollection", "Every recommendation, active ones "
                                                      "first."),
             **BAD_REQUEST})},
        "/auditLogs/signIns": {"get": _operation(
            "listSignIns", "List sign-ins", {"200": _json("SignInCollection"), **BAD_REQUEST},
            parameters=_list_parameters(SIGN_INS), tag="auditLogs")},
        "/users/{id}": {
            "get": _operation("getUser", "Get a user with their profile claims",
                              {"200": _json("User"), **NOT_FOUND},
                              parameters=[USER_ID], tag="users"),
            "patch": _operation(
                "updateUser", "Set or remove a user's profile claims",
                {"200": _json("User", "The user as changed."),
                 "400": _error("A malformed body, an unknown or read-only property, or an "
                               "invalid value (the description names it); nothing changed."),
                 **NOT_FOUND},
                parameters=[USER_ID], body="UserUpdate", tag="users")},
        "/users/{id}/resetPassword": {"post": _operation(
            "resetPassword", "Reset a user's password",
            {"200": _json("TemporaryPassword", "mode temporaryPassword: the new password, "
                                               "shown once; sessions are revoked and the "
                                               "user's risk remediated."),
             "204": {"description": "mode requireReset: the user must pass TOTP and choose a "
                                    "new password at the next sign-in."},
             "400": _error("A malformed body, or requireReset for a user without TOTP."),
             **NOT_FOUND},
            parameters=[USER_ID], body="ResetPassword", tag="users")},
        "/users/{id}/revokeSignInSessions": {"post": _operation(
            "revokeSignInSessions", "Revoke a user's sign-in sessions",
            {"200": _json("RevokeResult", "Every session and refresh token is revoked."),
             **NOT_FOUND},
            parameters=[USER_ID], tag="users")},
    }
    for action in USER_ACTIONS:
        summary = USER_ACTION_SUMMARIES[action]
        paths[f"/identityProtection/riskyUsers/{action}"] = {"post": _operation(
            f"{action}RiskyUsers", summary, {**NO_CONTENT, "400": _error(
                "A malformed body or an unknown user id; nothing was changed.")},
            body="UserIds")}
    for action, summary in DETECTION_ACTION_SUMMARIES.items():
        paths[f"/identityProtection/riskDetections/{{id}}/{action}"] = {"post": _operation(
            f"{action}RiskDetection", summary, {**NO_CONTENT, "400": _error(
                "The action does not apply (e.g. the detection is not active, or the user's "
                "own remediation closed it)."), **NOT_FOUND},
            parameters=[_path("id", "The detection's id.")])}
    for name, schema in (("signIns", "SignIn"), ("riskDetections", "RiskDetection")):
        paths[f"/export/{name}.jsonl"] = {"get": _operation(
            f"export{name[0].upper()}{name[1:]}", f"Export {name} as JSON lines",
            {"200": {"description": f"One {schema} object a line, oldest first.",
                     "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
             **BAD_REQUEST},
            parameters=[_query("since", _time(), "Rows at or after this time.")],
            tag="export")}
    paths["/openapi.json"] = {"get": {
        "summary": "This document", "tags": ["meta"], "operationId": "getOpenApi",
        "security": [],
        "responses": {"200": {"description": "OpenAPI 3.0",
                              "content": {"application/json": {"schema": {"type": "object"}}}}},
    }}
    return paths


@cache
def document() -> dict[str, Any]:
    """The OpenAPI document."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "idp admin API", "version": "1.0.0", "description": DESCRIPTION},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "tags": [{"name": "identityProtection"}, {"name": "auditLogs"}, {"name": "users"},
                 {"name": "export"}, {"name": "meta"}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "A client-credentials access token with scope idp.admin."}},
            "schemas": SCHEMAS,
        },
    }
