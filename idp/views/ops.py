"""For operators and their tools: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import ipaddress
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, abort, jsonify

from ..extensions import db
from ..metrics import exposition
from ..requestinfo import client_ip
from ..services import services

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """200 while the process serves."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Any:
    """200 when the database answers and every configured feed is loaded, else 503 with
    what is not ready."""
    checks: dict[str, Any] = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except sa.exc.SQLAlchemyError as exc:
        db.session.rollback()
        checks["database"] = f"error: {type(exc).__name__}"
    feeds = services().risk.feeds
    feeds.refresh()
    checks["feeds"] = feeds.status()
    ready = checks["database"] == "ok" and all(
        v.startswith("loaded") for v in checks["feeds"].values()
    )
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503


@bp.get("/metrics")
def metrics() -> Any:
    """Prometheus text format, only to the addresses of `metrics_allow`."""
    allowed = services().settings.metrics_allow
    address = ipaddress.ip_address(client_ip())
    if not any(address in ipaddress.ip_network(cidr, strict=False) for cidr in allowed):
        abort(403, description="Metrics are not served to this address (see metrics_allow).")
    body, content_type = exposition()
    return Response(body, content_type=content_type)
