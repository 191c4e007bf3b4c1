"""The OpenAPI 3.0 document of the admin API, served at /api/v1/openapi.json.

The schemas come from the resource models (`schemas`), the query parameters of each list
from its `listing`, the enums from `vocabulary`; what is written here is the operations
themselves: paths, summaries, parameters and the responses each may give. The schemathesis
test checks every response against this document.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from flask import Response, jsonify

from .blueprint import bp
from .listing import RISK_DETECTIONS, RISKY_USERS, SIGN_INS, Listing
from .schemas import component_schemas, ref
from .vocabulary import DETECTION_ACTIONS, MAX_TOP, USER_ACTIONS

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

ERROR = ref("Error")
TIME = {"type": "string", "format": "date-time"}


def _error(description: str, challenge: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ERROR}},
    }
    if challenge:
        response["headers"] = {
            "WWW-Authenticate": {
                "required": True,
                "schema": {"type": "string"},
                "description": 'Bearer realm="idp", scope="idp.admin" ...',
            }
        }
    return response


def _json(schema: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}


AUTH_ERRORS = {
    "401": _error("No bearer token, or an unknown, expired or revoked one.", challenge=True),
    "403": _error("The token lacks idp.admin or belongs to a user.", challenge=True),
}
BAD_REQUEST = {"400": _error("A malformed parameter or body; the description says which.")}
NOT_FOUND = {"404": _error("No such user or detection.")}
NO_CONTENT = {"204": {"description": "Done."}}


def _operation(
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    *,
    parameters: list[Any] | None = None,
    body: str | None = None,
    tag: str = "identityProtection",
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "responses": {**responses, **AUTH_ERRORS},
    }
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(body)}},
        }
    return op


def _query(
    name: str, schema: dict[str, Any], description: str, explode: bool = False
) -> dict[str, Any]:
    param: dict[str, Any] = {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }
    if explode:
        param.update(style="form", explode=True)
    return param


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }


USER_ID = _path("id", "The user's id.")
DETECTION_ID = _path("id", "The detection's id.")
TOP = _query(
    "$top", {"type": "integer", "minimum": 1, "maximum": MAX_TOP}, "Page size, default 100."
)
SKIPTOKEN = _query("$skiptoken", {"type": "string"}, "From @odata.nextLink; opaque.")


def _list_parameters(listing: Listing) -> list[dict[str, Any]]:
    names = ", ".join(f"`{n}`" for n in listing.fields)
    params = [
        _query(
            "$filter",
            {"type": "string"},
            f"OData subset (see the API description); filterable: {names}.",
        ),
        TOP,
        SKIPTOKEN,
        _query("since", TIME, f"{listing.time_field} at or after this time."),
        _query("until", TIME, f"{listing.time_field} before this time."),
    ]
    for name, prop in listing.properties.items():
        if prop.kind == "enum":
            params.append(
                _query(
                    name,
                    {"type": "array", "items": {"type": "string", "enum": list(prop.values)}},
                    f"Only rows whose {name} is one of these.",
                    explode=True,
                )
            )
        elif prop.kind != "time":
            # Any string is a well-formed id or name, so a query string cannot carry a wrong
            # type for these; they are declared as one string, and repeating one matches any.
            params.append(
                _query(
                    name,
                    {"type": "integer" if prop.kind == "int" else "string"},
                    f"Only rows whose {name} is this (repeat for any of several).",
                )
            )
    return params


def _identity_protection() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/identityProtection/riskyUsers": {
            "get": _operation(
                "listRiskyUsers",
                "List risky users",
                {"200": _json("RiskyUserCollection"), **BAD_REQUEST},
                parameters=_list_parameters(RISKY_USERS),
            )
        },
        "/identityProtection/riskyUsers/{id}": {
            "get": _operation(
                "getRiskyUser",
                "Get a risky user",
                {"200": _json("RiskyUser"), **NOT_FOUND},
                parameters=[USER_ID],
            )
        },
        "/identityProtection/riskyUsers/{id}/history": {
            "get": _operation(
                "listRiskyUserHistory",
                "List a risky user's history",
                {"200": _json("RiskyUserHistoryItemCollection"), **BAD_REQUEST, **NOT_FOUND},
                parameters=[USER_ID, TOP, SKIPTOKEN],
            )
        },
        "/identityProtection/riskDetections": {
            "get": _operation(
                "listRiskDetections",
                "List risk detections",
                {"200": _json("RiskDetectionCollection"), **BAD_REQUEST},
                parameters=_list_parameters(RISK_DETECTIONS),
            )
        },
        "/identityProtection/riskDetections/{id}": {
            "get": _operation(
                "getRiskDetection",
                "Get a risk detection",
                {"200": _json("RiskDetection"), **NOT_FOUND},
                parameters=[DETECTION_ID],
            )
        },
        "/identityProtection/recommendations": {
            "get": _operation(
                "listRecommendations",
                "List recommendations",
                {
                    "200": _json(
                        "RecommendationCollection", "Every recommendation, active ones first."
                    ),
                    **BAD_REQUEST,
                },
            )
        },
    }
    for action, summary in USER_ACTIONS.items():
        paths[f"/identityProtection/riskyUsers/{action}"] = {
            "post": _operation(
                f"{action}RiskyUsers",
                summary,
                {
                    **NO_CONTENT,
                    "400": _error("A malformed body or an unknown user id; nothing was changed."),
                },
                body="UserIds",
            )
        }
    for action, summary in DETECTION_ACTIONS.items():
        paths[f"/identityProtection/riskDetections/{{id}}/{action}"] = {
            "post": _operation(
                f"{action}RiskDetection",
                summary,
                {
                    **NO_CONTENT,
                    "400": _error(
                        "The action does not apply (e.g. the detection is not active, or the "
                        "user's own remediation closed it)."
                    ),
                    **NOT_FOUND,
                },
                parameters=[DETECTION_ID],
            )
        }
    return paths


def _users_and_logs() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/auditLogs/signIns": {
            "get": _operation(
                "listSignIns",
                "List sign-ins",
                {"200": _json("SignInCollection"), **BAD_REQUEST},
                parameters=_list_parameters(SIGN_INS),
                tag="auditLogs",
            )
        },
        "/users/{id}": {
            "get": _operation(
                "getUser",
                "Get a user with their profile claims",
                {"200": _json("User"), **NOT_FOUND},
                parameters=[USER_ID],
                tag="users",
            ),
            "patch": _operation(
                "updateUser",
                "Set or remove a user's profile claims",
                {
                    "200": _json("User", "The user as changed."),
                    "400": _error(
                        "A malformed body, an unknown or read-only property, or an "
                        "invalid value (the description names it); nothing changed."
                    ),
                    **NOT_FOUND,
                },
                parameters=[USER_ID],
                body="UserUpdate",
                tag="users",
            ),
        },
        "/users/{id}/resetPassword": {
            "post": _operation(
                "resetPassword",
                "Reset a user's password",
                {
                    "200": _json(
                        "TemporaryPassword",
                        "mode temporaryPassword: the new password, "
                        "shown once; sessions are revoked and the "
                        "user's risk remediated.",
                    ),
                    "204": {
                        "description": "mode requireReset: the user must pass TOTP and choose a "
                        "new password at the next sign-in."
                    },
                    "400": _error("A malformed body, or requireReset for a user without TOTP."),
                    **NOT_FOUND,
                },
                parameters=[USER_ID],
                body="ResetPassword",
                tag="users",
            )
        },
        "/users/{id}/revokeSignInSessions": {
            "post": _operation(
                "revokeSignInSessions",
                "Revoke a user's sign-in sessions",
                {
                    "200": _json("RevokeResult", "Every session and refresh token is revoked."),
                    **NOT_FOUND,
                },
                parameters=[USER_ID],
                tag="users",
            )
        },
    }
    for name, schema in (("signIns", "SignIn"), ("riskDetections", "RiskDetection")):
        paths[f"/export/{name}.jsonl"] = {
            "get": _operation(
                f"export{name[0].upper()}{name[1:]}",
                f"Export {name} as JSON lines",
                {
                    "200": {
                        "description": f"One {schema} object a line, oldest first.",
                        "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
                    },
                    **BAD_REQUEST,
                },
                parameters=[_query("since", TIME, "Rows at or after this time.")],
                tag="export",
            )
        }
    paths["/openapi.json"] = {
        "get": {
            "summary": "This document",
            "tags": ["meta"],
            "operationId": "getOpenApi",
            "security": [],
            "responses": {
                "200": {
                    "description": "OpenAPI 3.0",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
    return paths


@cache
def document() -> dict[str, Any]:
    """The OpenAPI document."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "idp admin API", "version": "1.0.0", "description": DESCRIPTION},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "tags": [
            {"name": "identityProtection"},
            {"name": "auditLogs"},
            {"name": "users"},
            {"name": "export"},
            {"name": "meta"},
        ],
        "paths": {**_identity_protection(), **_users_and_logs()},
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A client-credentials access token with scope idp.admin.",
                }
            },
            "schemas": component_schemas(),
        },
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI document of this API (public: it describes, it reveals no data)."""
    return jsonify(document())
