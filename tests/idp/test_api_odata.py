"""Unit tests of idp.views.api.odata: the admin API's list query parser, without an app.

Every message asserted here is the `error_description` of the 400 the API answers with.
"""

from __future__ import annotations

import ast
import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from idp.views.api import odata
from idp.views.api.odata import Condition, Property, QueryError

LEVELS = ("none", "low", "medium", "high")
PROPS = {
    "id": Property(),
    "riskLevel": Property("enum", LEVELS),
    "status/errorCode": Property("int"),
    "createdDateTime": Property("time"),
}
T = datetime(2026, 3, 1, tzinfo=UTC)
FILTER_SYNTAX = (
    "$filter supports `property op value` clauses joined by `and`, with op one "
    "of eq, ne, gt, ge, lt, le; strings in single quotes."
)
ISO = "must be an ISO 8601 date and time, e.g. 2026-03-01T00:00:00Z."


def _refused(call, *args):
    with pytest.raises(QueryError) as caught:
        call(*args)
    return str(caught.value)


def test_the_module_imports_neither_flask_nor_a_database():
    tree = ast.parse(Path(odata.__file__).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 0
    }
    assert not imported & {"flask", "werkzeug", "sqlalchemy", "flask_sqlalchemy"}


@pytest.mark.parametrize("op", odata.OPERATORS)
def test_every_operator_on_times_and_integers(op):
    assert odata.parse_filter(PROPS, f"createdDateTime {op} 2026-03-01T00:00:00Z") == [
        Condition("createdDateTime", op, T)
    ]
    assert odata.parse_filter(PROPS, f"status/errorCode {op} -50126") == [
        Condition("status/errorCode", op, -50126)
    ]


@pytest.mark.parametrize("op", ["eq", "ne"])
def test_text_and_enum_take_eq_and_ne(op):
    assert odata.parse_filter(PROPS, f"riskLevel {op} 'high' and id {op} 'it''s'") == [
        Condition("riskLevel", op, "high"),
        Condition("id", op, "it's"),
    ]


def test_valid_expressions():
    assert odata.parse_filter(PROPS, "  riskLevel eq 'high'   and   id ne ''  ") == [
        Condition("riskLevel", "eq", "high"),
        Condition("id", "ne", ""),
    ]
    # Times may be quoted; one without an offset is UTC; an offset is converted to UTC.
    assert odata.parse_filter(PROPS, "createdDateTime ge '2026-03-01'") == [
        Condition("createdDateTime", "ge", T)
    ]
    assert odata.parse_filter(PROPS, "createdDateTime lt 2026-03-01T01:00:00+01:00") == [
        Condition("createdDateTime", "lt", T)
    ]
    # Quoted text may hold spaces and the word `and`.
    assert odata.parse_filter(PROPS, "id eq 'a and b'") == [Condition("id", "eq", "a and b")]
    # An integer may be quoted too.
    assert odata.parse_filter(PROPS, "status/errorCode eq '0'") == [
        Condition("status/errorCode", "eq", 0)
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", FILTER_SYNTAX),
        ("riskLevel", FILTER_SYNTAX),
        ("riskLevel eq", FILTER_SYNTAX),
        ("riskLevel has 'high'", FILTER_SYNTAX),
        ("riskLevel eq 'high", FILTER_SYNTAX),
        ("riskLevel eq 'high' and", "$filter clauses must be joined by `and`."),
        ("riskLevel eq 'high' or riskLevel eq 'low'", "$filter clauses must be joined by `and`."),
        ("riskLevel eq 'high' and and id eq 'x'", FILTER_SYNTAX),
        (
            "nope eq 'x'",
            "$filter cannot use 'nope'; filterable properties: id, riskLevel, "
            "status/errorCode, createdDateTime.",
        ),
        ("riskLevel gt 'high'", "riskLevel can only be compared with eq or ne."),
        ("id le 'a'", "id can only be compared with eq or ne."),
        ("riskLevel eq high", "the value for riskLevel must be in single quotes."),
        ("riskLevel eq 'severe'", "riskLevel must be one of: none, low, medium, high."),
        ("status/errorCode eq x", "status/errorCode must be an integer."),
        ("status/errorCode eq 1234567890", "status/errorCode must be an integer."),
        ("status/errorCode eq 1.5", "status/errorCode must be an integer."),
        ("createdDateTime ge yesterday", "createdDateTime " + ISO),
        ("createdDateTime lt '9999-12-31T23:59:59-01:00'", "createdDateTime " + ISO),
    ],
    ids=lambda value: value if len(value) < 40 else value[:40],
)
def test_malformed_filters_are_refused_with_todays_reason(text, message):
    assert _refused(odata.parse_filter, PROPS, text) == message


def test_plain_parameters_several_values_mean_any_then_filter_then_since_until():
    args = [
        ("since", ["2026-03-01"]),
        ("riskLevel", ["high", "low"]),
        ("$filter", ["id eq 'x'"]),
        ("until", ["2026-03-02T00:00:00Z"]),
        ("$top", ["5"]),
    ]
    assert odata.parse_list_args(PROPS, "createdDateTime", args) == [
        Condition("riskLevel", "in", ("high", "low")),
        Condition("id", "eq", "x"),
        Condition("createdDateTime", "ge", T),
        Condition("createdDateTime", "lt", T + timedelta(days=1)),
    ]
    assert odata.parse_list_args(PROPS, "createdDateTime", [("status/errorCode", ["0"])]) == [
        Condition("status/errorCode", "in", (0,))
    ]
    assert odata.parse_list_args(PROPS, "createdDateTime", []) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [("foo", ["x"])],
            "unknown query parameter 'foo'; accepted: $filter, $top, $skiptoken, "
            "since, until, id, riskLevel, status/errorCode.",
        ),
        # The time property is bounded by since/until, never compared as a plain parameter.
        (
            [("createdDateTime", ["2026-03-01"])],
            "unknown query parameter 'createdDateTime'; "
            "accepted: $filter, $top, $skiptoken, since, until, id, riskLevel, status/errorCode.",
        ),
        ([("riskLevel", ["high", "nope"])], "riskLevel must be one of: none, low, medium, high."),
        ([("status/errorCode", ["x"])], "status/errorCode must be an integer."),
        ([("since", ["x"])], "since " + ISO),
        ([("until", ["2026-13-01"])], "until " + ISO),
        ([("$filter", [""])], FILTER_SYNTAX),
        # The first bad parameter is the one named.
        (
            [("foo", ["x"]), ("riskLevel", ["nope"])],
            "unknown query parameter 'foo'; accepted: "
            "$filter, $top, $skiptoken, since, until, id, riskLevel, status/errorCode.",
        ),
    ],
)
def test_malformed_list_parameters(args, message):
    assert _refused(odata.parse_list_args, PROPS, "createdDateTime", args) == message


def test_a_list_that_takes_only_paging():
    allowed = ("$top", "$skiptoken")
    assert odata.parse_list_args({}, "at", [("$top", ["1"]), ("$skiptoken", ["x"])], allowed) == []
    for name in ("since", "$filter", "id"):
        assert _refused(odata.parse_list_args, {}, "at", [(name, ["x"])], allowed) == (
            f"unknown query parameter {name!r}; accepted: $top, $skiptoken."
        )


@pytest.mark.parametrize(("text", "top"), [(None, 100), ("1", 1), ("0100", 100), ("1000", 1000)])
def test_top(text, top):
    assert odata.parse_top(text) == top


@pytest.mark.parametrize("text", ["0", "1001", "x", "", "-1", " 5", "00005", "1e3"])
def test_bad_top(text):
    assert _refused(odata.parse_top, text) == "$top must be an integer from 1 to 1000."


def test_skiptoken_round_trip():
    at = datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    token = odata.encode_skiptoken(at, "row-1")
    assert "=" not in token
    assert odata.decode_skiptoken(token) == (at.astimezone(UTC), "row-1")


def _token(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "zzz",
        "!!!",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        _token("x"),
        _token(["2026-03-01T00:00:00", "naive time"]),
        _token(["2026-03-01T00:00:00Z", 5]),
        _token(["2026-03-01T00:00:00Z", "nul\x00"]),
        _token(["not a time", "x"]),
        _token([1, "x"]),
        _token(["2026-03-01T00:00:00Z", "x", "extra"]),
        _token(["0001-01-01T00:00:00+01:00", "x"]),
    ],
)
def test_foreign_skiptokens_are_refused(token):
    assert _refused(odata.decode_skiptoken, token) == (
        "$skiptoken is not one this API issued; follow @odata.nextLink."
    )


def test_storable():
    assert odata.storable("alice") and odata.storable("")
    assert not odata.storable("a\x00b")
    assert not odata.storable("\udcff")
