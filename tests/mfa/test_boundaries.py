from __future__ import annotations

import logging
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pyotp
import pytest

from mfa import recovery, totp
from mfa.errors import (
    InvalidCode,
    InvalidRecoveryCode,
    MfaError,
    ReplayedCode,
    Throttled,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_mfa_imports_no_web_or_database_stack() -> None:
    probe = (
        "import sys, mfa, mfa.errors, mfa.totp, mfa.throttle, mfa.recovery\n"
        "banned = ('flask', 'sqlalchemy', 'authlib')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0].split('_')[0] in banned))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "error",
    [InvalidCode, ReplayedCode, Throttled, InvalidRecoveryCode],
    ids=["invalid-code", "replayed-code", "throttled", "invalid-recovery-code"],
)
def test_errors_share_a_base(error: type[Exception]) -> None:
    assert issubclass(error, MfaError)


def test_throttled_carries_retry_after() -> None:
    error = Throttled(42)
    assert error.retry_after_seconds == 42
    assert "42" in str(error)


def assert_reveals_nothing(error: BaseException, *secrets: str) -> None:
    exposed = " ".join([str(error), repr(error), *map(str, error.args)])
    for secret in secrets:
        assert secret not in exposed
    # A chained exception would be printed with the traceback too.
    assert error.__cause__ is None
    assert error.__context__ is None


def test_totp_failures_reveal_no_code_or_secret(
    now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    step = int(now.timestamp()) // 30
    good = pyotp.TOTP(SECRET).generate_otp(step)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    with pytest.raises(InvalidCode) as invalid:
        totp.verify(SECRET, wrong, now=now, last_used_step=None)
    assert_reveals_nothing(invalid.value, wrong, good, SECRET)
    with pytest.raises(ReplayedCode) as replayed:
        totp.verify(SECRET, good, now=now, last_used_step=step)
    assert_reveals_nothing(replayed.value, good, SECRET)
    for value in (wrong, good, SECRET):
        assert value not in caplog.text


def test_recovery_failure_reveals_no_code(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    stored = [recovery.hash_recovery_code("k7tq-9m2x-pv4c")]
    with pytest.raises(InvalidRecoveryCode) as invalid:
        recovery.verify_recovery_code("k7tq-9m2x-pv4d", stored)
    assert_reveals_nothing(invalid.value, "k7tq-9m2x-pv4d", "k7tq9m2xpv4d", "k7tq-9m2x-pv4c")
    assert "pv4" not in caplog.text
