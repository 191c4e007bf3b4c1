"""The admin API's user resource and its update body, built from `idp.claims`' table.

`User` is Graph's user (the properties that apply here) plus `claims`: every OpenID Connect
claim the user has, by claim name, typed and described from `idp.claims.CLAIMS`, so a claim
added there shows up in the API and its document without another edit. `UserUpdate` is the
PATCH body: Graph names for the claims Graph has, `claims` for any settable one.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, create_model

from ...claims import ADDRESS_FIELDS, CLAIMS, SETTABLE
from .resources import Resource, Time
from .vocabulary import GRAPH_USER_CLAIMS


class _Claims(BaseModel):
    """Claims keep their OpenID Connect names (no camelCase)."""

    model_config = ConfigDict(extra="forbid")


def _claim_field(name: str, nullable: bool) -> tuple[Any, Any]:
    """The type and field of one claim: its JSON type, and the scope that releases it."""
    schema: dict[str, Any]
    kind: Any
    if name in ("email_verified", "phone_number_verified"):
        kind, schema = bool, {"type": "boolean"}
    elif name == "updated_at":
        kind, schema = int, {"type": "integer"}
    elif name == "groups":
        kind, schema = list[str], {"type": "array", "items": {"type": "string"}}
    elif name == "address":
        part: dict[str, Any] = {"type": "string", **({"nullable": True} if nullable else {})}
        kind = dict[str, str | None] if nullable else dict[str, str]
        schema = {
            "type": "object",
            "additionalProperties": False,
            "properties": {field: part for field in ADDRESS_FIELDS},
        }
    else:
        kind, schema = str, {"type": "string"}
    if nullable:
        kind, schema = kind | None, {**schema, "nullable": True}
    claim = CLAIMS[name]
    return (
        Annotated[kind, WithJsonSchema(schema)],
        Field(default=None, description=f"Scope {claim.scope}. {claim.description}"),
    )


_SHOWN: dict[str, Any] = {name: _claim_field(name, False) for name in CLAIMS if name != "groups"}
_SETTABLE: dict[str, Any] = {name: _claim_field(name, True) for name in SETTABLE}

UserClaims: type[BaseModel] = create_model(
    "UserClaims",
    __base__=_Claims,
    __doc__="Every OpenID Connect standard claim the user has a value for.",
    **_SHOWN,
)

UserClaimsUpdate: type[BaseModel] = create_model(
    "UserClaimsUpdate",
    __base__=_Claims,
    __doc__="Claims to set by their OpenID Connect names; null removes one. "
    "address replaces the whole address.",
    **_SETTABLE,
)


def _graph_claims(required: bool) -> dict[str, Any]:
    """Graph's properties that are claims, each described by its claim."""
    return {
        prop: (
            str | None,
            Field(... if required else None, alias=prop, description=f"The {claim} claim."),
        )
        for prop, claim in GRAPH_USER_CLAIMS.items()
    }


User: type[Resource] = create_model(
    "User",
    __base__=Resource,
    __doc__="Graph's user (the properties that apply here), with `claims`.",
    id=(str, ...),
    user_principal_name=(str, Field(description="The user name (preferred_username).")),
    **_graph_claims(required=True),
    account_enabled=(bool, ...),
    created_date_time=(Time, ...),
    claims=(UserClaims, ...),
)

UserUpdate: type[Resource] = create_model(
    "UserUpdate",
    __base__=Resource,
    __doc__="Graph names for the claims Graph has, `claims` for any settable one; null "
    "removes a value. A claim may be named once. Every value is checked (URLs "
    "absolute http(s), birthdate YYYY-MM-DD, YYYY or 0000-MM-DD, zoneinfo an IANA "
    "zone, locale a BCP 47 tag, phone numbers E.164, text without control "
    "characters) and nothing changes unless all are valid. updated_at moves to now.",
    **_graph_claims(required=False),
    claims=(UserClaimsUpdate, None),
)
