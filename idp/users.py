"""Creating users and setting passwords (shared by the CLI and the admin API)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from .errors import IdpError
from .extensions import db
from .models import Consent, User
from .services import services


def find_user(name: str) -> User:
    """The user with this user name, or an error naming it."""
    user: User | None = db.session.scalar(sa.select(User).filter_by(username=name))
    if user is None:
        raise IdpError(f"no user named {name!r}")
    return user


def create_user(
    app: Flask,
    name: str,
    password: str,
    *,
    email: str | None = None,
    groups: list[str] | None = None,
) -> User:
    """Create a user with a hashed password."""
    name = name.strip()
    if not name or len(name) > 150 or any(c.isspace() for c in name):
        raise IdpError("a user name is 1 to 150 characters without spaces")
    if db.session.scalar(sa.select(User.id).filter_by(username=name)) is not None:
        raise IdpError(f"a user named {name!r} already exists")
    hasher = services(app).passwords
    hasher.check_policy(password)
    now = services(app).clock.now()
    user = User(
        username=name,
        email=email,
        groups=sorted(set(groups or [])),
        password_hash=hasher.hash(password),
        password_changed_at=now,
        created_at=now,
        password_must_change=False,
        disabled=False,
    )
    db.session.add(user)
    db.session.commit()
    return user


def set_password(app: Flask, user: User, password: str, *, temporary: bool = False) -> None:
    """Replace a user's password; a temporary one must be changed at the next sign-in."""
    hasher = services(app).passwords
    hasher.check_policy(password)
    user.password_hash = hasher.hash(password)
    user.password_changed_at = services(app).clock.now()
    user.password_must_change = temporary
    db.session.commit()


def ensure_user(
    app: Flask,
    name: str,
    password: str,
    *,
    email: str | None = None,
    groups: list[str] | None = None,
) -> User:
    """Create the user, or reset its password if it exists (used by `idp demo`)."""
    user: User | None = db.session.scalar(sa.select(User).filter_by(username=name))
    if user is None:
        return create_user(app, name, password, email=email, groups=groups)
    set_password(app, user, password)
    return user


def set_disabled(user: User, disabled: bool) -> None:
    """Disable (signed out everywhere, no sign-in, no token use) or enable a user."""
    from .backchannel import USER_DISABLED
    from .sessions import revoke_sessions

    user.disabled = disabled
    db.session.commit()
    if disabled:
        revoke_sessions(user.id, reason=USER_DISABLED)


def delete_user(user: User) -> None:
    """Delete a user with their sessions, tokens, factors and risk records."""
    from .backchannel import USER_DELETED
    from .sessions import revoke_sessions

    revoke_sessions(user.id, reason=USER_DELETED)
    # SQLite does not enforce the foreign key's ON DELETE CASCADE: the consents go by hand.
    db.session.execute(sa.delete(Consent).where(Consent.user_id == user.id))
    db.session.delete(user)
    db.session.commit()


def reset_second_factors(user: User, initiated_by: str) -> None:
    """Remove the user's authenticator, passkeys and recovery codes (lost phone): the
    registration policy applies again. Recorded in the user's risk history; sessions end."""
    from .backchannel import SECOND_FACTORS_RESET
    from .models import RecoveryCode, RiskHistory, UserRisk, WebAuthnCredential
    from .sessions import clock_now, revoke_sessions

    user.totp_secret = None
    user.totp_registered_at = None
    user.totp_last_step = None
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.execute(sa.delete(WebAuthnCredential).where(WebAuthnCredential.user_id == user.id))
    db.session.expire(user, ["passkeys"])
    risk = db.session.get(UserRisk, user.id)
    db.session.add(
        RiskHistory(
            user_id=user.id,
            at=clock_now(),
            initiated_by=initiated_by,
            activity="secondFactorsReset",
            risk_level=risk.risk_level if risk else "none",
            risk_state=risk.risk_state if risk else "none",
            risk_detail=risk.risk_detail if risk else "none",
            note="authenticator app, passkeys and recovery codes removed",
        )
    )
    db.session.commit()
    revoke_sessions(user.id, reason=SECOND_FACTORS_RESET)
