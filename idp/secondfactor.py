"""Second-factor checks: TOTP and recovery codes, their throttle, and failure logging."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from mfa import totp
from mfa.errors import MfaError, ReplayedCode, Throttled
from mfa.recovery import verify_recovery_code
from mfa.throttle import TotpThrottle
from risk.context import SignInKind

from .decision import assess, build_context
from .extensions import db
from .models import SignIn, User
from .secretbox import unseal
from .sessions import clock_now
from .signin_log import record

THROTTLE = TotpThrottle(max_failures=5, window_seconds=300, lockout_seconds=300)
MFA_FAILED = 500121  # Entra: authentication failed during the strong authentication request
LOCKED_OUT = 50053


def claim_step(user: User, step: int) -> None:
    """Record the accepted time step atomically; a step not above the last is a replay."""
    claimed = db.session.execute(
        sa.update(User)
        .where(User.id == user.id,
               sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
    )
    db.session.commit()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise ReplayedCode()


def check_code(user: User, code: str) -> str:
    """Verify the user's TOTP (or a recovery) code and return the method ("otp" or
    "recovery"); raise MfaError if it is wrong, replayed or throttled."""
    now = clock_now()
    failures = db.session.scalars(
        sa.select(SignIn.created_at).where(
            SignIn.user_id == user.id, SignIn.kind == "mfa", SignIn.outcome == "failure",
            SignIn.created_at >= now - timedelta(seconds=THROTTLE.window_seconds),
        )
    ).all()
    THROTTLE.check(failures, now)
    cleaned = code.replace(" ", "").replace("-", "")
    if user.has_totp and len(cleaned) > 6 and user.recovery_code_hashes:
        index = verify_recovery_code(code, user.recovery_code_hashes)
        hashes = list(user.recovery_code_hashes)
        del hashes[index]
        user.recovery_code_hashes = hashes
        db.session.commit()
        return "recovery"
    step = totp.verify(unseal(user.totp_secret or ""), code, now=now,
                       last_used_step=user.totp_last_step)
    claim_step(user, step)
    return "otp"


def record_failure(user: User, exc: MfaError, *, correlation_id: str,
                   client_id: str | None) -> None:
    """Log a wrong code; repeated ones after a correct password raise mfaFraud."""
    ctx = build_context(kind=SignInKind.MFA_FAILED, user=user, username=user.username,
                        client_id=client_id or "", correlation_id=correlation_id)
    # The engine counts the attempt it evaluates, so it runs before the attempt is logged.
    if not isinstance(exc, Throttled):
        assess(ctx, user, None)
    code = LOCKED_OUT if isinstance(exc, Throttled) else MFA_FAILED
    record(correlation_id=correlation_id, kind="mfa", outcome="failure", user=user,
           username=None, client_id=client_id, error_code=code, reason=type(exc).__name__)


def error_message(exc: MfaError) -> str:
    """What the person is told about a refused code."""
    if isinstance(exc, Throttled):
        return (f"Too many wrong codes. Wait {exc.retry_after_seconds} seconds, then try again "
                f"(error {LOCKED_OUT}).")
    if isinstance(exc, ReplayedCode):
        return "That code was already used. Wait for the next code and enter it."
    return "That code is not right. Enter the current code from your authenticator app."
