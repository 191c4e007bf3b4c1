"""JSON lines export for a SIEM: every sign-in or detection since a time, oldest first, one
Graph-shaped object a line, read in keyset batches of `EXPORT_BATCH` so memory stays flat."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Response, abort, request, stream_with_context

from ...extensions import db
from ...models import RiskDetection, SignIn, User
from . import odata
from .audit_logs import sign_ins_query
from .blueprint import bp
from .paging import refuse
from .serializers import risk_detection, sign_in

# Rows read per query; tests lower it to exercise the keyset between batches.
EXPORT_BATCH = 500


def _export(
    stmt: Any, order_time: Any, order_id: Any, serialize: Callable[..., dict[str, Any]]
) -> Response:
    """Stream `stmt` oldest first as JSON lines, in keyset batches so memory stays flat."""
    for name in request.args:
        if name != "since":
            abort(400, description=f"unknown query parameter {name!r}; accepted: since.")
    if "since" in request.args:
        try:
            since = odata.parse_time(request.args["since"], "since")
        except odata.QueryError as error:
            refuse(error)
        stmt = stmt.where(order_time >= since)
    stmt = stmt.order_by(order_time, order_id).limit(EXPORT_BATCH)

    def lines() -> Iterator[str]:
        after: tuple[datetime, str] | None = None
        while True:
            batch = stmt
            if after is not None:
                batch = batch.where(
                    sa.or_(
                        order_time > after[0], sa.and_(order_time == after[0], order_id > after[1])
                    )
                )
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
    return _export(sign_ins_query(), SignIn.created_at, SignIn.id, sign_in)


@bp.get("/export/riskDetections.jsonl")
def export_risk_detections() -> Response:
    """Every detection since a time, one Graph riskDetection per line, for a SIEM."""
    stmt = sa.select(RiskDetection, User).join(User, User.id == RiskDetection.user_id)
    return _export(stmt, RiskDetection.detected_at, RiskDetection.id, risk_detection)
