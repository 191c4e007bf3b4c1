"""The OAuth 2.0 / OpenID Connect server: Authlib grants wired to our models."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector, current_token
from authlib.integrations.sqla_oauth2 import create_bearer_token_validator
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    MissingAuthorizationError,
    OAuth2Request,
    grants,
)
from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_basic
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge, create_s256_code_challenge
from authlib.oauth2.rfc7636.challenge import CODE_VERIFIER_PATTERN
from authlib.oauth2.rfc9101.errors import RequestNotSupportedError, RequestUriNotSupportedError
from authlib.oauth2.rfc9207 import IssuerParameter as _IssuerParameter
from authlib.oidc.core import UserInfo
from authlib.oidc.core import UserInfoEndpoint as _UserInfoEndpoint
from authlib.oidc.core.errors import LoginRequiredError
from authlib.oidc.core.grants import OpenIDCode as _OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSessionEndpoint
from flask import Flask, current_app, g
from flask import request as http_request
from joserfc.jwk import KeySet

from .claims import (
    MalformedClaimsRequest,
    Profile,
    claims_request_json,
    load_claims_request,
    parse_claims_request,
    release,
    requested_subject,
)
from .clients import query_client, read_client
from .config import Settings
from .extensions import authorization, db, require_oauth
from .introspection import B64TOKEN
from .leansql import Lean, own_connection
from .models import AuthorizationCode, Client, Token, User
from .requestinfo import client_ip
from .services import now_ts, services

TOKEN_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
# Two refreshes of one token by the same client from the same address this close together
# are its own tabs or retries racing, not a replay.
REFRESH_RACE_SECONDS = 10


@dataclass(frozen=True)
class Authentication:
    """How the user at the authorization endpoint was authenticated (goes into the code)."""

    sid: str
    auth_time: datetime
    amr: tuple[str, ...]
    acr: str


def settings() -> Settings:
    return services().settings


def user_claims(
    user: Profile, scope: str, requested: dict[str, Any] | None = None, allowed_scope: str = ""
) -> UserInfo:
    """The claims a scope releases about a user, plus those the client's `claims` request
    named (at most what `allowed_scope`, the client's registered scope, allows)."""
    return UserInfo(release(user, scope, list(requested or {}), allowed_scope=allowed_scope))


def userinfo_claims(
    user: Profile, scope: str, claims_request: str | None, allowed_scope: str
) -> UserInfo:
    """What userinfo answers for an access token: the claims of its scope and of the
    userinfo member of its claims request, whether Flask or idp.fastpath answers."""
    return user_claims(user, scope, load_claims_request(claims_request), allowed_scope)


def claims_request_from(request: OAuth2Request) -> dict[str, Any] | None:
    """The authorization request's `claims` parameter, parsed; InvalidRequestError when it
    is malformed (the caller's redirect URI is then trusted: the client was validated)."""
    values = request.payload.datalist.get("claims", [])
    if len(values) > 1:
        raise InvalidRequestError("'claims' may be sent only once.")
    try:
        return parse_claims_request(values[0] if values else None)
    except MalformedClaimsRequest as exc:
        raise InvalidRequestError(str(exc)) from None


def revoke_grant(grant_id: str, now: int) -> int:
    """Revoke every token issued from one authorization code (the whole refresh family)."""
    result = db.session.execute(
        sa.update(Token)
        .where(Token.grant_id == grant_id)
        .values(
            access_token_revoked_at=sa.case(
                (Token.access_token_revoked_at == 0, now), else_=Token.access_token_revoked_at
            ),
            refresh_token_revoked_at=sa.case(
                (Token.refresh_token_revoked_at == 0, now), else_=Token.refresh_token_revoked_at
            ),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


class S256Challenge(CodeChallenge):  # type: ignore[misc]  # Authlib is untyped
    """PKCE with S256 only; required for public clients (RFC 7636, OAuth 2.1)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if grant.request.client.is_public and not data.get("code_challenge"):
            raise InvalidRequestError("Public clients must send a PKCE 'code_challenge' (S256).")
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be 'S256'.")
        super().validate_code_challenge(grant, redirect_uri)


def _check_verifier(item: AuthorizationCode, verifier: str | None) -> None:
    """The PKCE check of RFC 7636 §4.6, made before the code is claimed (Authlib's own
    check runs again after it, on the same values)."""
    if not item.code_challenge:
        if verifier:
            raise InvalidRequestError(
                "The authorization request had no 'code_challenge', "
                "but a 'code_verifier' was provided."
            )
        return
    if not verifier:
        raise InvalidRequestError("Missing 'code_verifier'")
    if not CODE_VERIFIER_PATTERN.match(verifier):
        raise InvalidRequestError("Invalid 'code_verifier'")
    if not hmac.compare_digest(create_s256_code_challenge(verifier), item.code_challenge):
        raise InvalidGrantError("Code challenge failed.")


def random_token(**_context: Any) -> str:
    """A new access token, refresh token or code: 256 random bits, URL-safe.

    Authlib's default draws each of 42 alphanumerics with a system call of its own (about
    60 microseconds for a token response's two tokens); this is one read of the same source.
    Authlib passes the client, grant type, user and scope, which a random token ignores."""
    return secrets.token_urlsafe(32)


# The claim of an authorization code: a Core statement built once (through the ORM, an UPDATE
# also looks for the row among the session's objects to change them in memory).
_CODES = AuthorizationCode.__table__
_CLAIM_CODE = (
    sa.update(_CODES)
    .where(_CODES.c.id == sa.bindparam("code_id"), _CODES.c.used_at.is_(None))
    .values(used_at=sa.bindparam("now"))
)
_INSERT_CODE = Lean(
    sa.insert(_CODES).inline(), column_keys=[c.key for c in _CODES.columns if c.key != "id"]
)
# A code is read with its user (authenticate_user asks next), in a statement built once.
_CODE_AND_USER = (
    sa.select(AuthorizationCode, User)
    .outerjoin(User, User.id == AuthorizationCode.user_id)
    .where(
        AuthorizationCode.code == sa.bindparam("code"),
        AuthorizationCode.client_id == sa.bindparam("client_id"),
    )
)


# Authlib is untyped: its classes are Any to mypy, which --strict refuses as bases.
class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def generate_authorization_code(self) -> str:
        return random_token()

    @staticmethod
    def validate_authorization_redirect_uri(request: OAuth2Request, client: Client) -> str:
        # An error without a redirect URI is shown as a page: the client named none.
        if not request.payload.redirect_uri:
            if client.get_default_redirect_uri() is None:
                raise InvalidRequestError(
                    "Missing 'redirect_uri': this client has several redirect URIs "
                    "registered, so the request must name one of them."
                )
            if "openid" in (request.payload.scope or "").split():
                # OpenID Connect Core 3.1.2.1: an OpenID request must name its redirect URI
                # even when the client has one (plain OAuth 2.0 may leave a sole one out).
                raise InvalidRequestError(
                    "Missing 'redirect_uri': an OpenID Connect request must name one of the "
                    "application's registered redirect URIs."
                )
        return str(
            grants.AuthorizationCodeGrant.validate_authorization_redirect_uri(request, client)
        )

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        authn: Authentication = g.authentication
        data = request.payload.data
        # Committed with the rest of the sign-in's writes (views.oauth.issue_code): a code
        # is only ever seen by a browser once its sign-in is logged and its flow ended. A
        # plain INSERT: nothing reads the row back in this request.
        _INSERT_CODE.execute(
            {
                "code": code,
                "client_id": request.client.client_id,
                "redirect_uri": request.payload.redirect_uri or "",
                "response_type": request.payload.response_type,
                "scope": request.scope,
                "nonce": data.get("nonce"),
                "user_id": request.user.id,
                "sid": authn.sid,
                "grant_id": secrets.token_hex(16),
                "auth_time": int(authn.auth_time.timestamp()),
                "amr": " ".join(authn.amr),
                "acr": authn.acr,
                "code_challenge": data.get("code_challenge"),
                "code_challenge_method": data.get("code_challenge_method"),
                "expires_at": now_ts() + settings().tokens.code_lifetime_seconds,
                "used_at": None,
                "claims_request": claims_request_json(claims_request_from(request))
                if "openid" in request.scope.split()
                else None,
            }
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        found = db.session.execute(
            _CODE_AND_USER, {"code": code, "client_id": client.client_id}
        ).first()
        if found is None:
            return None
        # The user is kept here: the session's identity map holds it only while someone does.
        item, self.code_user = found
        # Only a request that could redeem the code may spend it: one holding the PKCE
        # verifier burns nothing for the real client when it lacks it.
        _check_verifier(item, self.request.form.get("code_verifier"))
        now = now_ts()
        # Claim the code with one conditional UPDATE so two workers can never both redeem it.
        claimed = db.session.connection().execute(_CLAIM_CODE, {"code_id": item.id, "now": now})
        # No commit here: the claim commits with the token in save_token, one transaction (a
        # concurrent redemption waits on the row's write lock, then finds the code used).
        if claimed.rowcount != 1:
            # A replayed code: revoke everything issued from it (RFC 6749 §4.1.2).
            revoke_grant(item.grant_id, now)
            db.session.commit()
            current_app.logger.warning(
                "authorization code replayed; grant revoked",
                extra={"client_id": client.client_id, "grant_id": item.grant_id},
            )
            return None
        if item.is_expired():
            return None
        return item

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        # Kept, marked used, so that a replay is recognised and revokes the grant.
        pass

    def authenticate_user(self, authorization_code: AuthorizationCode) -> User | None:
        user = getattr(self, "code_user", None)
        if user is None or user.id != authorization_code.user_id:
            user = db.session.get(User, authorization_code.user_id)
        if user is None or user.disabled:
            return None
        return user


class OpenIDCode(_OpenIDCode):  # type: ignore[misc]  # Authlib is untyped
    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        # Nonces are the client's replay protection; the provider echoes them.
        return False

    def validate_openid_authorization_request(self, grant: Any, redirect_uri: str) -> None:
        super().validate_openid_authorization_request(grant, redirect_uri)
        # A malformed claims request is refused before the user signs in, at the client.
        subject = requested_subject(claims_request_from(grant.request))
        user = grant.request.user
        if subject is not None and user is not None and subject != user.id:
            raise LoginRequiredError(
                "The request asks for an ID token about another user "
                "(claims: id_token.sub); sign in as that user."
            )

    def resolve_client_private_key(self, client: Client) -> Any:
        found = services()
        return found.keys.active_key(found.clock.now())

    def get_client_algorithm(self, client: Client) -> str:
        return "RS256"

    def get_encode_header(self, client: Client) -> dict[str, str]:
        key = self.resolve_client_private_key(client)
        return {"alg": "RS256", "kid": key.kid, "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = now_ts()
        return {
            "iss": settings().issuer,
            "aud": client.client_id,
            "iat": now,
            "exp": now + settings().tokens.id_token_lifetime_seconds,
        }

    def get_authorization_code_claims(
        self, authorization_code: AuthorizationCode
    ) -> dict[str, Any]:
        claims: dict[str, Any] = super().get_authorization_code_claims(authorization_code)
        if authorization_code.amr:
            claims["amr"] = authorization_code.amr.split()
        if authorization_code.sid:
            claims["sid"] = authorization_code.sid
        # Claims the client asked for by name in the ID token (Core 5.5); the scope's own
        # claims are added by generate_user_info.
        wanted = load_claims_request(authorization_code.claims_request).get("id_token") or {}
        user = db.session.get(User, authorization_code.user_id)
        if wanted and user is not None:
            client = query_client(authorization_code.client_id)
            released = user_claims(user, "", wanted, client.scope if client is not None else "")
            claims.update({k: v for k, v in released.items() if k != "sub"})
        return claims

    def generate_user_info(self, user: User, scope: str) -> UserInfo:
        return user_claims(user, scope)


def trusted_redirect_uri(request: OAuth2Request) -> str | None:
    """Where an error about an authorization request may go before the request is validated:
    a redirect URI registered for the named client (or the client's only one), else None."""
    params = request.payload.datalist
    if len(params.get("client_id", [])) != 1 or len(params.get("redirect_uri", [])) > 1:
        return None
    client = query_client(request.payload.client_id or "")
    if client is None:
        return None
    requested = request.payload.redirect_uri
    if requested:
        return requested if client.check_redirect_uri(requested) else None
    return client.get_default_redirect_uri()


class RequestObjectsRefused:
    """Refuse `request` and `request_uri` (OpenID Connect Core 6.1, 6.2): this provider
    supports neither, and serving the request with the object ignored would drop what the
    client put only inside it (state, nonce, max_age, acr_values, the PKCE challenge)."""

    def __call__(self, server: AuthorizationServer) -> None:
        server.register_hook("before_get_authorization_grant", self.refuse)

    def refuse(self, server: AuthorizationServer, request: OAuth2Request) -> None:
        """Raise request_not_supported or request_uri_not_supported when either is present."""
        params = request.payload.datalist
        error: OAuth2Error
        if "request" in params:
            error = RequestNotSupportedError()
        elif "request_uri" in params:
            error = RequestUriNotSupportedError()
        else:
            return
        # To the client when its redirect URI can be trusted; otherwise an error page.
        error.redirect_uri = trusted_redirect_uri(request)
        raise error


class IssuerParameter(_IssuerParameter):  # type: ignore[misc]  # Authlib is untyped
    """RFC 9207: `iss` in authorization responses, so a client using several providers can
    tell which one answered (a mix-up attack swaps them)."""

    def get_issuer(self) -> str:
        return str(settings().issuer)


issuer_parameter = IssuerParameter()


# A refresh token with its user, in one round trip.
_REFRESH = (
    sa.select(Token, User)
    .outerjoin(User, User.id == Token.user_id)
    .where(Token.refresh_token == sa.bindparam("token"))
    .limit(1)
)


# The claim of a refresh token, built once (see _CLAIM_CODE).
_TOKENS = Token.__table__
_CLAIM_REFRESH = (
    sa.update(_TOKENS)
    .where(_TOKENS.c.id == sa.bindparam("token_id"), _TOKENS.c.refresh_token_revoked_at == 0)
    .values(
        refresh_token_revoked_at=sa.bindparam("now"),
        refresh_token_rotated_at=sa.bindparam("now"),
        refresh_token_rotated_by=sa.bindparam("by"),
    )
)


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]  # Authlib is untyped
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        row = db.session.execute(_REFRESH, {"token": refresh_token}).first()
        if row is None:
            return None
        item, user = row
        item.__dict__["_loaded_user"] = user
        if item.refresh_token_rotated_at:
            # A rotated refresh token came back: someone holds a stolen copy, unless the
            # same client lost a race against itself.
            self._reuse_detected(item)
        if item.refresh_token_revoked_at or item.refresh_token_expires_at <= now_ts():
            return None
        return item

    def authenticate_user(self, refresh_token: Token) -> User | None:
        # Rotate with one conditional UPDATE: of two concurrent refreshes only one wins.
        claimed = db.session.connection().execute(
            _CLAIM_REFRESH, {"token_id": refresh_token.id, "now": now_ts(), "by": client_ip()[:64]}
        )
        # No commit here: the claim commits with the new token in save_token, one transaction.
        # A concurrent refresh waits on the row's write lock, then finds it revoked.
        if claimed.rowcount != 1:
            self._reuse_detected(refresh_token)
        user = refresh_token.get_user()
        if user is None or user.disabled:
            raise InvalidGrantError("The user of this refresh token is no longer active.")
        g.refreshed_from = refresh_token
        return user

    def revoke_old_credential(self, refresh_token: Token) -> None:
        # Already revoked when it was claimed in authenticate_user.
        pass

    def _reuse_detected(self, item: Token) -> None:
        db.session.refresh(item)
        rotated_at = item.refresh_token_rotated_at or 0
        if (
            0 <= now_ts() - rotated_at <= REFRESH_RACE_SECONDS
            and item.refresh_token_rotated_by == client_ip()[:64]
            and item.client_id == self.request.client.client_id
        ):
            current_app.logger.info(
                "refresh token presented twice by its client within %ss: a race, not theft",
                REFRESH_RACE_SECONDS,
                extra={"client_id": item.client_id},
            )
            raise InvalidGrantError("The refresh token was just used by another request.")
        if item.grant_id:
            revoke_grant(item.grant_id, now_ts())
            db.session.commit()
        current_app.logger.warning(
            "refresh token reused; token family revoked",
            extra={"client_id": item.client_id, "grant_id": item.grant_id},
        )
        hook = services().on_refresh_reuse
        if hook is not None and item.user_id:
            hook(item)
        raise InvalidGrantError("The refresh token was already used; the session is revoked.")


# Authlib is untyped: its classes are Any to mypy, which --strict refuses as bases.
class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    """Client credentials, limited to the scopes the client was registered with."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        # Authlib would issue any requested scope; refuse what the client was not given.
        requested = set((self.request.payload.scope or "").split())
        allowed = set(self.request.client.scope.split())
        if requested - allowed:
            raise InvalidScopeError(
                f"Scope not allowed for this client: {' '.join(sorted(requested - allowed))}"
            )

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        # No scope requested means the client's registered scope (RFC 6749 §3.3).
        scope = self.request.payload.scope or self.request.client.scope
        token = self.generate_token(scope=scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


def client_secret_basic(query_client: Any, request: OAuth2Request) -> Client | None:
    """Authlib's client_secret_basic, where a header it cannot read authenticates no client
    (invalid_client) instead of a 500: "Basic" with nothing after it, or base64 of bytes
    that are not UTF-8."""
    try:
        extract_basic_authorization(request.headers)
    except ValueError:
        return None
    return authenticate_client_secret_basic(query_client, request)  # type: ignore[no-any-return]


# Every column of a new token row but its id, written on the driver's cursor (inline: the
# new id is not read back).
_INSERT_TOKEN = Lean(
    sa.insert(_TOKENS).inline(), column_keys=[c.key for c in _TOKENS.columns if c.key != "id"]
)


def save_token(token: dict[str, Any], request: OAuth2Request) -> None:
    """Store an issued token with the grant it belongs to."""
    now = now_ts()
    user = request.user
    code = getattr(request, "authorization_code", None)
    parent: Token | None = g.get("refreshed_from")
    grant_id = code.grant_id if code else (parent.grant_id if parent else None)
    sid = code.sid if code else (parent.sid if parent else None)
    # The userinfo part of the claims request follows the grant through every refresh.
    if code:
        claims_request = claims_request_json(load_claims_request(code.claims_request), "userinfo")
    else:
        claims_request = parent.claims_request if parent else None
    refresh_days = settings().tokens.refresh_token_lifetime_days
    row = {
        "client_id": request.client.client_id,
        "user_id": user.id if user else None,
        "token_type": token["token_type"],
        "access_token": token["access_token"],
        "refresh_token": token.get("refresh_token"),
        "scope": token.get("scope", ""),
        "issued_at": now,
        "expires_in": token["expires_in"],
        "access_token_revoked_at": 0,
        "refresh_token_revoked_at": 0,
        "refresh_token_expires_at": now + refresh_days * 86400 if token.get("refresh_token") else 0,
        "refresh_token_rotated_at": None,
        "refresh_token_rotated_by": None,
        "grant_id": grant_id,
        "sid": sid,
        "claims_request": claims_request,
    }
    if code is None and parent is None:
        # Client credentials: the token is the request's one write, and its client was read
        # on a connection of its own too (read_client), so on PostgreSQL the whole request
        # is two statements, with no BEGIN and COMMIT.
        with own_connection():
            _INSERT_TOKEN.execute(row)
        return
    # A code's or a refresh token's claim commits with the token it pays for.
    _INSERT_TOKEN.execute(row)
    db.session.commit()


class Revocation(RevocationEndpoint):  # type: ignore[misc]  # Authlib is untyped
    """RFC 7009; revoking a refresh token revokes every token of its grant."""

    CLIENT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        if token_type_hint != "refresh_token":
            item: Token | None = db.session.scalar(
                sa.select(Token).filter_by(access_token=token_string)
            )
            if item is not None:
                return item
        by_refresh: Token | None = db.session.scalar(
            sa.select(Token).filter_by(refresh_token=token_string)
        )
        return by_refresh

    def revoke_token(self, token: Token, request: OAuth2Request) -> None:
        now = now_ts()
        if request.form.get("token") == token.refresh_token and token.grant_id:
            revoke_grant(token.grant_id, now)
        elif request.form.get("token") == token.refresh_token:
            token.refresh_token_revoked_at = token.refresh_token_revoked_at or now
            token.access_token_revoked_at = token.access_token_revoked_at or now
        else:
            token.access_token_revoked_at = token.access_token_revoked_at or now
        db.session.commit()


REALM = "idp"


class BearerTokenMissing(MissingAuthorizationError):  # type: ignore[misc]  # Authlib is untyped
    """A request with no bearer token: RFC 6750 §3.1's challenge then carries no error code."""

    description = "A bearer token is required."

    def get_headers(self) -> list[tuple[str, str]]:
        return [*OAuth2Error.get_headers(self), ("WWW-Authenticate", f'Bearer realm="{REALM}"')]


class BearerInvalidRequest(InvalidRequestError):  # type: ignore[misc]  # Authlib is untyped
    """A malformed resource request (RFC 6750 §3.1 invalid_request, HTTP 400)."""

    def get_headers(self) -> list[tuple[str, str]]:
        challenge = (
            f'Bearer realm="{REALM}", error="{self.error}", '
            f'error_description="{self.get_error_description()}"'
        )
        return [*OAuth2Error.get_headers(self), ("WWW-Authenticate", challenge)]


def _form_body_tokens() -> list[str]:
    """The access tokens in a form-encoded request body (RFC 6750 §2.2; never a GET's query)."""
    if http_request.method == "GET" or http_request.mimetype != "application/x-www-form-urlencoded":
        return []
    return http_request.form.getlist("access_token")


class UserInfoProtector(ResourceProtector):  # type: ignore[misc]  # Authlib is untyped
    """The userinfo endpoint's bearer token: in the Authorization header or in a form body
    (RFC 6750 §2.1, §2.2), never both."""

    def parse_request_authorization(self, request: Any) -> tuple[Any, str]:
        header = request.headers.get("Authorization")
        in_body = _form_body_tokens()
        if in_body and header is not None:
            raise BearerInvalidRequest(
                "Send the access token once: in the Authorization "
                "header or in the form body, not both."
            )
        if len(in_body) > 1:
            raise BearerInvalidRequest("'access_token' may be sent only once.")
        if in_body:
            return self.get_token_validator("bearer"), in_body[0]
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer":
            # Nothing, or another scheme (Basic ...): the client did not try a bearer token.
            raise BearerTokenMissing()
        return self.get_token_validator("bearer"), token.strip(" ")


userinfo_protector = UserInfoProtector()


class UserInfoEndpoint(_UserInfoEndpoint):  # type: ignore[misc]  # Authlib is untyped
    def get_issuer(self) -> str:
        return str(settings().issuer)

    def generate_user_info(self, user: User, scope: str) -> UserInfo:
        token: Token = current_token._get_current_object()
        client = token.get_client()
        allowed_scope = client.scope if client is not None else ""
        return userinfo_claims(user, scope, token.claims_request, allowed_scope)

    def resolve_private_key(self) -> Any:
        found = services()
        key = found.keys.active_key(found.clock.now())
        # As a set of one, so the signed response names its key's kid (after a rotation the
        # JWKS holds several).
        return KeySet([key])

    def get_supported_algorithms(self) -> list[str]:
        # A client's userinfo_signed_response_alg is registered only as RS256.
        return ["RS256"]


# Logout parameters that may come once each; two of them would leave the endpoint to guess.
LOGOUT_PARAMETERS = (
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
    "logout_hint",
)


class EndSessionEndpoint(_EndSessionEndpoint):  # type: ignore[misc]  # Authlib is untyped
    def validate_request(self, request: OAuth2Request) -> Any:
        params = request.payload.datalist
        for name in LOGOUT_PARAMETERS:
            if len(params.get(name, [])) > 1:
                raise InvalidRequestError(f"'{name}' may be sent only once.")
        try:
            validated = super().validate_request(request)
        except ValueError as exc:
            if not request.payload.data.get("id_token_hint"):
                raise
            # Authlib quotes joserfc's reason (which may quote the token's header, a kid
            # with any character) in an error that refuses characters outside RFC 6749's.
            raise InvalidRequestError("The id_token_hint is not a valid ID token.") from exc
        # A return address that is not the client's must not sign the user out on the way
        # to a page that says so (RP-Initiated Logout §3, §4).
        uri = request.payload.data.get("post_logout_redirect_uri")
        if uri is not None and validated.client is None:
            raise InvalidRequestError(
                "The sign-out request has a post_logout_redirect_uri but does not say which "
                "application sent it (client_id or id_token_hint)."
            )
        registered = validated.client is not None and uri in (
            validated.client.client_metadata.get("post_logout_redirect_uris") or []
        )
        if uri is not None and not registered:
            raise InvalidRequestError(
                "The post_logout_redirect_uri is not registered for this application."
            )
        claims = validated.id_token_claims
        if claims is not None and not _hint_fits_session(claims):
            # A hint that is expired or names another session proves nothing about this
            # browser: the user confirms (logout with any old ID token was a weapon).
            validated.id_token_claims = None
        return validated

    def get_server_jwks(self) -> Any:
        found = services()
        return found.keys.key_set(found.clock.now())

    def get_algorithms(self) -> list[str]:
        return ["RS256"]

    def is_post_logout_redirect_uri_legitimate(
        self, request: OAuth2Request, uri: str, client: Client, logout_hint: str | None
    ) -> bool:
        # Without an ID token the client named itself with client_id and the URI is one it
        # registered; the user confirms the sign-out before being sent there.
        return True

    def end_session(self, end_session_request: Any) -> None:
        from .sessions import end_current_session

        end_current_session()


def _hint_fits_session(claims: dict[str, Any]) -> bool:
    """Whether an id_token_hint is unexpired and names this browser's session and user."""
    from .sessions import current_sso

    sso = current_sso()
    exp = claims.get("exp")
    now = services().clock.now().timestamp()
    return (
        sso is not None
        and isinstance(exp, int | float)
        and exp > now
        and claims.get("sid") == sso.id
        and claims.get("sub") == sso.user_id
    )


# A bearer token with its user and client, in one round trip instead of three.
_BEARER = (
    sa.select(Token, User, Client)
    .outerjoin(User, User.id == Token.user_id)
    .outerjoin(Client, Client.client_id == Token.client_id)
    .where(Token.access_token == sa.bindparam("token"))
    .limit(1)
)


# Authlib builds this base class at run time (a dynamic base to mypy, and untyped).
class BearerTokenValidator(create_bearer_token_validator(db.session, Token)):  # type: ignore[misc]
    def authenticate_token(self, token_string: str) -> Token | None:
        if not B64TOKEN.fullmatch(token_string):
            return None
        row = db.session.execute(_BEARER, {"token": token_string}).first()
        if row is None:
            return None
        token, user, client = row
        token.__dict__["_loaded_user"] = user
        token.__dict__["_loaded_client"] = client
        if token.user_id and (user is None or user.disabled):
            return None
        return token


class UserInfoTokenValidator(BearerTokenValidator):
    """Userinfo describes the user a token speaks for: a token of the client alone (client
    credentials, even with openid among the client's scopes) is no token for it."""

    def authenticate_token(self, token_string: str) -> Token | None:
        token = super().authenticate_token(token_string)
        return token if token is not None and token.user_id else None


def init_oauth(app: Flask) -> AuthorizationServer:
    """Bind the authorization server and resource protector to the app."""
    tokens = services(app).settings.tokens
    app.config["OAUTH2_ACCESS_TOKEN_GENERATOR"] = random_token
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = random_token
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {
        "authorization_code": tokens.access_token_lifetime_seconds,
        "refresh_token": tokens.access_token_lifetime_seconds,
        "client_credentials": tokens.access_token_lifetime_seconds,
    }
    app.config["OAUTH2_SCOPES_SUPPORTED"] = [
        "openid",
        "profile",
        "email",
        "address",
        "phone",
        "groups",
        "offline_access",
        "idp.admin",
    ]
    authorization.init_app(app, query_client=read_client, save_token=save_token)
    if not getattr(authorization, "_idp_grants_registered", False):
        authorization.register_grant(
            AuthorizationCodeGrant, [OpenIDCode(require_nonce=False), S256Challenge(required=True)]
        )
        authorization.register_client_auth_method("client_secret_basic", client_secret_basic)
        authorization.register_grant(RefreshTokenGrant)
        authorization.register_grant(ClientCredentialsGrant)
        authorization.register_endpoint(Revocation)
        authorization.register_extension(RequestObjectsRefused())
        authorization.register_extension(issuer_parameter)
        authorization.register_endpoint(UserInfoEndpoint(resource_protector=userinfo_protector))
        authorization.register_endpoint(EndSessionEndpoint)
        from .introspection import Introspection
        from .registration import ConfigurationEndpoint, RegistrationEndpoint

        authorization.register_endpoint(Introspection)
        authorization.register_endpoint(RegistrationEndpoint)
        authorization.register_endpoint(ConfigurationEndpoint)
        require_oauth.register_token_validator(BearerTokenValidator())
        userinfo_protector.register_token_validator(UserInfoTokenValidator())
        authorization._idp_grants_registered = True
    return authorization
