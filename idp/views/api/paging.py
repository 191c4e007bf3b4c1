"""Lists over HTTP: the request's query parameters parsed into SQL conditions, and one page
of a statement, newest first, with `@odata.nextLink` when more rows follow.

Parsing is `odata`'s; this module reads it from the Flask request and turns `QueryError`
into the 400 response every malformed parameter gets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import Response, abort, jsonify, request

from ...extensions import db
from ...services import services
from . import odata
from .listing import Listing


def refuse(error: odata.QueryError) -> NoReturn:
    """Answer 400 with the parser's reason."""
    abort(400, description=str(error))


def list_conditions(listing: Listing, allowed: tuple[str, ...] = odata.LIST_OPTIONS) -> list[Any]:
    """SQL conditions from $filter, plain `property=value` parameters, since and until."""
    try:
        conditions = odata.parse_list_args(
            listing.properties, listing.time_field, request.args.lists(), allowed
        )
    except odata.QueryError as error:
        refuse(error)
    return listing.where(conditions)


def _next_link(token: str) -> str:
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "$skiptoken"]
    args.append(("$skiptoken", token))
    base = services().settings.issuer.rstrip("/")
    return f"{base}{request.path}?{urlencode(args)}"


def page(listing: Listing, stmt: Any, serialize: Callable[..., dict[str, Any]]) -> Response:
    """One page of `stmt`, newest first, with @odata.nextLink when more rows follow."""
    try:
        top = odata.parse_top(request.args.get("$top"))
        token = request.args.get("$skiptoken")
        position = odata.decode_skiptoken(token) if token else None
    except odata.QueryError as error:
        refuse(error)
    if position is not None:
        at, row_id = position
        stmt = stmt.where(
            sa.or_(
                listing.order_time < at,
                sa.and_(listing.order_time == at, listing.order_id < row_id),
            )
        )
    stmt = stmt.order_by(listing.order_time.desc(), listing.order_id.desc()).limit(top + 1)
    rows = db.session.execute(stmt).all()
    body: dict[str, Any] = {"value": [serialize(*row) for row in rows[:top]]}
    if len(rows) > top:
        last = rows[top - 1][0]
        body["@odata.nextLink"] = _next_link(
            odata.encode_skiptoken(
                getattr(last, listing.order_time.key), getattr(last, listing.order_id.key)
            )
        )
    return jsonify(body)
