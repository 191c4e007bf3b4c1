"""The risk package's error hierarchy."""

from __future__ import annotations


class RiskError(Exception):
    """Base class of every error raised by `risk`."""


class RiskConfigError(RiskError):
    """A `[risk]` setting is invalid; the message is one line starting with `risk.<key>: `."""


class FeedError(RiskConfigError):
    """A configured feed file is missing, unreadable or malformed."""

    def __init__(self, key: str, path: str, reason: str) -> None:
        super().__init__(f"risk.{key}: cannot read {path}: {reason}")
        self.key = key
        self.path = path
        self.reason = reason
