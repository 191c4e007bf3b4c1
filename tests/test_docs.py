"""The operator's reference names every configuration key the code accepts."""

from __future__ import annotations

import typing
from dataclasses import fields, is_dataclass
from pathlib import Path

from idp.config import Settings
from risk.settings import RiskSettings

DOC = (Path(__file__).resolve().parent.parent / "docs" / "operating.md").read_text()


def _keys(cls: type, prefix: str = "") -> list[str]:
    found = []
    hints = typing.get_type_hints(cls)
    for field in fields(cls):
        if field.name in ("demo", "risk"):
            continue
        if is_dataclass(hints[field.name]):
            found += _keys(hints[field.name], f"{prefix}{field.name}.")
        else:
            found.append(f"{prefix}{field.name}")
    return found


def test_every_key_is_in_the_reference():
    keys = _keys(Settings) + [f"risk.{f.name}" for f in fields(RiskSettings)]
    # A row names a key in full, or its table's prefix and then the last part.
    missing = [
        key
        for key in keys
        if f"`{key}`" not in DOC
        and not (f"`{key.rsplit('.', 1)[0]}." in DOC and f"`{key.rsplit('.', 1)[-1]}`" in DOC)
    ]
    assert missing == []
