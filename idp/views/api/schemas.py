"""The OpenAPI 3.0 component schemas, generated from the resource models.

pydantic writes JSON Schema 2020-12; OpenAPI 3.0 wants a subset of an older draft, so
`openapi30` rewrites what differs: `anyOf [X, null]` becomes X with `nullable: true`,
`const` becomes a one-value `enum`, and pydantic's generated titles and `default: null`
are dropped. The collections (`{"value": [...]}` with `@odata.nextLink`) are added here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from . import resources
from .user_resources import User, UserUpdate

REF = "#/components/schemas/{model}"
# What each model describes: responses (serialization) or request bodies (validation).
MODELS: tuple[tuple[type[BaseModel], JsonSchemaMode], ...] = (
    (resources.Error, "serialization"),
    (resources.RiskyUser, "serialization"),
    (resources.RiskyUserHistoryItem, "serialization"),
    (resources.RiskDetection, "serialization"),
    (resources.SignIn, "serialization"),
    (resources.Recommendation, "serialization"),
    (resources.TemporaryPassword, "serialization"),
    (resources.RevokeResult, "serialization"),
    (User, "serialization"),
    (resources.UserIds, "validation"),
    (resources.ResetPassword, "validation"),
    (UserUpdate, "validation"),
)
# Lists paged with @odata.nextLink, and the one that is not.
PAGED = ("RiskyUser", "RiskyUserHistoryItem", "RiskDetection", "SignIn")
UNPAGED = ("Recommendation",)
_NULL = {"type": "null"}


def ref(name: str) -> dict[str, str]:
    """A reference to the component schema `name`."""
    return {"$ref": REF.format(model=name)}


def openapi30(node: Any) -> Any:
    """A JSON Schema 2020-12 fragment from pydantic, rewritten as an OpenAPI 3.0 schema."""
    if isinstance(node, list):
        return [openapi30(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            # Property names are data here, never keywords (a property may be named title).
            out[key] = {name: openapi30(schema) for name, schema in value.items()}
        elif key == "title" and isinstance(value, str):
            continue
        elif key == "default" and value is None:
            continue
        elif key == "const":
            out["enum"] = [value]
        else:
            out[key] = openapi30(value)
    options = out.get("anyOf")
    if isinstance(options, list) and _NULL in options and len(options) == 2:
        del out["anyOf"]
        (schema,) = [option for option in options if option != _NULL]
        if "$ref" in schema:
            # OpenAPI 3.0 ignores the siblings of a $ref, so a nullable one goes in allOf.
            schema = {"allOf": [schema]}
        out = {**schema, **out, "nullable": True}
    return out


def _collection(item: str, paged: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {"value": {"type": "array", "items": ref(item)}}
    if paged:
        properties["@odata.nextLink"] = {
            "type": "string",
            "format": "uri",
            "description": "The next page, when there is one.",
        }
    return {
        "type": "object",
        "required": ["value"],
        "properties": properties,
        "additionalProperties": False,
    }


def component_schemas() -> dict[str, Any]:
    """Every schema of the document, by name."""
    _, generated = models_json_schema(MODELS, ref_template=REF)
    schemas: dict[str, Any] = {
        name: openapi30(schema) for name, schema in generated.get("$defs", {}).items()
    }
    for name in PAGED:
        schemas[f"{name}Collection"] = _collection(name, paged=True)
    for name in UNPAGED:
        schemas[f"{name}Collection"] = _collection(name, paged=False)
    return schemas
