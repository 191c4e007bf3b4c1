"""OpenID Connect provider with real-time, explainable risk-based sign-in."""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
