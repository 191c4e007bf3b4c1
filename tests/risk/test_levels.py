from __future__ import annotations

import pytest

from risk.levels import Level


def test_levels_are_ordered_none_low_medium_high() -> None:
    assert sorted([Level.HIGH, Level.NONE, Level.MEDIUM, Level.LOW]) == [
        Level.NONE,
        Level.LOW,
        Level.MEDIUM,
        Level.HIGH,
    ]
    assert Level.MEDIUM >= Level.LOW and Level.LOW < Level.MEDIUM and Level.HIGH > Level.MEDIUM


@pytest.mark.parametrize(
    ("text", "expected"),
    [("none", Level.NONE), ("low", Level.LOW), (" Medium ", Level.MEDIUM), ("HIGH", Level.HIGH)],
    ids=["none", "low", "medium-padded", "high-upper"],
)
def test_parse_accepts_the_four_names(text: str, expected: Level) -> None:
    assert Level.parse(text) is expected
    assert expected.value == expected.value.lower()


@pytest.mark.parametrize("text", ["never", "", "severe"], ids=["never", "empty", "unknown"])
def test_parse_rejects_other_words_and_lists_the_allowed_ones(text: str) -> None:
    with pytest.raises(ValueError, match="must be one of none, low, medium, high"):
        Level.parse(text)


@pytest.mark.parametrize(
    ("level", "steps", "up", "down"),
    [
        (Level.NONE, 1, Level.LOW, Level.NONE),
        (Level.MEDIUM, 1, Level.HIGH, Level.LOW),
        (Level.HIGH, 1, Level.HIGH, Level.MEDIUM),
        (Level.LOW, 2, Level.HIGH, Level.NONE),
    ],
    ids=["none", "medium", "high-capped", "two-steps"],
)
def test_raised_and_lowered_stay_within_bounds(
    level: Level, steps: int, up: Level, down: Level
) -> None:
    assert level.raised(steps) is up
    assert level.lowered(steps) is down
