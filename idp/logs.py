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


class JsonFormatter(logging.Formatter):
    """time, level, logger, event, the request fields present, and any exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(log_format: str, level: str) -> None:
    """Send the idp's logs to stderr, one line each, in `log_format` ("json" or "text")."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestContext())
    handler.setFormatter(
        JsonFormatter()
        if log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
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
    request_log.info(
        "request",
        extra={
            **(fields or {}),
            "request_id": request_id,
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
        },
    )
