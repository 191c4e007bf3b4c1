"""Token introspection (RFC 7662) for resource servers.

Who may ask about which token: a confidential client the operator registered (a resource
server is usually one) may introspect any token this provider issued; a client that
registered itself may introspect only its own tokens. Anyone can register a client when
registration is open, and a stranger's client must not learn who holds a token it found.
A token the caller may not see is reported exactly like an unknown one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Request
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from .extensions import db
from .models import Client, Token, User
from .services import now_ts, services

# RFC 6750 §2.1: what a bearer token may look like. Anything else is no token of ours and never
# reaches the database (PostgreSQL refuses NUL bytes with an error).
B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# Ours are about 42 to 48 characters; anything much longer is no token of ours.
MAX_TOKEN_LENGTH = 512


@dataclass(frozen=True)
class Found:
    """A token row and which of its two tokens the request named."""

    row: Token
    kind: str  # "access_token" or "refresh_token"


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    """RFC 7662 `POST /introspect`, for confidential clients only."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def check_params(self, request: OAuth2Request, client: Client) -> None:
        tokens = request.form.getlist("token")
        if len(tokens) != 1:
            raise InvalidRequestError("Send exactly one 'token' parameter.")
        # An unknown token_type_hint is ignored: RFC 7662 §2.1 has the server search
        # every type whatever the hint says.

    def query_token(self, token_string: str, token_type_hint: str | None) -> Found | None:
        # Malformed strings (NUL, non-ASCII, huge) never reach the database.
        if len(token_string) > MAX_TOKEN_LENGTH or not B64TOKEN.fullmatch(token_string):
            return None
        order = (
            ["refresh_token", "access_token"]
            if token_type_hint == "refresh_token"
            else ["access_token", "refresh_token"]
        )
        for kind in order:
            column = Token.access_token if kind == "access_token" else Token.refresh_token
            row = db.session.scalar(sa.select(Token).where(column == token_string))
            if row is not None:
                return Found(row, kind)
        return None

    def check_permission(self, token: Found, client: Client, request: OAuth2Request) -> bool:
        return bool(token.row.client_id == client.client_id or not client.registered_dynamically)

    def create_introspection_payload(self, token: Found | None) -> dict[str, Any]:
        if token is None:
            return {"active": False}
        row, now = token.row, now_ts()
        if token.kind == "access_token":
            expires_at = row.issued_at + row.expires_in
            active = not row.access_token_revoked_at and expires_at > now
        else:
            expires_at = row.refresh_token_expires_at
            active = row.is_refresh_token_valid(now)
        user = db.session.get(User, row.user_id) if row.user_id else None
        if not active or (row.user_id and (user is None or user.disabled)):
            return {"active": False}
        payload: dict[str, Any] = {
            "active": True,
            "scope": row.scope,
            "client_id": row.client_id,
            # A refresh token is no bearer token: a resource server that checks token_type
            # will not take one for an access token.
            "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
            "exp": expires_at,
            "iat": row.issued_at,
            "aud": row.client_id,
            "iss": services().settings.issuer,
        }
        if user is not None:
            payload["sub"] = user.id
            payload["username"] = user.username
        if row.sid:
            payload["sid"] = row.sid
        return payload
