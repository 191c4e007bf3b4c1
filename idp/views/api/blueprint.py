"""The admin API's blueprint (`api`, under /api/v1), shared by the route modules."""

from __future__ import annotations

from flask import Blueprint

# Named after the package so endpoints stay `api.<view function>`.
bp = Blueprint("api", __name__.rpartition(".")[0], url_prefix="/api/v1")
