from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from risk.engine import RiskEngine
from risk.feeds import Feeds
from risk.levels import Level
from risk.repository import InMemoryHistoryRepository
from risk.settings import RiskSettings
from tests.risk.conftest import make_ctx, types_of

LEAKED = "leakedCredentials"
SECRET = "Summer2024!"


@pytest.fixture
def leaked_engine(settings: RiskSettings, tmp_path: Path) -> RiskEngine:
    rows = sorted(
        [
            f"{hashlib.sha1(SECRET.encode()).hexdigest().upper()}:4211",
            f"{'0' * 39}1:2",
            f"{'F' * 39}E:9",
        ]
    )
    path = tmp_path / "pwned.txt"
    path.write_text("\n".join(rows) + "\n", encoding="ascii")
    configured = replace(settings, leaked_passwords=str(path))
    return RiskEngine(configured, Feeds.load(configured), InMemoryHistoryRepository())


@pytest.mark.parametrize(
    ("password", "valid", "fires"),
    [
        (SECRET, True, True),
        (SECRET, False, False),
        ("Summer2024?", True, False),
        (None, None, False),
    ],
    ids=["leaked-and-correct", "leaked-but-wrong-guess", "not-leaked", "sso-no-password"],
)
def test_only_a_correct_leaked_password_flags_the_user(
    leaked_engine: RiskEngine, password: str | None, valid: bool | None, fires: bool
) -> None:
    result = leaked_engine.evaluate(make_ctx(password=password, password_valid=valid))
    assert (LEAKED in types_of(result)) is fires
    if fires:
        (detection,) = result.user_detections
        assert detection.level is Level.HIGH
        assert detection.evidence_dict == {"times_seen": 4211}
        assert result.sign_in_risk_level is Level.NONE


def test_password_and_its_hash_never_reach_logs_repr_or_evidence(
    leaked_engine: RiskEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="risk")
    ctx = make_ctx(password=SECRET, password_valid=True)
    result = leaked_engine.evaluate(ctx)
    digest = hashlib.sha1(SECRET.encode()).hexdigest()
    shown = " ".join(
        [repr(ctx), repr(result), caplog.text, *(d.describe() for d in result.detections)]
    )
    assert LEAKED in shown
    assert SECRET not in shown
    assert digest not in shown.lower()
