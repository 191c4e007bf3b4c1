"""Failure-count throttling for TOTP checks; pure, the caller stores the failure times."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from mfa.errors import Throttled


@dataclass(frozen=True)
class TotpThrottle:
    """Lock TOTP checks for ``lockout_seconds`` after ``max_failures`` within ``window_seconds``."""

    max_failures: int = 5
    window_seconds: int = 300
    lockout_seconds: int = 300

    def __post_init__(self) -> None:
        for name in ("max_failures", "window_seconds", "lockout_seconds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    def check(self, failure_times: Sequence[datetime], now: datetime) -> None:
        """Return if a code may be checked at ``now``, else raise Throttled."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be a timezone-aware datetime")
        if not failure_times:
            return
        last = max(failure_times)
        # The window ends at the last failure, not at now: once a burst triggers the
        # lockout it runs its full length instead of shrinking as old failures age out.
        window_start = last - timedelta(seconds=self.window_seconds)
        recent = sum(1 for failed_at in failure_times if failed_at > window_start)
        if recent < self.max_failures:
            return
        remaining = (last + timedelta(seconds=self.lockout_seconds) - now).total_seconds()
        if remaining > 0:
            # Rounded up so a client that waits exactly this long is let through.
            raise Throttled(math.ceil(remaining))
