"""OData-style list queries, parsed without Flask or a database.

The admin API's lists take `$filter` (an OData subset: `property op value` clauses joined by
`and`), plain `property=value` parameters (several values mean any of them), `since`/`until`
on the list's time property, `$top` and an opaque `$skiptoken`. This module turns those
strings into `Condition`s and numbers, or raises `QueryError` whose message is the 400
response's `error_description`; the SQL side (`listing`) maps conditions onto columns.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from .vocabulary import DEFAULT_TOP, MAX_TOP

Kind = Literal["text", "enum", "int", "time"]
Value = str | int | datetime
# The comparison operators of $filter; "in" is what a plain parameter means.
OPERATORS = ("eq", "ne", "gt", "ge", "lt", "le")
# Plain query parameters of a list besides the properties themselves.
LIST_OPTIONS = ("$filter", "$top", "$skiptoken", "since", "until")

_CLAUSE = re.compile(
    r"\s*(?P<name>[A-Za-z_][\w/]*)\s+(?P<op>eq|ne|gt|ge|lt|le)\s+"
    r"(?P<value>'(?:[^']|'')*'|[^\s']+)\s*"
)
_AND = re.compile(r"and\s+")


class QueryError(ValueError):
    """A query parameter is malformed; the message says which and what is allowed."""


@dataclass(frozen=True)
class Property:
    """A filterable property: how its values are read (and for an enum, the values)."""

    kind: Kind = "text"
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Condition:
    """`name op value`; op "in" (a plain parameter) carries a tuple of values."""

    name: str
    op: str
    value: Value | tuple[Value, ...]


def storable(text: str) -> bool:
    """Whether the database can compare against `text` (PostgreSQL refuses NUL and bad UTF-8)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def parse_time(text: str, name: str) -> datetime:
    """An ISO 8601 time in UTC; one without an offset is taken as UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
        # Normalised here so a time at the edge of the calendar fails now, not in the query.
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise QueryError(
            f"{name} must be an ISO 8601 date and time, e.g. 2026-03-01T00:00:00Z."
        ) from None


def parse_value(prop: Property, name: str, text: str) -> Value:
    """One value of `name`, read as its property's kind."""
    if prop.kind == "time":
        return parse_time(text, name)
    if prop.kind == "int":
        if not re.fullmatch(r"-?\d{1,9}", text):
            raise QueryError(f"{name} must be an integer.")
        return int(text)
    if prop.kind == "enum" and text not in prop.values:
        raise QueryError(f"{name} must be one of: {', '.join(prop.values)}.")
    return text


def parse_filter(properties: Mapping[str, Property], text: str) -> list[Condition]:
    """Conditions from an OData $filter: `prop op value` joined by `and`."""
    conditions = []
    pos = 0
    while True:
        match = _CLAUSE.match(text, pos)
        if match is None:
            raise QueryError(
                "$filter supports `property op value` clauses joined by `and`, "
                "with op one of eq, ne, gt, ge, lt, le; strings in single quotes."
            )
        name, op, raw = match["name"], match["op"], match["value"]
        prop = properties.get(name)
        if prop is None:
            raise QueryError(
                f"$filter cannot use {name!r}; filterable properties: {', '.join(properties)}."
            )
        if prop.kind in ("text", "enum") and op not in ("eq", "ne"):
            raise QueryError(f"{name} can only be compared with eq or ne.")
        if raw.startswith("'"):
            raw = raw[1:-1].replace("''", "'")
        elif prop.kind in ("text", "enum"):
            raise QueryError(f"the value for {name} must be in single quotes.")
        conditions.append(Condition(name, op, parse_value(prop, name, raw)))
        pos = match.end()
        if pos == len(text):
            return conditions
        joined = _AND.match(text, pos)
        if joined is None:
            raise QueryError("$filter clauses must be joined by `and`.")
        pos = joined.end()


def parse_list_args(
    properties: Mapping[str, Property],
    time_property: str,
    args: Iterable[tuple[str, Sequence[str]]],
    allowed: tuple[str, ...] = LIST_OPTIONS,
) -> list[Condition]:
    """Conditions from a list's query parameters, each name with all its values, in order.

    Plain `property=value` parameters come first (in the order given), then `$filter`, then
    `since` (inclusive) and `until` (exclusive) on `time_property`, when `allowed` has them.
    """
    given = dict(args)
    conditions: list[Condition] = []
    for name, texts in given.items():
        if name in allowed:
            continue
        prop = properties.get(name)
        if prop is None or prop.kind == "time":
            known = ", ".join([*allowed, *(n for n, p in properties.items() if p.kind != "time")])
            raise QueryError(f"unknown query parameter {name!r}; accepted: {known}.")
        conditions.append(
            Condition(name, "in", tuple(parse_value(prop, name, text) for text in texts))
        )
    if "$filter" in given:
        conditions.extend(parse_filter(properties, given["$filter"][0]))
    for option, op in (("since", "ge"), ("until", "lt")):
        if option in given and option in allowed:
            conditions.append(Condition(time_property, op, parse_time(given[option][0], option)))
    return conditions


def parse_top(text: str | None) -> int:
    """The page size from $top: 1 to MAX_TOP, DEFAULT_TOP when absent."""
    if text is None:
        return DEFAULT_TOP
    if not re.fullmatch(r"\d{1,4}", text) or not 1 <= int(text) <= MAX_TOP:
        raise QueryError(f"$top must be an integer from 1 to {MAX_TOP}.")
    return int(text)


def encode_skiptoken(at: datetime, row_id: str) -> str:
    """The opaque $skiptoken of the keyset position (time, id) of a page's last row."""
    raw = json.dumps([at.astimezone(UTC).isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_skiptoken(token: str) -> tuple[datetime, str]:
    """The keyset position a $skiptoken from `encode_skiptoken` carries."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        at, row_id = json.loads(raw)
        value = datetime.fromisoformat(at)
        if value.tzinfo is None or not isinstance(row_id, str) or not storable(row_id):
            raise ValueError("not a skiptoken")
        return value.astimezone(UTC), row_id
    except (ValueError, TypeError, OverflowError, binascii.Error):
        raise QueryError("$skiptoken is not one this API issued; follow @odata.nextLink.") from None
