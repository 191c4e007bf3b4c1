"""RS256 signing keys kept in the database, rotated by `idp keys rotate`."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from datetime import datetime, timedelta

import sqlalchemy as sa
from joserfc.jwk import Key, KeySet, RSAKey

from .extensions import db
from .models import SigningKey, User
from .secretbox import is_sealed, reseal, seal, unseal

# How long a worker trusts its idea of the current key; a rotation reaches every worker within it.
ACTIVE_KEY_CACHE_SECONDS = 30.0
# How long a worker serves its JWKS document before reading the published kids again. A new
# key signs nothing until it has been published this long (see `KeyStore.active_key`), so no
# worker can sign with a key that another worker's JWKS does not show yet.
JWKS_RECHECK_SECONDS = 1.0


def create_key(now: datetime) -> SigningKey:
    """Generate a new 2048-bit RSA key and store it as the newest signer."""
    kid = secrets.token_urlsafe(12)
    key = RSAKey.generate_key(
        2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"}, private=True
    )
    # Sealed: a database dump without the secret_key cannot sign tokens.
    row = SigningKey(
        kid=kid,
        alg="RS256",
        private_jwk=seal(json.dumps(key.as_dict(private=True))),
        created_at=now,
    )
    db.session.add(row)
    return row


def rotate(now: datetime, publish_for: timedelta) -> SigningKey:
    """Make a new signing key current; older keys stay published for `publish_for`."""
    for old in db.session.scalars(sa.select(SigningKey).filter_by(retired_at=None)):
        old.retired_at = now
        old.publish_until = now + publish_for
    row = create_key(now)
    db.session.commit()
    return row


def ensure_key(now: datetime) -> None:
    """Create the first signing key if there is none."""
    if db.session.scalar(sa.select(SigningKey.kid).filter_by(retired_at=None).limit(1)) is None:
        create_key(now)
        db.session.commit()


# Built once and run as Core on the request's connection: the ORM layers cost more than
# the query itself on this per-request path.
_PUBLISHED_KIDS = (
    sa.select(SigningKey.kid)
    .where(sa.or_(SigningKey.retired_at.is_(None), SigningKey.publish_until > sa.bindparam("now")))
    .order_by(SigningKey.created_at.desc())
)
# The newest key published for at least JWKS_RECHECK_SECONDS and still published: a key
# retired by a rotation a moment ago signs until its successor has been in every JWKS.
_SIGNER = (
    sa.select(SigningKey)
    .where(
        SigningKey.created_at <= sa.bindparam("published_since"),
        sa.or_(SigningKey.retired_at.is_(None), SigningKey.publish_until > sa.bindparam("now")),
    )
    .order_by(SigningKey.created_at.desc())
    .limit(1)
)


class KeyStore:
    """One app's view of the signing keys, with parsed keys cached (parsing costs milliseconds)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parsed: dict[str, RSAKey] = {}
        self._active: tuple[float, str] | None = None
        # (kids, body, etag, when the kids were read)
        self._document: tuple[tuple[str, ...], bytes, str, datetime] | None = None

    def _parse(self, row: SigningKey) -> RSAKey:
        with self._lock:
            key = self._parsed.get(row.kid)
            if key is None:
                key = RSAKey.import_key(json.loads(unseal(row.private_jwk)))
                self._parsed[row.kid] = key
            return key

    def active_key(self, now: datetime) -> RSAKey:
        """The key new tokens are signed with: the newest one published for at least
        JWKS_RECHECK_SECONDS (the newest unretired one when there is no such key yet)."""
        cached = self._active
        if cached is not None and time.monotonic() - cached[0] < ACTIVE_KEY_CACHE_SECONDS:
            key = self._parsed.get(cached[1])
            if key is not None:
                return key
        row = db.session.scalar(
            _SIGNER, {"published_since": now - timedelta(seconds=JWKS_RECHECK_SECONDS), "now": now}
        )
        if row is None:
            newest = (
                sa.select(SigningKey)
                .filter_by(retired_at=None)
                .order_by(SigningKey.created_at.desc())
                .limit(1)
            )
            row = db.session.scalar(newest)
            if row is None:
                ensure_key(now)
                row = db.session.scalar(newest)
            assert row is not None
        key = self._parse(row)
        self._active = (time.monotonic(), row.kid)
        return key

    def forget_active(self) -> None:
        self._active = None

    def published(self, now: datetime) -> list[RSAKey]:
        """The current key and retired keys whose tokens may still be live."""
        stmt = (
            sa.select(SigningKey)
            .where(sa.or_(SigningKey.retired_at.is_(None), SigningKey.publish_until > now))
            .order_by(SigningKey.created_at.desc())
        )
        return [self._parse(row) for row in db.session.scalars(stmt)]

    def fresh_jwks(self, now: datetime) -> tuple[bytes, str] | None:
        """The JWKS document and ETag while its kids were read under JWKS_RECHECK_SECONDS ago
        (never an empty set: the first key may be created by another worker at any time)."""
        cached = self._document
        if cached is None or not cached[0]:
            return None
        age = (now - cached[3]).total_seconds()
        return (cached[1], cached[2]) if 0 <= age < JWKS_RECHECK_SECONDS else None

    def jwks_document(self, now: datetime) -> tuple[bytes, str]:
        """The JWK Set as JSON bytes and its strong ETag, rebuilt when the published kids change."""
        fresh = self.fresh_jwks(now)
        if fresh is not None:
            return fresh
        # A key never changes under its kid, so the list of published kids is the document's
        # version: one indexed read of a column at most every JWKS_RECHECK_SECONDS. A key
        # signs only once it has been published that long, so every token's kid is in the
        # document a worker serves; a retired key may be served that much past its window.
        kids = tuple(db.session.connection().scalars(_PUBLISHED_KIDS, {"now": now}))
        cached = self._document
        if cached is not None and cached[0] == kids:
            self._document = (kids, cached[1], cached[2], now)
            return cached[1], cached[2]
        # The version comes from the same read as the body, so a rotation between the two
        # queries cannot pin an old body to a new version.
        keys = self.published(now)
        body = json.dumps(
            {"keys": [key.as_dict(private=False) for key in keys]}, separators=(",", ":")
        ).encode()
        etag = hashlib.sha256(body).hexdigest()[:32]
        self._document = (tuple(str(key.kid) for key in keys), body, etag, now)
        return body, etag

    def key_set(self, now: datetime) -> KeySet:
        keys: list[Key] = list(self.published(now))  # KeySet takes a list of any key type
        return KeySet(keys)


def reseal_all() -> tuple[int, int]:
    """Seal every signing key and TOTP secret again under the current secret_key (keys
    stored in clear by older versions get sealed); return how many of each."""
    keys = list(db.session.scalars(sa.select(SigningKey)))
    for row in keys:
        row.private_jwk = reseal(row.private_jwk)
    users = list(db.session.scalars(sa.select(User).where(User.totp_secret.is_not(None))))
    for user in users:
        user.totp_secret = reseal(user.totp_secret or "")
    db.session.commit()
    return len(keys), len(users)


def reseal_clear_keys() -> int:
    """Seal signing keys that older versions stored in clear; return how many."""
    clear = [
        row for row in db.session.scalars(sa.select(SigningKey)) if not is_sealed(row.private_jwk)
    ]
    for row in clear:
        row.private_jwk = seal(row.private_jwk)
    db.session.commit()
    return len(clear)
