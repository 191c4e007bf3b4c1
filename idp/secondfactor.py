"""Second-factor checks: TOTP and recovery codes, their throttle, and failure logging."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from mfa import totp
from mfa.errors import MfaError, ReplayedCode, Throttled
from mfa.recovery import hash_recovery_code, new_recovery_codes, verify_recovery_code
from mfa.throttle import TotpThrottle
from risk.context import SignInKind

from . import protection
from .decision import assess, build_context
from .extensions import db
from .i18n import gettext
from .models import RecoveryCode, User
from .secretbox import unseal
from .sessions import clock_now
from .signin_log import record

THROTTLE = TotpThrottle(max_failures=5, window_seconds=300, lockout_seconds=300)
MFA_FAILED = 500121  # Entra: authentication failed during the strong authentication request
LOCKED_OUT = 50053


def claim_step(user: User | Nobody, step: int) -> None:
    """Record the accepted time step atomically; a step not above the last is a replay."""
    claimed = db.session.execute(
        sa.update(User)
        .where(
            User.id == user.id, sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step)
        )
        .values(totp_last_step=step)
    )
    db.session.commit()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise ReplayedCode()


def _reserve_attempt(user: User | Nobody, scope: str) -> int:
    """Count this code attempt before checking it, so that across workers at most
    THROTTLE.max_failures codes are checked in a window; raise Throttled beyond. Returns
    the attempt's number in its window."""
    store = protection.counters()
    now = int(clock_now().timestamp())
    locked = store.get(f"{scope}-lock:{user.id}", now)
    if locked is not None:
        raise Throttled(max(1, locked[1] - now))
    attempt, _ = store.incr(f"{scope}:{user.id}", THROTTLE.window_seconds, now)
    if attempt > THROTTLE.max_failures:
        _lock(user, scope, now)
        raise Throttled(THROTTLE.lockout_seconds)
    return attempt


def _lock(user: User | Nobody, scope: str, now: int) -> None:
    protection.counters().put(f"{scope}-lock:{user.id}", 1, now + THROTTLE.lockout_seconds, now)


@dataclass(frozen=True)
class Nobody:
    """Stands for a user name with no usable second factor, so that checking its code costs
    what checking a real one does and always fails."""

    username: str
    has_totp: bool = True
    totp_secret: None = None
    totp_last_step: None = None

    @property
    def id(self) -> str:
        return "name:" + self.username.casefold()


# Secrets nobody holds: the stand-ins for a missing TOTP secret and unused recovery codes.
_NO_SECRET = totp.new_secret()
_NO_CODE_HASH = hash_recovery_code(new_recovery_codes(1)[0])
RECOVERY_CODES = 10


def _claim_recovery_code(user: User | Nobody, code: str) -> None:
    """Spend the matching unused recovery code with one conditional UPDATE, or raise."""
    rows = db.session.execute(
        sa.select(RecoveryCode.id, RecoveryCode.code_hash).where(
            RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
        )
    ).all()
    hashes = [row.code_hash for row in rows]
    # As many hashes to check for every user, so the time says nothing of how many are left.
    hashes += [_NO_CODE_HASH] * (RECOVERY_CODES - len(hashes))
    index = verify_recovery_code(code, hashes)
    claimed = db.session.execute(
        sa.update(RecoveryCode)
        .where(RecoveryCode.id == rows[index].id, RecoveryCode.used_at.is_(None))
        .values(used_at=clock_now())
    )
    db.session.commit()
    if getattr(claimed, "rowcount", 0) != 1:
        raise ReplayedCode()


def check_code(user: User | Nobody, code: str, *, scope: str = "mfa") -> str:
    """Verify the user's TOTP (or a recovery) code and return the method ("otp" or
    "recovery"); raise MfaError if it is wrong, replayed or throttled. `scope` names the
    throttle: the sign-in challenge and self-service reset count apart."""
    attempt = _reserve_attempt(user, scope)
    cleaned = code.replace(" ", "").replace("-", "")
    try:
        if user.has_totp and len(cleaned) > 6:
            _claim_recovery_code(user, code)
            method = "recovery"
        else:
            secret = unseal(user.totp_secret) if user.totp_secret else _NO_SECRET
            step = totp.verify(secret, code, now=clock_now(), last_used_step=user.totp_last_step)
            claim_step(user, step)
            method = "otp"
    except MfaError:
        if attempt >= THROTTLE.max_failures:
            # The window's last allowed attempt failed: locked from now, not from the next.
            _lock(user, scope, int(clock_now().timestamp()))
        raise
    protection.counters().delete(f"{scope}:{user.id}")
    return method


def record_failure(
    user: User, exc: MfaError, *, correlation_id: str, client_id: str | None
) -> None:
    """Log a wrong code; repeated ones after a correct password raise mfaFraud."""
    ctx = build_context(
        kind=SignInKind.MFA_FAILED,
        user=user,
        username=user.username,
        client_id=client_id or "",
        correlation_id=correlation_id,
    )
    # The engine counts the attempt it evaluates, so it runs before the attempt is logged.
    if not isinstance(exc, Throttled):
        assess(ctx, user, None)
    code = LOCKED_OUT if isinstance(exc, Throttled) else MFA_FAILED
    record(
        correlation_id=correlation_id,
        kind="mfa",
        outcome="failure",
        user=user,
        username=None,
        client_id=client_id,
        error_code=code,
        reason=type(exc).__name__,
    )


def error_message(exc: MfaError) -> str:
    """What the person is told about a refused code."""
    if isinstance(exc, Throttled):
        return gettext(
            "Too many wrong codes. Wait %(seconds)d seconds, then try again (error %(code)d).",
            seconds=exc.retry_after_seconds,
            code=LOCKED_OUT,
        )
    if isinstance(exc, ReplayedCode):
        return gettext("That code was already used. Wait for the next code and enter it.")
    return gettext("That code is not right. Enter the current code from your authenticator app.")
