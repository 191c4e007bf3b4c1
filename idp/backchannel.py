"""OpenID Connect Back-Channel Logout 1.0: tell clients that a session ended.

When a session ends (sign-out, an admin's revoke, a password change, a confirmed
compromise ...) every client that received a code or token under it and registered a
`backchannel_logout_uri` is owed a logout token. The debt is a `backchannel_logouts` row
written in the transaction that revokes the session, so nothing is lost when a process
dies; the rows are delivered after the user's request, by a background thread in served
workers and by `idp backchannel deliver` (cron), with retries and backoff. A worker
claims a row with a conditional UPDATE (a lease) before sending, so two never send it at
once.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import sqlalchemy as sa
from flask import Flask, current_app
from joserfc import jwt

from .extensions import db
from .metrics import BACKCHANNEL_LOGOUTS
from .models import AuthorizationCode, BackchannelLogout, Client, SsoSession, Token
from .services import now_ts, services

log = logging.getLogger("idp.backchannel")

EVENT = "http://schemas.openid.net/event/backchannel-logout"
TOKEN_LIFETIME_SECONDS = 120
TIMEOUT_SECONDS = 5.0
# Waits after the 1st, 2nd ... failed attempt; after the last one the row is given up.
BACKOFF = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=6),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
# A claimed row is left alone this long: far longer than an attempt (name resolution,
# connecting, and at most twice the timeout for the answer), so a worker that died
# mid-attempt only delays the row, and a live one never races another over it.
LEASE = timedelta(minutes=5)
SWEEP_SECONDS = 30.0
BATCH = 100
# Delivered and given-up rows are kept this long (the record of who was told what), then
# deleted by the workers' threads and `idp backchannel deliver`.
RETAIN = timedelta(days=30)
PRUNE_SECONDS = 3600.0
ERROR_CHARS = 300

# Why a session ended, as recorded in each row.
LOGOUT = "logout"
ADMIN_REVOKE = "admin_revoke"
PASSWORD_CHANGE = "password_change"
PASSWORD_RESET = "password_reset"
RISK_REMEDIATION = "risk_remediation"
COMPROMISED = "compromised"
TEMPORARY_PASSWORD = "temporary_password"
USER_REPORTED = "user_reported"
USER_DISABLED = "user_disabled"
USER_DELETED = "user_deleted"
SECOND_FACTORS_RESET = "second_factors_reset"
SESSIONS_REVOKED = "sessions_revoked"
CONSENT_REVOKED = "consent_revoked"


def logout_uri(client: Client) -> str | None:
    """The client's registered back-channel logout URI, if any."""
    uri = client.client_metadata.get("backchannel_logout_uri")
    return uri if isinstance(uri, str) and uri else None


def session_required(client: Client) -> bool:
    """Whether the client wants a `sid` in every logout token."""
    return client.client_metadata.get("backchannel_logout_session_required") is True


def _now() -> datetime:
    now: datetime = services().clock.now()
    return now


def queue_session_end(user_id: str, sid: str, reason: str) -> int:
    """Add a row for each client used in one session that is ending; the caller commits."""
    codes = sa.select(AuthorizationCode.client_id, AuthorizationCode.sid).where(
        AuthorizationCode.user_id == user_id, AuthorizationCode.sid == sid
    )
    tokens = sa.select(Token.client_id, Token.sid).where(Token.user_id == user_id, Token.sid == sid)
    return _queue(user_id, db.session.execute(sa.union(codes, tokens)), reason)


def queue_user_sessions_end(user_id: str, reason: str, *, except_sid: str | None = None) -> int:
    """Add rows for every session of the user that is ending (all but `except_sid`), and for
    clients still holding live tokens of the user; the caller commits. Call it before the
    sessions and tokens are revoked."""
    active = sa.select(SsoSession.id).where(
        SsoSession.user_id == user_id,
        SsoSession.revoked_at.is_(None),
        SsoSession.expires_at > _now(),
    )
    if except_sid:
        active = active.where(SsoSession.id != except_sid)
    # A token outliving its SSO session (a refresh token lasts days) still keeps the
    # client signed in, so its client is told too.
    live = _live_token()
    codes = sa.select(AuthorizationCode.client_id, AuthorizationCode.sid).where(
        AuthorizationCode.user_id == user_id, AuthorizationCode.sid.in_(active)
    )
    tokens = sa.select(Token.client_id, Token.sid).where(
        Token.user_id == user_id, sa.or_(Token.sid.in_(active), live)
    )
    if except_sid:
        tokens = tokens.where(sa.or_(Token.sid.is_(None), Token.sid != except_sid))
    return _queue(user_id, db.session.execute(sa.union(codes, tokens)), reason)


def queue_client_access_end(user_id: str, client_id: str, reason: str) -> int:
    """Add a row per session in which one client still holds a live token of the user (its
    access is being taken away); the caller commits. Call it before the tokens are revoked."""
    tokens = sa.select(Token.client_id, Token.sid).where(
        Token.user_id == user_id, Token.client_id == client_id, _live_token()
    )
    return _queue(user_id, db.session.execute(tokens), reason)


def _live_token() -> Any:
    # Token rows carry the app clock's time in whole seconds (now_ts).
    ts = now_ts()
    return sa.or_(
        sa.and_(
            Token.refresh_token.is_not(None),
            Token.refresh_token_revoked_at == 0,
            Token.refresh_token_expires_at > ts,
        ),
        sa.and_(Token.access_token_revoked_at == 0, Token.issued_at + Token.expires_in > ts),
    )


def _queue(user_id: str, pairs: Iterable[Any], reason: str) -> int:
    wanted = {(row[0], row[1]) for row in pairs}
    if not wanted:
        return 0
    clients = {
        c.client_id: c
        for c in db.session.scalars(
            sa.select(Client).where(Client.client_id.in_({cid for cid, _ in wanted}))
        )
        if logout_uri(c)
    }
    now = _now()
    queued = 0
    for client_id, sid in sorted(wanted, key=lambda pair: (pair[0], pair[1] or "")):
        client = clients.get(client_id)
        if client is None:
            continue
        if sid is None and session_required(client):
            # The client asked for a sid in every token, and this grant had none to give.
            log.info(
                "back-channel logout to client %s skipped: it requires a sid and the "
                "grant has none (%s)",
                client_id,
                reason,
                extra={"client_id": client_id},
            )
            continue
        db.session.add(
            BackchannelLogout(
                client_id=client_id,
                user_id=user_id,
                sid=sid,
                jti=secrets.token_urlsafe(24),
                reason=reason,
                created_at=now,
                attempts=0,
                next_attempt_at=now,
            )
        )
        queued += 1
    return queued


def logout_token(
    *, client_id: str, user_id: str | None, sid: str | None, jti: str, now: datetime
) -> str:
    """A logout token (Back-Channel Logout §2.4) signed with the provider's active key."""
    found = services()
    key = found.keys.active_key(now)
    iat = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": found.settings.issuer,
        "aud": client_id,
        "iat": iat,
        "exp": iat + TOKEN_LIFETIME_SECONDS,
        "jti": jti,
        "events": {EVENT: {}},
    }
    if user_id:
        claims["sub"] = user_id
    if sid:
        claims["sid"] = sid
    header = {"alg": "RS256", "kid": key.kid, "typ": "logout+jwt"}
    return jwt.encode(header, claims, key, algorithms=["RS256"])


@dataclass
class DeliveryRun:
    """What one sweep did."""

    delivered: int = 0
    failed: int = 0
    refused: int = 0
    gave_up: int = 0
    skipped: int = 0

    @property
    def attempted(self) -> int:
        return self.delivered + self.failed + self.refused


@dataclass(frozen=True)
class Outcome:
    """How one POST went: the HTTP status (None when there was none) and what went wrong."""

    status: int | None
    error: str | None
    refused: bool = False

    @property
    def delivered(self) -> bool:
        return self.status in (200, 204)


def deliver_due(*, limit: int = BATCH, timeout_seconds: float | None = None) -> DeliveryRun:
    """Deliver up to `limit` rows whose attempt is due now (by the app's clock)."""
    if timeout_seconds is None:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        timeout_seconds = dispatcher(app).timeout_seconds
    run = DeliveryRun()
    now = _now()
    due = list(
        db.session.scalars(
            sa.select(BackchannelLogout.id)
            .where(
                BackchannelLogout.delivered_at.is_(None),
                BackchannelLogout.next_attempt_at.is_not(None),
                BackchannelLogout.next_attempt_at <= now,
            )
            .order_by(BackchannelLogout.next_attempt_at)
            .limit(limit)
        )
    )
    db.session.commit()
    for row_id in due:
        # The clock read again for each row: a lease must run from when it is taken.
        if _claim(row_id, _now()):
            _attempt(row_id, run, timeout_seconds)
        else:
            run.skipped += 1
    return run


def _claim(row_id: str, now: datetime) -> bool:
    """Take a due row for one attempt; False when another worker took it first."""
    claimed = db.session.execute(
        sa.update(BackchannelLogout)
        .where(
            BackchannelLogout.id == row_id,
            BackchannelLogout.delivered_at.is_(None),
            BackchannelLogout.next_attempt_at.is_not(None),
            BackchannelLogout.next_attempt_at <= now,
        )
        .values(next_attempt_at=now + LEASE, attempts=BackchannelLogout.attempts + 1)
    )
    db.session.commit()
    return getattr(claimed, "rowcount", 0) == 1


def _attempt(row_id: str, run: DeliveryRun, timeout_seconds: float) -> None:
    row = db.session.get(BackchannelLogout, row_id)
    if row is None:
        return
    client = db.session.scalar(sa.select(Client).filter_by(client_id=row.client_id))
    uri = logout_uri(client) if client is not None else None
    client_id, reason, attempts = row.client_id, row.reason, row.attempts
    if uri is None:
        outcome = Outcome(
            None, "the client no longer exists or has no back-channel logout URI", refused=True
        )
    else:
        body = urlencode(
            {
                "logout_token": logout_token(
                    client_id=client_id, user_id=row.user_id, sid=row.sid, jti=row.jti, now=_now()
                )
            }
        )
        public_only = client is None or bool(client.registered_dynamically)
        # No transaction stays open while the client's server takes its time.
        db.session.commit()
        outcome = post_logout_token(
            uri, body, timeout_seconds=timeout_seconds, public_only=public_only
        )
    now = _now()
    # Errors can quote the client's server (a bad status line): no control characters
    # reach the log, the table or an operator's terminal.
    error = (
        "".join(c if c.isprintable() else "?" for c in outcome.error[:ERROR_CHARS])
        if outcome.error
        else None
    )
    values: dict[str, Any] = {"last_status": outcome.status, "last_error": error}
    if outcome.delivered:
        values.update(delivered_at=now, next_attempt_at=None)
        run.delivered += 1
        BACKCHANNEL_LOGOUTS.labels("delivered").inc()
        log.info(
            "back-channel logout to client %s (%s) delivered: HTTP %s, attempt %s",
            client_id,
            reason,
            outcome.status,
            attempts,
            extra={"client_id": client_id},
        )
    else:
        result = "refused" if outcome.refused else "failed"
        BACKCHANNEL_LOGOUTS.labels(result).inc()
        if outcome.refused:
            run.refused += 1
        else:
            run.failed += 1
        if outcome.refused or attempts >= MAX_ATTEMPTS:
            values["next_attempt_at"] = None
            run.gave_up += 1
            BACKCHANNEL_LOGOUTS.labels("gave_up").inc()
            log.warning(
                "back-channel logout to client %s (%s) given up after attempt %s: %s",
                client_id,
                reason,
                attempts,
                error,
                extra={"client_id": client_id},
            )
        else:
            values["next_attempt_at"] = now + BACKOFF[attempts - 1]
            log.warning(
                "back-channel logout to client %s (%s) failed, attempt %s of %s: %s; "
                "retry after %s",
                client_id,
                reason,
                attempts,
                MAX_ATTEMPTS,
                error,
                BACKOFF[attempts - 1],
                extra={"client_id": client_id},
            )
    db.session.execute(
        sa.update(BackchannelLogout).where(BackchannelLogout.id == row_id).values(**values)
    )
    db.session.commit()


def prune() -> int:
    """Delete delivered and given-up rows older than RETAIN; return how many."""
    result = db.session.execute(
        sa.delete(BackchannelLogout).where(
            BackchannelLogout.next_attempt_at.is_(None),
            BackchannelLogout.created_at < _now() - RETAIN,
        )
    )
    db.session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def is_public_address(address: str) -> bool:
    """Whether an IP address is on the public internet (not loopback, private, link-local,
    reserved, multicast or unspecified)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(ip.is_global) and not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def post_logout_token(uri: str, body: str, *, timeout_seconds: float, public_only: bool) -> Outcome:
    """POST the form body to the client's URI (no redirects followed); with `public_only`,
    refuse a host that resolves to a non-public address and connect to the checked one."""
    try:
        parts = urlsplit(uri)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return Outcome(None, "the back-channel logout URI is not valid", refused=True)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        return Outcome(None, "the back-channel logout URI is not an http(s) URL", refused=True)
    pinned: str | None = None
    if public_only:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            return Outcome(None, f"cannot resolve {host}: {exc}")
        addresses = [str(info[4][0]) for info in found]
        if not addresses or not all(is_public_address(a) for a in addresses):
            return Outcome(
                None,
                f"refused: {host} resolves to a loopback, private, link-local or reserved address",
                refused=True,
            )
        # Connect to the address just checked: resolving again could answer differently.
        pinned = addresses[0]
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(host, port, timeout=timeout_seconds)
    if pinned is not None:
        address = pinned

        def connect_pinned(_target: Any, timeout: Any = None, source: Any = None) -> Any:
            return socket.create_connection((address, port), timeout, source)

        connection._create_connection = connect_pinned  # type: ignore[attr-defined]
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # The timeout bounds each socket operation; a server dripping its answer a byte at a
    # time would pass every one, so the whole exchange also has a deadline.
    deadline = timeout_seconds * 2
    cut = threading.Event()
    watchdog = threading.Timer(deadline, _cut, (connection, cut))
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request(
            "POST",
            path,
            body=body.encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "*/*",
                "Cache-Control": "no-store",
                "User-Agent": "idp-backchannel-logout",
            },
        )
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if cut.is_set():
            return Outcome(None, f"no complete answer within {deadline:g} seconds")
        return Outcome(None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    finally:
        watchdog.cancel()
        connection.close()
    if cut.is_set():
        # http.client takes the end of a cut stream for the end of the headers.
        return Outcome(None, f"no complete answer within {deadline:g} seconds")
    return Outcome(status, None if status in (200, 204) else f"HTTP {status}")


def _cut(connection: http.client.HTTPConnection, cut: threading.Event) -> None:
    """End an exchange past its deadline: shutting the socket down wakes the blocked read."""
    cut.set()
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Dispatcher:
    """One app's delivery settings and, in served workers, its background thread (started
    per process, so a fork never shares one)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.background = False
        self.timeout_seconds = TIMEOUT_SECONDS
        self.sweep_seconds = SWEEP_SECONDS
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def ensure_started(self) -> None:
        """Start this process's delivery thread if background delivery is on."""
        if not self.background or self._running_here():
            return
        with self._lock:
            if self._running_here():
                return
            self._stop.clear()
            self._pid = os.getpid()
            # A first sweep at once: rows may be waiting from before this process started.
            self._wake.set()
            self._thread = threading.Thread(target=self._run, name="idp-backchannel", daemon=True)
            self._thread.start()

    def _running_here(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive() and self._pid == os.getpid()

    def wake(self) -> None:
        """Deliver soon: rows were just queued."""
        if self.background:
            self.ensure_started()
            self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (tests; a served worker just exits)."""
        self.background = False
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        pruned_at: float | None = None
        while not self._stop.is_set():
            # Jittered, so the workers' sweeps spread out instead of meeting.
            self._wake.wait(self.sweep_seconds * random.uniform(0.8, 1.2))
            self._wake.clear()
            if self._stop.is_set():
                return
            with self.app.app_context():
                try:
                    while deliver_due().attempted == BATCH and not self._stop.is_set():
                        pass
                    if pruned_at is None or time.monotonic() - pruned_at > PRUNE_SECONDS:
                        pruned_at = time.monotonic()
                        prune()
                except Exception:
                    log.exception("back-channel logout sweep failed")
                finally:
                    db.session.remove()


def dispatcher(app: Flask) -> Dispatcher:
    """The app's dispatcher (made on first use)."""
    caches = services(app).caches
    if caches.backchannel is None:
        caches.backchannel = Dispatcher(app)
    return caches.backchannel


def enable_background(app: Flask) -> Dispatcher:
    """Deliver in a background thread of each serving process (`idp serve`, `idp demo`);
    the thread starts with the process's first request or first queued logout."""
    found = dispatcher(app)
    found.background = True
    app.before_request(found.ensure_started)
    return found


def wake() -> None:
    """Tell this process's delivery thread that rows were queued (no-op without one)."""
    found = services().caches.backchannel
    if found is not None:
        found.wake()
