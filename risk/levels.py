"""Risk levels, ordered so that policies can compare them with `>=`."""

from __future__ import annotations

from enum import Enum
from functools import total_ordering


@total_ordering
class Level(Enum):
    """A risk level as Microsoft Graph spells it: none < low < medium < high."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        """Position in the order none=0 .. high=3."""
        return _ORDER.index(self)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank < other.rank

    def raised(self, steps: int = 1) -> Level:
        """This level moved up by `steps`, capped at HIGH."""
        return _ORDER[min(self.rank + steps, len(_ORDER) - 1)]

    def lowered(self, steps: int = 1) -> Level:
        """This level moved down by `steps`, floored at NONE."""
        return _ORDER[max(self.rank - steps, 0)]

    @classmethod
    def parse(cls, text: str) -> Level:
        """The level named by `text` ("none", "low", "medium", "high"); ValueError otherwise."""
        try:
            return cls(text.strip().lower())
        except (ValueError, AttributeError):
            allowed = ", ".join(level.value for level in _ORDER)
            raise ValueError(f"must be one of {allowed}, got {text!r}") from None

    def __str__(self) -> str:
        return self.value


_ORDER = (Level.NONE, Level.LOW, Level.MEDIUM, Level.HIGH)
