"""Server-side SSO sessions (rows, so logout works across workers) and CSRF tokens.

The cookie holds a random session handle; the row keeps only its digest. The handle is
replaced at every privilege change (password, second factor, password change), so a
cookie copied before the change is dead after it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, g, session
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import generate_csrf
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy.orm import make_transient_to_detached

from . import backchannel
from .extensions import db
from .leansql import Lean
from .models import SsoSession, Token, User
from .services import now_ts, services

# Cookie keys kept when the session handle changes: ids of flows in flight and the CSRF
# token (Flask-WTF's session key).
CARRIED_OVER = ("bid", "flows", "reset", "admin_login", "admin_sid", "account_sid", "csrf_token")
HANDLE_KEY = "sh"


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed cookie session, its signing serializer built once for the app's keys
    (Flask builds one to open and one to save the cookie of every request)."""

    def __init__(self) -> None:
        self._built: tuple[tuple[Any, ...], URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        built = self._built
        if built is None or built[0] != keys:
            built = self._built = (keys, super().get_signing_serializer(app))
        return built[1]


def clock_now() -> datetime:
    now: datetime = services().clock.now()
    return now


# Built once; the session's user comes along in the same query (kept for current_user:
# the identity map holds it only as long as something else does), since nearly every page
# that reads the one needs the other.
_BY_HANDLE = (
    sa.select(SsoSession, User)
    .outerjoin(User, User.id == SsoSession.user_id)
    .where(SsoSession.handle_hash == sa.bindparam("handle_hash"))
)


def current_sso() -> SsoSession | None:
    """The caller's active SSO session, if the cookie names one that is still valid."""
    if "sso" in g:
        return g.sso  # type: ignore[no-any-return]
    handle = session.get(HANDLE_KEY)
    found = (
        db.session.execute(_BY_HANDLE, {"handle_hash": _digest(handle)}).first()
        if isinstance(handle, str)
        else None
    )
    row, g.sso_user = found if found is not None else (None, None)
    if row is not None and not row.is_active(clock_now()):
        row = None
    g.sso = row
    return row


def current_user() -> User | None:
    row = current_sso()
    if row is None:
        return None
    user = g.get("sso_user")
    if user is None or user.id != row.user_id:
        user = db.session.get(User, row.user_id)
    return None if user is None or user.disabled else user


def _digest(handle: str) -> str:
    return hashlib.sha256(handle.encode()).hexdigest()


def _hand_out(row: SsoSession) -> None:
    """Give the row a new handle and put it in a fresh cookie; the old handle is dead."""
    handle = secrets.token_urlsafe(32)
    row.handle_hash = _digest(handle)
    _to_cookie(row, handle)


def _to_cookie(row: SsoSession, handle: str) -> None:
    carried = {key: session[key] for key in CARRIED_OVER if key in session}
    session.clear()
    session.update(carried)
    session[HANDLE_KEY] = handle
    session.permanent = True
    g.sso = row


def new_session_id() -> str:
    """The id (the public sid) for start_session: known before the row is written, so a
    sign-in can be assessed first and write last."""
    return secrets.token_urlsafe(32)


_SESSIONS = SsoSession.__table__
_INSERT_SESSION = Lean(sa.insert(_SESSIONS).inline(), column_keys=[c.key for c in _SESSIONS.c])


def start_session(
    user: User, amr: list[str], ip: str, user_agent: str, *, session_id: str
) -> SsoSession:
    """Create an SSO session row for a freshly authenticated user and point the cookie at it.
    The row is written in the request's transaction, which the caller commits (a cookie
    naming a row that never was is simply no session)."""
    now = clock_now()
    previous = current_sso()
    if previous is not None:
        # This browser's earlier session ends; tokens already issued from it are kept.
        previous.revoked_at = now
    hours = services().settings.tokens.session_lifetime_hours
    handle = secrets.token_urlsafe(32)
    values = {
        "id": session_id,
        "handle_hash": _digest(handle),
        "user_id": user.id,
        "created_at": now,
        "auth_time": now,
        "amr": amr,
        "expires_at": now + timedelta(hours=hours),
        "revoked_at": None,
        "ip": ip,
        "user_agent": user_agent[:1000],
    }
    # A plain INSERT, then the row attached as loaded: the ORM's flush of a new object costs
    # several times the statement. Later changes to it (a step's new handle) are UPDATEs.
    _INSERT_SESSION.execute(values)
    row = SsoSession(**values)
    make_transient_to_detached(row)
    db.session.add(row)
    _to_cookie(row, handle)
    return row


def elevate_session(row: SsoSession, amr: set[str]) -> None:
    """Add methods to the session's amr after a step passed, under a new handle."""
    row.amr = sorted({*row.amr, *amr})
    _hand_out(row)
    db.session.commit()


def revoke_sessions(
    user_id: str, *, except_sid: str | None = None, reason: str = backchannel.SESSIONS_REVOKED
) -> None:
    """Revoke a user's SSO sessions and every token issued under them, and queue logout
    tokens for their clients (`reason` says why, in the delivery rows)."""
    now = clock_now()
    # Before the revocation: it decides which sessions and tokens were still live.
    queued = backchannel.queue_user_sessions_end(user_id, reason, except_sid=except_sid)
    stmt = sa.update(SsoSession).where(
        SsoSession.user_id == user_id, SsoSession.revoked_at.is_(None)
    )
    if except_sid:
        stmt = stmt.where(SsoSession.id != except_sid)
    db.session.execute(stmt.values(revoked_at=now))
    tokens = sa.update(Token).where(Token.user_id == user_id)
    if except_sid:
        tokens = tokens.where(sa.or_(Token.sid.is_(None), Token.sid != except_sid))
    ts = now_ts()
    db.session.execute(
        tokens.where(Token.access_token_revoked_at == 0).values(access_token_revoked_at=ts)
    )
    db.session.execute(
        tokens.where(Token.refresh_token_revoked_at == 0).values(refresh_token_revoked_at=ts)
    )
    db.session.commit()
    if queued:
        backchannel.wake()


def end_current_session() -> None:
    """Sign the browser out: revoke its session row and the tokens issued under it."""
    row = current_sso()
    queued = 0
    if row is not None:
        queued = backchannel.queue_session_end(row.user_id, row.id, backchannel.LOGOUT)
        ts = now_ts()
        row.revoked_at = clock_now()
        db.session.execute(
            sa.update(Token)
            .where(Token.sid == row.id, Token.access_token_revoked_at == 0)
            .values(access_token_revoked_at=ts)
        )
        db.session.execute(
            sa.update(Token)
            .where(Token.sid == row.id, Token.refresh_token_revoked_at == 0)
            .values(refresh_token_revoked_at=ts)
        )
        db.session.commit()
    if queued:
        backchannel.wake()
    session.clear()
    g.sso = None


def csrf_token() -> str:
    """The page's CSRF token, for the forms' hidden `csrf_token` field: Flask-WTF's, signed,
    against the random value this session keeps (idp.forms checks it)."""
    return str(generate_csrf())
