"""The app's clock; tests swap in a frozen one instead of sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


def now_ts() -> int:
    """Seconds since the epoch, as the token, code and session rows store them."""
    return int(time.time())


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)
