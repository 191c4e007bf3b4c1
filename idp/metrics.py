"""Prometheus metrics (prometheus_client): sign-ins, detections, lockouts, request times.

Under `idp serve` every gunicorn worker writes to PROMETHEUS_MULTIPROC_DIR (set by the
serve command) and /metrics adds them up; a single process (the demo, tests) uses the
default registry.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

SIGN_INS = Counter(
    "idp_sign_ins",
    "Sign-in log rows by kind, outcome and error code",
    ["kind", "outcome", "error_code"],
)
DETECTIONS = Counter(
    "idp_risk_detections", "Stored risk detections by riskEventType", ["risk_event_type"]
)
LOCKOUTS = Counter("idp_lockouts", "Accounts locked and addresses throttled", ["reason"])
REQUEST_SECONDS = Histogram(
    "idp_request_duration_seconds", "Request duration by endpoint", ["endpoint", "method"]
)
BACKCHANNEL_LOGOUTS = Counter(
    "idp_backchannel_logout",
    "Back-channel logout attempts by result (delivered, failed, "
    "refused) and rows given up (gave_up)",
    ["result"],
)


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus text format, across workers when there are several."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        # prometheus_client leaves MultiProcessCollector.__init__ unannotated.
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
