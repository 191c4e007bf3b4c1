"""Dynamic client registration endpoints (RFC 7591, RFC 7592); off unless configured."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request
from werkzeug.exceptions import HTTPException

from ..config import Settings
from ..extensions import authorization
from ..protection import counters
from ..requestinfo import client_ip, request_id
from ..services import services

bp = Blueprint("registration", __name__)
log = logging.getLogger("idp.registration")

# Metadata for one client fits in far less; anything bigger is abuse or a mistake.
MAX_BODY_BYTES = 16 * 1024
# Client metadata nests three levels (an object of lists); far deeper is an attack.
MAX_DEPTH = 16


def _settings() -> Settings:
    return services().settings


def _error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> Any:
    log.info("registration request refused: %s (request id %s)", error, request_id())
    return (
        jsonify(error=error, error_description=description),
        status,
        {"Cache-Control": "no-store", **(headers or {})},
    )


@bp.before_request
def registration_enabled() -> Any:
    """Off by default: then neither endpoint exists."""
    if not _settings().registration.enabled:
        abort(404, description="Dynamic client registration is not enabled on this server.")
    if request.method not in ("POST", "GET", "PUT", "DELETE"):
        abort(405)
    return None


def _throttled() -> Any:
    """Registration attempts per client address and hour, counted whatever their outcome."""
    now = int(services().clock.now().timestamp())
    count, window_end = counters().incr(f"register:ip:{client_ip()}", 3600, now)
    if count <= _settings().registration.per_ip_per_hour:
        return None
    return _error(
        429,
        "too_many_requests",
        "Too many registration requests from this address; try again later.",
        {"Retry-After": str(max(1, window_end - now))},
    )


def _body_problem() -> Any:
    """A JSON object of bounded size, or the error that says what is wrong with the body."""
    if request.mimetype != "application/json":
        return _error(400, "invalid_request", "Send the client metadata as application/json.")
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return _error(
            413, "invalid_request", f"The client metadata may be at most {MAX_BODY_BYTES} bytes."
        )
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY_BYTES:
        return _error(
            413, "invalid_request", f"The client metadata may be at most {MAX_BODY_BYTES} bytes."
        )
    try:
        # Parsed once, by Flask, which keeps the result: Authlib reads that same object
        # later instead of parsing again further down the stack.
        data = request.get_json()
    except (HTTPException, RecursionError):
        return _error(400, "invalid_request", "The body is not valid JSON.")
    if not isinstance(data, dict):
        return _error(400, "invalid_request", "The client metadata must be a JSON object.")
    if _depth(data) > MAX_DEPTH:
        return _error(
            400, "invalid_request", f"The client metadata may nest at most {MAX_DEPTH} levels deep."
        )
    return None


def _depth(value: Any) -> int:
    """How deep a JSON value nests (iteratively: the parser allows more than Python's stack)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        deepest = max(deepest, level)
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        pending.extend((child, level + 1) for child in children)
    return deepest


@bp.post("/register")
def register() -> Any:
    """RFC 7591 client registration."""
    refusal = _throttled() or _body_problem()
    if refusal is not None:
        return refusal
    return authorization.create_endpoint_response("client_registration")


@bp.route("/register/<client_id>", methods=["GET", "PUT", "DELETE"])
def configure(client_id: str) -> Any:
    """RFC 7592: the client reads, replaces or deletes its registration."""
    if request.method == "PUT" and (refusal := _body_problem()) is not None:
        return refusal
    response: Response = authorization.create_endpoint_response("client_configuration")
    return response
