"""Database models: users, clients, codes, tokens, signing keys, SSO sessions, sign-in log."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from authlib.integrations.sqla_oauth2 import (
    OAuth2AuthorizationCodeMixin,
    OAuth2ClientMixin,
    OAuth2TokenMixin,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from .extensions import db
from .services import now_ts


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always hands back aware UTC (SQLite forgets the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class Account(Protocol):
    """What the sign-in log and attack protection need of a user: a `User`, or a row of
    its columns read without the ORM (a refused guess, see idp.refusals)."""

    @property
    def id(self) -> str: ...

    @property
    def username(self) -> str: ...


class User(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(sa.String(150), unique=True)
    email: Mapped[str | None] = mapped_column(sa.String(320))
    display_name: Mapped[str | None] = mapped_column(sa.String(200))
    groups: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    password_hash: Mapped[str] = mapped_column(sa.Text)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    password_must_change: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    # TOTP: the secret, when it was registered, and the last accepted time step (RFC 6238 §5.2).
    # Sealed with idp.secretbox; never stored in clear.
    totp_secret: Mapped[str | None] = mapped_column(sa.Text)
    totp_registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    # First sign-in under the MFA registration policy: the grace period counts from here.
    mfa_grace_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # OpenID Connect standard claims beyond the columns above (given_name, family_name,
    # phone_number, address ...), keyed by claim name; see idp.claims.
    claims: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    email_verified: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    # When the profile claims last changed (OpenID Connect Core's updated_at).
    profile_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    passkeys: Mapped[list[WebAuthnCredential]] = relationship(
        back_populates="user",
        order_by="WebAuthnCredential.created_at",
        cascade="all, delete-orphan",
    )

    @property
    def has_totp(self) -> bool:
        return self.totp_registered_at is not None and self.totp_secret is not None

    @property
    def has_passkey(self) -> bool:
        """Whether the user has registered at least one passkey."""
        state: sa.orm.InstanceState[User] = sa.inspect(self)
        if "passkeys" in state.unloaded and state.session is not None:
            # Every sign-in's policies ask: one EXISTS instead of loading the list.
            return bool(state.session.scalar(_ANY_PASSKEY, {"user_id": self.id}))
        return bool(self.passkeys)

    @property
    def has_second_factor(self) -> bool:
        """Whether the user has any second factor: TOTP or a passkey."""
        return self.has_totp or self.has_passkey

    def get_user_id(self) -> str:
        return self.id


def hash_client_secret(secret: str) -> str:
    # Client secrets are 256-bit random values, so a plain digest resists guessing. A JSON
    # body may carry a lone surrogate: it digests (and fails to match) like any wrong secret.
    return "sha256$" + hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


class Client(db.Model, OAuth2ClientMixin):  # type: ignore[name-defined,misc]
    __tablename__ = "oauth2_clients"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(150))
    # A first-party client is the operator's own app and skips the consent page.
    first_party: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    # Set for clients that registered themselves (RFC 7591); the digest of the
    # registration access token that manages them (RFC 7592).
    registered_dynamically: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    registration_token_hash: Mapped[str | None] = mapped_column(sa.String(80))
    # The mixin's client_id column is indexed but not unique; a duplicate would be ambiguous.
    __table_args__ = (sa.UniqueConstraint("client_id", name="uq_oauth2_clients_client_id"),)

    def check_client_secret(self, client_secret: str) -> bool:
        if not self.client_secret:
            return False
        return hmac.compare_digest(self.client_secret, hash_client_secret(client_secret))

    @property
    def is_public(self) -> bool:
        method: str = self.token_endpoint_auth_method  # Authlib's mixin is untyped
        return method == "none"

    def get_default_redirect_uri(self) -> str | None:
        """The redirect URI a request may leave out: the client's only one, else none."""
        # With several registered, sending the browser to the first one would guess which
        # the client meant (Authlib's default); such a request must name one.
        uris = self.redirect_uris
        return uris[0] if len(uris) == 1 else None

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # A confidential client may present its secret either way RFC 6749 §2.3.1 allows.
        if self.is_public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")


class AuthorizationCode(db.Model, OAuth2AuthorizationCodeMixin):  # type: ignore[name-defined,misc]
    __tablename__ = "oauth2_codes"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    sid: Mapped[str | None] = mapped_column(sa.String(64))
    grant_id: Mapped[str] = mapped_column(sa.String(64), default=lambda: secrets.token_hex(16))
    expires_at: Mapped[int] = mapped_column(sa.Integer)
    # Set atomically by the first redemption; a second one finds it set and revokes the grant.
    used_at: Mapped[int | None] = mapped_column(sa.Integer)
    # The request's `claims` parameter (OpenID Connect Core 5.5), as JSON.
    claims_request: Mapped[str | None] = mapped_column(sa.Text)

    def is_expired(self) -> bool:
        return self.expires_at < now_ts()


def access_token_expired(issued_at: int, expires_in: int, now: int) -> bool:
    """Whether an access token issued at `issued_at` for `expires_in` seconds (0: no end)
    has ended at `now`, all in seconds since the epoch."""
    return bool(expires_in) and issued_at + expires_in < now


class Token(db.Model, OAuth2TokenMixin):  # type: ignore[name-defined,misc]
    __tablename__ = "oauth2_tokens"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    sid: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    # Every token issued from one authorization code shares a grant id: the refresh family.
    grant_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    refresh_token_expires_at: Mapped[int] = mapped_column(sa.Integer, default=0)
    # Set when a refresh replaced this token: presenting it again is a replay, whereas a
    # token revoked by logout, an admin or a password change is merely invalid.
    refresh_token_rotated_at: Mapped[int | None] = mapped_column(sa.Integer)
    # The address that rotated it: the same client from there within seconds is a race
    # between two of its own requests (two tabs), not a stolen copy.
    refresh_token_rotated_by: Mapped[str | None] = mapped_column(sa.String(64))
    # The userinfo part of the authorization request's `claims` parameter, as JSON.
    claims_request: Mapped[str | None] = mapped_column(sa.Text)

    def is_expired(self) -> bool:
        # Authlib's own reads time.time(); the app clock decides when an access token ends.
        return access_token_expired(self.issued_at, self.expires_in, now_ts())

    def is_refresh_token_valid(self, now: float) -> bool:
        return (
            bool(self.refresh_token)
            and not self.refresh_token_revoked_at
            and self.refresh_token_expires_at > now
        )

    def get_user(self) -> User | None:
        # Kept on the instance (which lives for one request): the bearer check, Authlib and
        # the claims each ask, and the session's identity map holds objects only weakly.
        if "_loaded_user" not in self.__dict__:
            self._loaded_user = db.session.get(User, self.user_id) if self.user_id else None
        return self._loaded_user

    def get_client(self) -> Client | None:
        if "_loaded_client" not in self.__dict__:
            self._loaded_client = db.session.scalar(
                sa.select(Client).filter_by(client_id=self.client_id)
            )
        return self._loaded_client


class SigningKey(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(sa.String(16), default="RS256")
    private_jwk: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when a newer key takes over; the key stays published until its tokens have expired.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    publish_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SsoSession(db.Model):  # type: ignore[name-defined,misc]
    """An SSO session. `id` is the public `sid` of ID tokens; the browser's cookie holds a
    separate random handle, stored here only as a digest and replaced at every privilege
    change, so a cookie copied before a step is dead after it."""

    __tablename__ = "sso_sessions"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    handle_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True, unique=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    amr: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.Text)

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now


class AuthFlowRow(db.Model):  # type: ignore[name-defined,misc]
    """A sign-in flow in progress (authorization, reset, admin console), kept server-side;
    the browser's cookie carries only its unguessable id."""

    __tablename__ = "auth_flows"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    # Digest of the browser's random id: a flow id leaked into another browser is no use.
    browser: Mapped[str] = mapped_column(sa.String(64))
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    # Bumped by every save; a save from a stale copy loses instead of overwriting.
    version: Mapped[int] = mapped_column(sa.Integer)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AttackCounter(db.Model):  # type: ignore[name-defined,misc]
    """A failure count in a fixed window (lockout, throttles); see idp.counters."""

    __tablename__ = "attack_counters"

    key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    count: Mapped[int] = mapped_column(sa.BigInteger)
    expires_at: Mapped[int] = mapped_column(sa.BigInteger, index=True)


class RecoveryCode(db.Model):  # type: ignore[name-defined,misc]
    """One recovery code of a user, claimed once by a conditional UPDATE."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(128))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SignIn(db.Model):  # type: ignore[name-defined,misc]
    """One row per authorization attempt: the sign-in log."""

    __tablename__ = "sign_ins"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    correlation_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    # Indexed first in ix_sign_ins_user_created (as ip is in ix_sign_ins_ip_created).
    user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str | None] = mapped_column(sa.String(150))
    client_id: Mapped[str | None] = mapped_column(sa.String(48))
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.Text)
    kind: Mapped[str] = mapped_column(sa.String(32))
    outcome: Mapped[str] = mapped_column(sa.String(32))
    error_code: Mapped[int | None] = mapped_column(sa.Integer)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    device_id: Mapped[str | None] = mapped_column(sa.String(64))
    # What the risk engine said, and what every policy made of it.
    risk_level_during_sign_in: Mapped[str] = mapped_column(sa.String(8), default="none")
    risk_level_aggregated: Mapped[str] = mapped_column(sa.String(8), default="none")
    risk_state: Mapped[str] = mapped_column(sa.String(24), default="none")
    risk_detail: Mapped[str] = mapped_column(sa.String(48), default="none")
    risk_event_types: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    policies: Mapped[list[dict[str, str]]] = mapped_column(sa.JSON, default=list)
    not_evaluated: Mapped[list[dict[str, str]]] = mapped_column(sa.JSON, default=list)
    country: Mapped[str | None] = mapped_column(sa.String(8))
    city: Mapped[str | None] = mapped_column(sa.String(128))
    latitude: Mapped[float | None] = mapped_column(sa.Float)
    longitude: Mapped[float | None] = mapped_column(sa.Float)
    asn: Mapped[int | None] = mapped_column(sa.BigInteger)

    __table_args__ = (
        sa.Index("ix_sign_ins_ip_created", "ip", "created_at"),
        sa.Index("ix_sign_ins_user_created", "user_id", "created_at"),
    )


class RiskDetection(db.Model):  # type: ignore[name-defined,misc]
    """One detection with its evidence (Graph's riskDetection)."""

    __tablename__ = "risk_detections"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    correlation_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    risk_event_type: Mapped[str] = mapped_column(sa.String(48))
    risk_level: Mapped[str] = mapped_column(sa.String(8))
    scope: Mapped[str] = mapped_column(sa.String(8))  # signIn | user
    risk_state: Mapped[str] = mapped_column(sa.String(24))
    risk_detail: Mapped[str] = mapped_column(sa.String(48), default="none")
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    location: Mapped[dict[str, object]] = mapped_column(sa.JSON, default=dict)
    evidence: Mapped[dict[str, object]] = mapped_column(sa.JSON, default=dict)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    source: Mapped[str] = mapped_column(sa.String(16), default="realtime")

    __table_args__ = (sa.Index("ix_risk_detections_user_state", "user_id", "risk_state"),)


class UserRisk(db.Model):  # type: ignore[name-defined,misc]
    """A user's current risk (Graph's riskyUser), recomputed whenever a detection changes."""

    __tablename__ = "user_risk"

    user_id: Mapped[str] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    risk_level: Mapped[str] = mapped_column(sa.String(8), default="none")
    risk_state: Mapped[str] = mapped_column(sa.String(24), default="none")
    risk_detail: Mapped[str] = mapped_column(sa.String(48), default="none")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RiskHistory(db.Model):  # type: ignore[name-defined,misc]
    """Who changed a user's risk, when, and to what (Graph's riskyUserHistoryItem)."""

    __tablename__ = "risk_history"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    initiated_by: Mapped[str] = mapped_column(sa.String(150))
    activity: Mapped[str] = mapped_column(sa.String(64))
    risk_level: Mapped[str] = mapped_column(sa.String(8))
    risk_state: Mapped[str] = mapped_column(sa.String(24))
    risk_detail: Mapped[str] = mapped_column(sa.String(48))
    note: Mapped[str] = mapped_column(sa.Text, default="")


class UserHistory(db.Model):  # type: ignore[name-defined,misc]
    """What the risk engine learned of a user: first and last successful sign-in."""

    __tablename__ = "risk_user_history"

    user_id: Mapped[str] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    successful_sign_ins: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_ip: Mapped[str] = mapped_column(sa.String(64))
    last_latitude: Mapped[float | None] = mapped_column(sa.Float)
    last_longitude: Mapped[float | None] = mapped_column(sa.Float)
    last_accuracy_radius_km: Mapped[float | None] = mapped_column(sa.Float)
    last_country: Mapped[str | None] = mapped_column(sa.String(8))
    last_city: Mapped[str | None] = mapped_column(sa.String(128))
    last_trusted_location: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class UserFeature(db.Model):  # type: ignore[name-defined,misc]
    """A sign-in property (ASN, country, browser, device ...) seen for a user."""

    __tablename__ = "risk_user_features"
    __table_args__ = (sa.Index("ix_risk_user_features_kind_value", "kind", "value"),)

    user_id: Mapped[str] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(sa.String(24), primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NoveltyCount(db.Model):  # type: ignore[name-defined,misc]
    """Population counts behind unfamiliarFeatures' weights (see risk/novelty.py)."""

    __tablename__ = "risk_novelty_counts"

    name: Mapped[str] = mapped_column(sa.String(48), primary_key=True)
    count: Mapped[int] = mapped_column(sa.BigInteger)


class OrgCountry(db.Model):  # type: ignore[name-defined,misc]
    """A country any user has signed in from."""

    __tablename__ = "risk_org_countries"

    country: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)


class Consent(db.Model):  # type: ignore[name-defined,misc]
    """What a user allowed a third-party client: the scopes, remembered until revoked."""

    __tablename__ = "oauth2_consents"

    user_id: Mapped[str] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[str] = mapped_column(sa.String(48), primary_key=True)
    scopes: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BackchannelLogout(db.Model):  # type: ignore[name-defined,misc]
    """A logout token owed to a client (OpenID Connect Back-Channel Logout 1.0), kept until
    the client has accepted it or the retries are spent."""

    __tablename__ = "backchannel_logouts"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(sa.String(48), index=True)
    user_id: Mapped[str | None] = mapped_column(sa.String(36))
    sid: Mapped[str | None] = mapped_column(sa.String(64))
    # The logout token's jti: the same for every attempt, so a receiver can drop repeats.
    jti: Mapped[str] = mapped_column(sa.String(64), unique=True)
    reason: Mapped[str] = mapped_column(sa.String(48))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(sa.Integer)
    last_error: Mapped[str | None] = mapped_column(sa.Text)


class WebAuthnCredential(db.Model):  # type: ignore[name-defined,misc]
    """A passkey of a user (WebAuthn): its public key and signature counter, named by the
    user. The credential id is unique: one authenticator's key belongs to one user."""

    __tablename__ = "webauthn_credentials"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    # base64url of the authenticator's credential id (at most 1023 bytes by WebAuthn).
    credential_id: Mapped[str] = mapped_column(sa.String(1400), unique=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary)
    sign_count: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    transports: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    name: Mapped[str] = mapped_column(sa.String(64))
    aaguid: Mapped[str] = mapped_column(sa.String(36), default="")
    backup_eligible: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    backed_up: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="passkeys")


# User.has_passkey's question, built once.
_ANY_PASSKEY = sa.select(
    sa.exists().where(WebAuthnCredential.__table__.c.user_id == sa.bindparam("user_id"))
)
