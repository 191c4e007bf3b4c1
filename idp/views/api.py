"""The admin API under /api/v1, shaped like Microsoft Graph's identityProtection.

Resources carry Graph's property names (riskyUser, riskyUserHistoryItem, riskDetection,
signIn), so a script written for Graph ports by changing its base URL. Every route but the
OpenAPI document needs a client-credentials bearer token with scope `idp.admin`; every error,
ours or the token check's, is `{"error", "error_description"}` as on the rest of the provider.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import MissingAuthorizationError
from authlib.oauth2.rfc6750 import InsufficientScopeError, InvalidTokenError
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    request,
    stream_with_context,
)

from risk.levels import Level
from risk.vocabulary import RiskDetail, RiskEventType, RiskState

from .. import admin_actions, claims
from ..extensions import db, require_oauth
from ..models import RiskDetection, RiskHistory, SignIn, User, UserRisk

bp = Blueprint("api", __name__, url_prefix="/api/v1")

ADMIN_SCOPE = "idp.admin"
DEFAULT_TOP = 100
MAX_TOP = 1000
EXPORT_BATCH = 500

LEVELS = tuple(level.value for level in Level)
# A user_risk row starts at "none" before any detection or action has set a state.
STATES = ("none", *(state.value for state in RiskState))
DETAILS = tuple(detail.value for detail in RiskDetail)
EVENT_TYPES = tuple(event.value for event in RiskEventType)
USER_ACTIONS: dict[str, Callable[[str, str], None]] = {
    "dismiss": admin_actions.dismiss,
    "confirmCompromised": admin_actions.confirm_compromised,
    "confirmSafe": admin_actions.confirm_safe,
}
RESET_MODES = ("requireReset", "temporaryPassword")


# --- authentication -------------------------------------------------------------------------


@bp.before_request
def require_admin_token() -> Response | None:
    """Admit only client-credentials tokens holding idp.admin; remember the client as the actor."""
    if any(not _storable(str(v)) for v in (request.view_args or {}).values()):
        abort(404, description="No such resource.")
    if request.endpoint == "api.openapi":
        return None
    if not _storable(request.headers.get("Authorization", "")):
        return _auth_error(InvalidTokenError())
    try:
        token = require_oauth.acquire_token([ADMIN_SCOPE])
    except OAuth2Error as error:
        return _auth_error(error)
    if token.user_id is not None:
        # A user's token is the user acting, never the admin client the scope was granted to.
        return _auth_error(InsufficientScopeError(
            "The admin API takes tokens from the client credentials grant only."))
    g.api_admin = f"client:{token.client_id}"
    return None


def _auth_error(error: OAuth2Error) -> Response:
    status = 403 if isinstance(error, InsufficientScopeError) else 401
    challenge = f'Bearer realm="idp", scope="{ADMIN_SCOPE}"'
    if not isinstance(error, MissingAuthorizationError):
        challenge += f', error="{error.error}"'
    description = error.get_error_description() or {
        401: "A bearer token is required.",
        403: f"The token lacks the {ADMIN_SCOPE} scope.",
    }[status]
    response = jsonify(error=error.error, error_description=description)
    response.status_code = status
    response.headers["WWW-Authenticate"] = challenge
    response.headers["Cache-Control"] = "no-store"
    return response


def _storable(text: str) -> bool:
    """Whether the database can compare against `text` (PostgreSQL refuses NUL and bad UTF-8)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _admin() -> str:
    return str(g.api_admin)


# --- Graph shapes ---------------------------------------------------------------------------


def iso(value: datetime | None) -> str | None:
    """An aware datetime as Graph writes DateTimeOffset: ISO 8601 in UTC with a Z."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _location(city: Any, country: Any, latitude: Any, longitude: Any) -> dict[str, Any]:
    return {
        "city": city,
        "state": None,
        "countryOrRegion": country,
        "geoCoordinates": {"latitude": latitude, "longitude": longitude, "altitude": None},
    }


def risky_user(user: User, risk: UserRisk) -> dict[str, Any]:
    """Graph's riskyUser."""
    return {
        "id": user.id,
        "userPrincipalName": user.username,
        "userDisplayName": user.display_name,
        "riskLevel": risk.risk_level,
        "riskState": risk.risk_state,
        "riskDetail": risk.risk_detail,
        "riskLastUpdatedDateTime": iso(risk.updated_at),
        "isDeleted": False,
        "isProcessing": False,
    }


def history_item(user: User, item: RiskHistory) -> dict[str, Any]:
    """Graph's riskyUserHistoryItem, plus what was done (`action`) and a `note`."""
    events = [item.activity] if item.activity in EVENT_TYPES else []
    return {
        "id": item.id,
        "userId": user.id,
        "userPrincipalName": user.username,
        "userDisplayName": user.display_name,
        "initiatedBy": item.initiated_by,
        "activity": {"detail": item.risk_detail, "riskEventTypes": events},
        "riskLevel": item.risk_level,
        "riskState": item.risk_state,
        "riskDetail": item.risk_detail,
        "riskLastUpdatedDateTime": iso(item.at),
        "isDeleted": False,
        "isProcessing": False,
        "action": item.activity,
        "note": item.note,
    }


def risk_detection(row: RiskDetection, user: User) -> dict[str, Any]:
    """Graph's riskDetection, plus our plain-language `description` of the evidence."""
    where = row.location or {}
    coordinates = where.get("geoCoordinates")
    if not isinstance(coordinates, dict):
        coordinates = {}
    return {
        "id": row.id,
        "requestId": row.correlation_id,
        "correlationId": row.correlation_id,
        "riskEventType": row.risk_event_type,
        "riskLevel": row.risk_level,
        "riskState": row.risk_state,
        "riskDetail": row.risk_detail,
        "source": row.source,
        "detectionTimingType": "offline" if row.source == "admin" else "realtime",
        "activity": "signin" if row.scope == "signIn" else "user",
        "tokenIssuerType": "idp",
        "ipAddress": row.ip,
        "location": _location(where.get("city"), where.get("countryOrRegion"),
                              coordinates.get("latitude"), coordinates.get("longitude")),
        "activityDateTime": iso(row.detected_at),
        "detectedDateTime": iso(row.detected_at),
        "lastUpdatedDateTime": iso(row.last_updated_at),
        "userId": user.id,
        "userPrincipalName": user.username,
        "userDisplayName": user.display_name,
        # Graph's additionalInfo is a JSON string of Key/Value pairs.
        "additionalInfo": json.dumps(
            [{"Key": key, "Value": value} for key, value in sorted((row.evidence or {}).items())],
            separators=(",", ":"), default=str),
        "description": row.description,
    }


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
    return {
        "id": row.id,
        "createdDateTime": iso(row.created_at),
        "userId": row.user_id,
        "userPrincipalName": row.username,
        "userDisplayName": user.display_name if user is not None else None,
        "appId": row.client_id,
        "ipAddress": row.ip,
        "userAgent": row.user_agent,
        "location": _location(row.city, row.country, row.latitude, row.longitude),
        "correlationId": row.correlation_id,
        "riskLevelDuringSignIn": row.risk_level_during_sign_in,
        "riskLevelAggregated": row.risk_level_aggregated,
        "riskState": row.risk_state,
        "riskDetail": row.risk_detail,
        "riskEventTypes": list(row.risk_event_types or []),
        "riskEventTypes_v2": list(row.risk_event_types or []),
        "status": {
            "errorCode": row.error_code or 0,
            "failureReason": row.reason,
            "additionalDetails": None,
        },
        "conditionalAccessStatus": _conditional_access_status(policies),
        "appliedConditionalAccessPolicies": [
            {
                "id": policy.get("displayName"),
                "displayName": policy.get("displayName"),
                "result": policy.get("result"),
                "reason": policy.get("reason"),
            }
            for policy in policies
        ],
        "outcome": row.outcome,
    }


# --- filters and paging ---------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A filterable property: the column behind it and how its values are read."""

    column: Any
    kind: str = "text"  # text | enum | int | time
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Listing:
    """A list endpoint: filterable properties, the time property, and the keyset order."""

    fields: dict[str, Field]
    time_field: str
    order_time: Any
    order_id: Any


RISKY_USERS = Listing(
    fields={
        "id": Field(UserRisk.user_id),
        "userPrincipalName": Field(User.username),
        "riskLevel": Field(UserRisk.risk_level, "enum", LEVELS),
        "riskState": Field(UserRisk.risk_state, "enum", STATES),
        "riskDetail": Field(UserRisk.risk_detail, "enum", DETAILS),
        "riskLastUpdatedDateTime": Field(UserRisk.updated_at, "time"),
    },
    time_field="riskLastUpdatedDateTime",
    order_time=UserRisk.updated_at,
    order_id=UserRisk.user_id,
)

HISTORY = Listing(fields={}, time_field="riskLastUpdatedDateTime",
                  order_time=RiskHistory.at, order_id=RiskHistory.id)

RISK_DETECTIONS = Listing(
    fields={
        "id": Field(RiskDetection.id),
        "userId": Field(RiskDetection.user_id),
        "userPrincipalName": Field(User.username),
        "correlationId": Field(RiskDetection.correlation_id),
        "requestId": Field(RiskDetection.correlation_id),
        "ipAddress": Field(RiskDetection.ip),
        "source": Field(RiskDetection.source),
        "riskEventType": Field(RiskDetection.risk_event_type, "enum", EVENT_TYPES),
        "riskLevel": Field(RiskDetection.risk_level, "enum", LEVELS),
        "riskState": Field(RiskDetection.risk_state, "enum", STATES),
        "riskDetail": Field(RiskDetection.risk_detail, "enum", DETAILS),
        "detectedDateTime": Field(RiskDetection.detected_at, "time"),
        "activityDateTime": Field(RiskDetection.detected_at, "time"),
        "lastUpdatedDateTime": Field(RiskDetection.last_updated_at, "time"),
    },
    time_field="detectedDateTime",
    order_time=RiskDetection.detected_at,
    order_id=RiskDetection.id,
)

SIGN_INS = Listing(
    fields={
        "id": Field(SignIn.id),
        "userId": Field(SignIn.user_id),
        "userPrincipalName": Field(SignIn.username),
        "appId": Field(SignIn.client_id),
        "correlationId": Field(SignIn.correlation_id),
        "ipAddress": Field(SignIn.ip),
        "riskLevelDuringSignIn": Field(SignIn.risk_level_during_sign_in, "enum", LEVELS),
        # Graph has no riskLevel on a sign-in; scripts that say it mean the sign-in's own risk.
        "riskLevel": Field(SignIn.risk_level_during_sign_in, "enum", LEVELS),
        "riskLevelAggregated": Field(SignIn.risk_level_aggregated, "enum", LEVELS),
        "riskState": Field(SignIn.risk_state, "enum", STATES),
        "riskDetail": Field(SignIn.risk_detail, "enum", DETAILS),
        # A success is logged without a code; Graph reports it as errorCode 0.
        "status/errorCode": Field(sa.func.coalesce(SignIn.error_code, 0), "int"),
        "createdDateTime": Field(SignIn.created_at, "time"),
    },
    time_field="createdDateTime",
    order_time=SignIn.created_at,
    order_id=SignIn.id,
)

_CLAUSE = re.compile(
    r"\s*(?P<name>[A-Za-z_][\w/]*)\s+(?P<op>eq|ne|gt|ge|lt|le)\s+"
    r"(?P<value>'(?:[^']|'')*'|[^\s']+)\s*"
)
_AND = re.compile(r"and\s+")
_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": lambda c, v: c == v,
    "ne": lambda c, v: c != v,
    "gt": lambda c, v: c > v,
    "ge": lambda c, v: c >= v,
    "lt": lambda c, v: c < v,
    "le": lambda c, v: c <= v,
}
# Plain query parameters besides the properties themselves.
_LIST_OPTIONS = ("$filter", "$top", "$skiptoken", "since", "until")


def parse_time(text: str, name: str) -> datetime:
    """An ISO 8601 time; one without an offset is taken as UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
        # Normalised here so a time at the edge of the calendar fails now, not in the query.
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        abort(400, description=f"{name} must be an ISO 8601 date and time, "
                               "e.g. 2026-03-01T00:00:00Z.")


def _value(field: Field, name: str, text: str) -> Any:
    if field.kind == "time":
        return parse_time(text, name)
    if field.kind == "int":
        if not re.fullmatch(r"-?\d{1,9}", text):
            abort(400, description=f"{name} must be an integer.")
        return int(text)
    if field.kind == "enum" and text not in field.values:
        abort(400, description=f"{name} must be one of: {', '.join(field.values)}.")
    return text


def _filter_clauses(listing: Listing, text: str) -> list[Any]:
    """Conditions from an OData $filter: `prop op value` joined by `and`."""
    conditions = []
    pos = 0
    while True:
        match = _CLAUSE.match(text, pos)
        if match is None:
            abort(400, description="$filter supports `property op value` clauses joined by "
                                   "`and`, with op one of eq, ne, gt, ge, lt, le; strings in "
                                   "single quotes.")
        name, op, raw = match["name"], match["op"], match["value"]
        field = listing.fields.get(name)
        if field is None:
            abort(400, description=f"$filter cannot use {name!r}; filterable properties: "
                                   f"{', '.join(listing.fields)}.")
        if field.kind in ("text", "enum") and op not in ("eq", "ne"):
            abort(400, description=f"{name} can only be compared with eq or ne.")
        if raw.startswith("'"):
            raw = raw[1:-1].replace("''", "'")
        elif field.kind in ("text", "enum"):
            abort(400, description=f"the value for {name} must be in single quotes.")
        conditions.append(_OPERATORS[op](field.column, _value(field, name, raw)))
        pos = match.end()
        if pos == len(text):
            return conditions
        joined = _AND.match(text, pos)
        if joined is None:
            abort(400, description="$filter clauses must be joined by `and`.")
        pos = joined.end()


def list_conditions(listing: Listing, allowed: tuple[str, ...] = _LIST_OPTIONS) -> list[Any]:
    """Conditions from $filter and from plain `property=value` parameters (several mean any)."""
    conditions: list[Any] = []
    for name in request.args:
        if name in allowed:
            continue
        field = listing.fields.get(name)
        if field is None or field.kind == "time":
            known = ", ".join([*allowed, *(n for n, f in listing.fields.items()
                                           if f.kind != "time")])
            abort(400, description=f"unknown query parameter {name!r}; accepted: {known}.")
        values = [_value(field, name, text) for text in request.args.getlist(name)]
        conditions.append(field.column.in_(values))
    if "$filter" in request.args:
        conditions.extend(_filter_clauses(listing, request.args["$filter"]))
    time_column = listing.fields[listing.time_field].column if listing.fields else None
    for option, op in (("since", "ge"), ("until", "lt")):
        if option in request.args and option in allowed:
            conditions.append(_OPERATORS[op](time_column, parse_time(request.args[option],
                                                                    option)))
    return conditions


def _encode_skiptoken(at: datetime, row_id: str) -> str:
    raw = json.dumps([at.astimezone(UTC).isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_skiptoken(token: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        at, row_id = json.loads(raw)
        value = datetime.fromisoformat(at)
        if value.tzinfo is None or not isinstance(row_id, str) or not _storable(row_id):
            raise ValueError("not a skiptoken")
        value = value.astimezone(UTC)
    except (ValueError, TypeError, OverflowError, binascii.Error):
        abort(400, description="$skiptoken is not one this API issued; follow @odata.nextLink.")
    return value, row_id


def _top() -> int:
    text = request.args.get("$top")
    if text is None:
        return DEFAULT_TOP
    if not re.fullmatch(r"\d{1,4}", text) or not 1 <= int(text) <= MAX_TOP:
        abort(400, description=f"$top must be an integer from 1 to {MAX_TOP}.")
    return int(text)


def _next_link(token: str) -> str:
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "$skiptoken"]
    args.append(("$skiptoken", token))
    base = current_app.extensions["idp.settings"].issuer.rstrip("/")
    return f"{base}{request.path}?{urlencode(args)}"


def page(listing: Listing, stmt: Any, serialize: Callable[..., dict[str, Any]]) -> Response:
    """One page of `stmt`, newest first, with @odata.nextLink when more rows follow."""
    top = _top()
    token = request.args.get("$skiptoken")
    if token:
        at, row_id = _decode_skiptoken(token)
        stmt = stmt.where(sa.or_(
            listing.order_time < at,
            sa.and_(listing.order_time == at, listing.order_id < row_id)))
    stmt = stmt.order_by(listing.order_time.desc(), listing.order_id.desc()).limit(top + 1)
    rows = db.session.execute(stmt).all()
    body: dict[str, Any] = {"value": [serialize(*row) for row in rows[:top]]}
    if len(rows) > top:
        last = rows[top - 1][0]
        at = getattr(last, listing.order_time.key)
        body["@odata.nextLink"] = _next_link(_encode_skiptoken(at, getattr(
            last, listing.order_id.key)))
    return jsonify(body)


# --- identityProtection ---------------------------------------------------------------------


@bp.get("/identityProtection/riskyUsers")
def list_risky_users() -> Response:
    """Users who have ever been risky, newest change first."""
    stmt = sa.select(UserRisk, User).join(User, User.id == UserRisk.user_id)
    stmt = stmt.where(*list_conditions(RISKY_USERS))
    return page(RISKY_USERS, stmt, lambda risk, user: risky_user(user, risk))


@bp.get("/identityProtection/riskyUsers/<user_id>")
def get_risky_user(user_id: str) -> Response:
    """One risky user."""
    row = db.session.execute(sa.select(UserRisk, User).join(User, User.id == UserRisk.user_id)
                             .where(UserRisk.user_id == user_id)).first()
    if row is None:
        abort(404, description=f"no risky user with id {user_id}")
    return jsonify(risky_user(row.User, row.UserRisk))


@bp.get("/identityProtection/riskyUsers/<user_id>/history")
def risky_user_history(user_id: str) -> Response:
    """Every change of the user's risk: who did what, when, and the state it left."""
    user = db.session.get(User, user_id)
    if user is None:
        abort(404, description=f"no user with id {user_id}")
    list_conditions(HISTORY, allowed=("$top", "$skiptoken"))
    stmt = sa.select(RiskHistory).where(RiskHistory.user_id == user_id)
    return page(HISTORY, stmt, lambda item: history_item(user, item))


def _user_ids() -> list[str]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description='The body must be a JSON object: {"userIds": ["..."]}.')
    ids = body.get("userIds")
    if (not isinstance(ids, list) or not ids
            or not all(isinstance(i, str) and _storable(i) for i in ids)):
        abort(400, description="userIds must be a non-empty list of user ids.")
    ids = list(dict.fromkeys(ids))
    found = set(db.session.scalars(sa.select(User.id).where(User.id.in_(ids))))
    missing = [i for i in ids if i not in found]
    if missing:
        # Nothing is changed unless every id is known, so a typo never half-applies.
        abort(400, description=f"no user with id {missing[0]}")
    return ids


@bp.post("/identityProtection/riskyUsers/<any(dismiss, confirmCompromised, confirmSafe):action>")
def risky_users_action(action: str) -> tuple[str, int]:
    """Dismiss, confirm compromised, or confirm safe: Graph's riskyUser actions."""
    act = USER_ACTIONS[action]
    for user_id in _user_ids():
        act(user_id, _admin())
    return "", 204


@bp.get("/identityProtection/riskDetections")
def list_risk_detections() -> Response:
    """Detections with their evidence, newest first."""
    stmt = sa.select(RiskDetection, User).join(User, User.id == RiskDetection.user_id)
    stmt = stmt.where(*list_conditions(RISK_DETECTIONS))
    return page(RISK_DETECTIONS, stmt, risk_detection)


@bp.get("/identityProtection/riskDetections/<detection_id>")
def get_risk_detection(detection_id: str) -> Response:
    """One detection."""
    row = db.session.execute(sa.select(RiskDetection, User)
                             .join(User, User.id == RiskDetection.user_id)
                             .where(RiskDetection.id == detection_id)).first()
    if row is None:
        abort(404, description=f"no detection with id {detection_id}")
    return jsonify(risk_detection(row.RiskDetection, row.User))


@bp.post("/identityProtection/riskDetections/<detection_id>/"
         "<any(resolve, falsePositive, ignore, reactivate):action>")
def risk_detection_action(detection_id: str, action: str) -> tuple[str, int]:
    """Resolve, mark false positive, ignore, or reactivate one detection."""
    if db.session.get(RiskDetection, detection_id) is None:
        abort(404, description=f"no detection with id {detection_id}")
    try:
        admin_actions.detection_action(detection_id, action, _admin())
    except admin_actions.ActionRefused as exc:
        abort(400, description=str(exc))
    return "", 204


@bp.get("/identityProtection/recommendations")
def list_recommendations() -> Response:
    """What weakens this deployment, active ones first (see idp.posture)."""
    for name in request.args:
        abort(400, description=f"unknown query parameter {name[:60]!r}; this list takes none.")
    from ..posture import recommendations

    return jsonify(value=[item.resource() for item in recommendations()])


# --- users and the sign-in log --------------------------------------------------------------


@bp.post("/users/<user_id>/resetPassword")
def reset_password(user_id: str) -> Any:
    """Require a password reset at next sign-in, or generate a temporary password."""
    body = request.get_json(silent=True)
    mode = body.get("mode") if isinstance(body, dict) else None
    if mode not in RESET_MODES:
        abort(400, description='The body must be {"mode": "requireReset"} or '
                               '{"mode": "temporaryPassword"}.')
    if db.session.get(User, user_id) is None:
        abort(404, description=f"no user with id {user_id}")
    try:
        if mode == "requireReset":
            admin_actions.require_password_reset(user_id, _admin())
            return "", 204
        password = admin_actions.temporary_password(user_id, _admin())
    except admin_actions.ActionRefused as exc:
        abort(400, description=str(exc))
    response = jsonify(temporaryPassword=password)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/users/<user_id>/revokeSignInSessions")
def revoke_sign_in_sessions(user_id: str) -> Response:
    """Sign the user out everywhere (Graph answers {"value": true})."""
    if db.session.get(User, user_id) is None:
        abort(404, description=f"no user with id {user_id}")
    admin_actions.revoke_all_sessions(user_id, _admin())
    return jsonify(value=True)


# Graph's user properties that are OpenID Connect claims; the rest of the claims are set and
# shown under `claims` by their OpenID names.
GRAPH_USER_CLAIMS = {
    "displayName": "name",
    "givenName": "given_name",
    "surname": "family_name",
    "mail": "email",
    "mobilePhone": "phone_number",
    "preferredLanguage": "locale",
    "streetAddress": "address.street_address",
    "city": "address.locality",
    "state": "address.region",
    "postalCode": "address.postal_code",
    "country": "address.country",
}


def user_resource(user: User) -> dict[str, Any]:
    """Graph's user (the properties that apply), plus `claims`: every OpenID Connect claim
    the user has, by claim name."""
    values = claims.profile(user)
    address = values.get("address") or {}
    graph: dict[str, Any] = {}
    for prop, name in GRAPH_USER_CLAIMS.items():
        head, _, field = name.partition(".")
        graph[prop] = address.get(field) if field else values.get(head)
    return {
        "id": user.id,
        "userPrincipalName": user.username,
        **graph,
        "accountEnabled": not user.disabled,
        "createdDateTime": iso(user.created_at),
        "claims": values,
    }


@bp.get("/users/<user_id>")
def get_user(user_id: str) -> Response:
    """One user with their profile claims."""
    user = db.session.get(User, user_id)
    if user is None:
        abort(404, description=f"no user with id {user_id}")
    return jsonify(user_resource(user))


def _profile_changes(body: Any) -> dict[str, Any]:
    """Claim changes from a PATCH body: Graph names at the top, OpenID names under `claims`."""
    if not isinstance(body, dict):
        abort(400, description="The body must be a JSON object of user properties.")
    changes: dict[str, Any] = {}
    for prop, value in body.items():
        if prop == "claims":
            continue
        if prop not in GRAPH_USER_CLAIMS:
            abort(400, description=f"{prop[:60]!r} cannot be changed; accepted: "
                                   f"{', '.join(GRAPH_USER_CLAIMS)}, claims.")
        changes[GRAPH_USER_CLAIMS[prop]] = value
    named = body.get("claims", {})
    if not isinstance(named, dict):
        abort(400, description="claims must be an object of OpenID Connect claim values.")
    for name, value in named.items():
        if name in changes:
            abort(400, description=f"{name} is set twice (a Graph property and in claims).")
        changes[name] = value
    return changes


@bp.patch("/users/<user_id>")
def update_user(user_id: str) -> Response:
    """Set or remove (null) profile claims; nothing changes unless every value is valid."""
    user = db.session.get(User, user_id)
    if user is None:
        abort(404, description=f"no user with id {user_id}")
    changes = _profile_changes(request.get_json(silent=True))
    try:
        claims.set_claims(user, changes)
    except claims.ClaimError as exc:
        abort(400, description=f"{exc}.")
    return jsonify(user_resource(user))


def _sign_ins_query() -> Any:
    return sa.select(SignIn, User).outerjoin(User, User.id == SignIn.user_id)


@bp.get("/auditLogs/signIns")
def list_sign_ins() -> Response:
    """The sign-in log, newest first, with each policy's result."""
    stmt = _sign_ins_query().where(*list_conditions(SIGN_INS))
    return page(SIGN_INS, stmt, sign_in)


# --- JSON lines export ----------------------------------------------------------------------


def _export(stmt: Any, order_time: Any, order_id: Any,
            serialize: Callable[..., dict[str, Any]]) -> Response:
    """Stream `stmt` oldest first as JSON lines, in keyset batches so memory stays flat."""
    for name in request.args:
        if name != "since":
            abort(400, description=f"unknown query parameter {name!r}; accepted: since.")
    if "since" in request.args:
        stmt = stmt.where(order_time >= parse_time(request.args["since"], "since"))
    stmt = stmt.order_by(order_time, order_id).limit(EXPORT_BATCH)

    def lines() -> Iterator[str]:
        after: tuple[datetime, str] | None = None
        while True:
            batch = stmt
            if after is not None:
                batch = batch.where(sa.or_(order_time > after[0], sa.and_(
                    order_time == after[0], order_id > after[1])))
            rows = db.session.execute(batch).all()
            for row in rows:
                yield json.dumps(serialize(*row), separators=(",", ":")) + "\n"
            if len(rows) < EXPORT_BATCH:
                return
            last = rows[-1][0]
            after = (getattr(last, order_time.key), getattr(last, order_id.key))

    return Response(stream_with_context(lines()), mimetype="application/x-ndjson")


@bp.get("/export/signIns.jsonl")
def export_sign_ins() -> Response:
    """Every sign-in since a time, one Graph signIn per line, for a SIEM."""
    return _export(_sign_ins_query(), SignIn.created_at, SignIn.id, sign_in)


@bp.get("/export/riskDetections.jsonl")
def export_risk_detections() -> Response:
    """Every detection since a time, one Graph riskDetection per line, for a SIEM."""
    stmt = sa.select(RiskDetection, User).join(User, User.id == RiskDetection.user_id)
    return _export(stmt, RiskDetection.detected_at, RiskDetection.id, risk_detection)


# --- the API's own description --------------------------------------------------------------


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI document of this API (public: it describes, it reveals no data)."""
    from ..openapi import document

    return jsonify(document())
