"""The admin API under /api/v1, shaped like Microsoft Graph's identityProtection."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
