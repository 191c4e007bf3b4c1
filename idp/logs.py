"""Logs an operator can use: one JSON object per line (or text for a terminal).

Every request ends with one `request` line: method, path (never the query string, which
can hold codes, tokens or an id_token_hint), status, duration, the request id shown on
error and block pages, and, for an authorization attempt, its correlation id, client,
user, outcome and error code. Any other line logged during a request carries its id.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import g, has_request_context

from .metrics import REQUEST_SECONDS

request_log = logging.getLogger("idp.request")

FIELDS = (
    "request_id",
    "correlation_id",
    "client_id",
    "user_id",
    "outcome",
    "error_code",
    "method",
    "path",
    "status",
    "duration_ms",
)


class RequestContext(logging.Filter):
    """Adds the request id (and what the request learned) to records logged inside one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            if not hasattr(record, "request_id") and "request_id" in g:
                record.request_id = g.request_id
            for name, value in g.get("log_fields", {}).items():
                if not hasattr(record, name):
                    setattr(record, name, value)
        return True


def _json_line(
    created: float,
    level: str,
    logger: str,
    event: str,
    fields: Mapping[str, Any],
    exception: str | None = None,
) -> str:
    line: dict[str, Any] = {
        "time": datetime.fromtimestamp(created, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "level": level,
        "logger": logger,
        "event": event,
    }
    for name in FIELDS:
        value = fields.get(name)
        if value is not None:
            line[name] = value
    if exception is not None:
        line["exception"] = exception
    return json.dumps(line, default=str)


class JsonFormatter(logging.Formatter):
    """time, level, logger, event, the request fields present, and any exception."""

    def format(self, record: logging.LogRecord) -> str:
        return _json_line(
            record.created,
            record.levelname,
            record.name,
            record.getMessage(),
            record.__dict__,
            self.formatException(record.exc_info) if record.exc_info else None,
        )


_json_handler: logging.StreamHandler[Any] | None = None
"""The handler `configure` set up for JSON lines: while it is still the only one, a
request's line is written to it directly (see `_write_request_line`)."""


def configure(log_format: str, level: str) -> None:
    """Send the idp's logs to stderr, one line each, in `log_format` ("json" or "text")."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestContext())
    handler.setFormatter(
        JsonFormatter()
        if log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    global _json_handler
    _json_handler = handler if log_format == "json" else None
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Authlib logs issued tokens at DEBUG: never lower than INFO, whatever the level.
    logging.getLogger("authlib").setLevel(max(logging.INFO, root.level))


def finish_request(
    endpoint: str,
    method: str,
    path: str,
    status: int,
    seconds: float,
    request_id: str,
    fields: dict[str, Any] | None = None,
) -> None:
    """A request's duration sample and its one `request` line, whichever path answered
    it (Flask's hook, or idp.fastpath and idp.refusals in front of it). The path only:
    query strings can hold codes, tokens and id_token_hint values."""
    REQUEST_SECONDS.labels(endpoint, method).observe(seconds)
    values = {
        **(fields or {}),
        "request_id": request_id,
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
    }
    if not _write_request_line(values):
        request_log.info("request", extra=values)


def _write_request_line(values: Mapping[str, Any]) -> bool:
    """Write the `request` line straight to the JSON handler, as logging would have, when
    nothing else listens (a record, its filters and its handlers' locks cost about a sixth
    of a JWKS answer's CPU); False when logging must do it."""
    handler = _json_handler
    if handler is None or not request_log.isEnabledFor(logging.INFO):
        return False
    logger: logging.Logger | None = request_log
    while logger is not None and logger.parent is not None:  # up to the root
        if logger.handlers or logger.filters or not logger.propagate:
            return False
        logger = logger.parent
    if logger is None or logger.handlers != [handler] or logger.filters:
        return False
    line = _json_line(time.time(), "INFO", request_log.name, "request", values)
    handler.acquire()
    try:
        handler.stream.write(line + handler.terminator)
        handler.flush()
    finally:
        handler.release()
    return True
