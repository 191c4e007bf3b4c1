from __future__ import annotations

from datetime import UTC, datetime

import pytest

# Fifteen seconds into a 30 s step, so one step either side is unambiguous.
FIXED_NOW = datetime(2026, 3, 14, 9, 26, 45, tzinfo=UTC)


@pytest.fixture
def now() -> datetime:
    return FIXED_NOW
