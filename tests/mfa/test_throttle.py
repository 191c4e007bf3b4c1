from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest

from mfa.errors import Throttled
from mfa.throttle import TotpThrottle

from .conftest import FIXED_NOW

LAST = FIXED_NOW
DEFAULT = TotpThrottle()


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


def burst(count: int, *, ending: datetime = LAST, spacing_seconds: float = 10) -> list[datetime]:
    return [ending - seconds(spacing_seconds * i) for i in range(count)]


def test_defaults() -> None:
    assert (DEFAULT.max_failures, DEFAULT.window_seconds, DEFAULT.lockout_seconds) == (5, 300, 300)


@pytest.mark.parametrize(
    ("failures", "retry_after_seconds"),
    [(0, None), (4, None), (5, 300), (6, 300)],
    ids=["none", "max-minus-one-allowed", "max-locks", "max-plus-one-locks"],
)
def test_failure_count_boundary(failures: int, retry_after_seconds: int | None) -> None:
    times = burst(failures)
    if retry_after_seconds is None:
        DEFAULT.check(times, LAST)  # allowed: returns without raising
    else:
        with pytest.raises(Throttled) as raised:
            DEFAULT.check(times, LAST)
        assert raised.value.retry_after_seconds == retry_after_seconds


@pytest.mark.parametrize(
    ("elapsed_seconds", "retry_after_seconds"),
    [(1, 299), (299, 1), (299.5, 1), (300, None), (301, None)],
    ids=[
        "just-locked",
        "one-second-left",
        "half-second-left-rounds-up",
        "lockout-elapsed-exactly",
        "lockout-elapsed",
    ],
)
def test_lockout_edge(elapsed_seconds: float, retry_after_seconds: int | None) -> None:
    now = LAST + seconds(elapsed_seconds)
    if retry_after_seconds is None:
        DEFAULT.check(burst(5), now)  # allowed: returns without raising
    else:
        with pytest.raises(Throttled) as raised:
            DEFAULT.check(burst(5), now)
        assert raised.value.retry_after_seconds == retry_after_seconds


@pytest.mark.parametrize(
    ("first_failure_before_last_seconds", "locked"),
    [(300, False), (299, True)],
    ids=["first-failure-on-window-edge-excluded", "first-failure-inside-window"],
)
def test_window_edge(first_failure_before_last_seconds: int, locked: bool) -> None:
    times = [LAST - seconds(first_failure_before_last_seconds), *burst(4)]
    if locked:
        with pytest.raises(Throttled):
            DEFAULT.check(times, LAST)
    else:
        DEFAULT.check(times, LAST)  # allowed: returns without raising


def test_lockout_runs_full_length_after_spread_out_failures() -> None:
    # Counting the window back from now would see only 2 failures at LAST + 200 s
    # and cut the lockout short; it is anchored at the failure that triggered it.
    times = [LAST - seconds(s) for s in (290, 200, 100, 50, 0)]
    with pytest.raises(Throttled) as raised:
        DEFAULT.check(times, LAST + seconds(200))
    assert raised.value.retry_after_seconds == 100


def test_old_lockout_does_not_carry_over() -> None:
    times = [*burst(5, ending=LAST - seconds(1000)), LAST]
    DEFAULT.check(times, LAST + seconds(1))  # allowed: returns without raising


def test_order_of_failure_times_does_not_matter() -> None:
    with pytest.raises(Throttled) as raised:
        DEFAULT.check(list(reversed(burst(5))), LAST + seconds(10))
    assert raised.value.retry_after_seconds == 290


@pytest.mark.parametrize(
    ("failures", "elapsed_seconds", "retry_after_seconds"),
    [(2, 0, None), (3, 0, 900), (3, 899, 1), (3, 900, None)],
    ids=["below-max", "at-max", "lockout-last-second", "lockout-over"],
)
def test_custom_settings(
    failures: int, elapsed_seconds: int, retry_after_seconds: int | None
) -> None:
    throttle = TotpThrottle(max_failures=3, window_seconds=60, lockout_seconds=900)
    times = burst(failures, spacing_seconds=20)
    now = LAST + seconds(elapsed_seconds)
    if retry_after_seconds is None:
        throttle.check(times, now)  # allowed: returns without raising
    else:
        with pytest.raises(Throttled) as raised:
            throttle.check(times, now)
        assert raised.value.retry_after_seconds == retry_after_seconds


@pytest.mark.parametrize(
    "settings",
    [{"max_failures": 0}, {"window_seconds": 0}, {"lockout_seconds": -1}],
    ids=["zero-failures", "zero-window", "negative-lockout"],
)
def test_nonsense_settings_are_rejected(settings: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=next(iter(settings))):
        TotpThrottle(**settings)


def test_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT.max_failures = 100  # type: ignore[misc]


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        DEFAULT.check(burst(5), LAST.replace(tzinfo=None))
