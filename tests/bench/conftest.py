"""Put bench/ on the import path (its scripts import each other as top-level modules) and
generate one small dataset for the whole session."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

SEED = 7
LOGINS = 3000


@pytest.fixture(scope="session")
def sample_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated log with device IDs (3,000 rows or so)."""
    import rba_synth

    path = tmp_path_factory.mktemp("rba") / "sample.csv"
    rba_synth.generate(path, SEED, LOGINS, device_ids=True)
    return path


@pytest.fixture(scope="session")
def sample_rows(sample_path: Path) -> list[dict[str, str]]:
    """The small log's rows."""
    with open(sample_path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
