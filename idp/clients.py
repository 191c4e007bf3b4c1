"""Registering OAuth clients."""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlparse

import sqlalchemy as sa

from .errors import IdpError
from .extensions import db
from .models import Client, hash_client_secret
from .oauth import new_client_id

DEFAULT_SCOPES = ["openid", "profile", "email", "offline_access"]


def _check_redirect_uri(uri: str) -> None:
    parts = urlparse(uri)
    if (
        parts.fragment
        or not parts.scheme
        or (parts.scheme in ("http", "https") and not parts.netloc)
    ):
        raise IdpError(f"redirect URI {uri!r} must be absolute and have no fragment")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise IdpError(f"redirect URI {uri!r}: plain http is allowed only for loopback hosts")


def create_client(
    name: str,
    *,
    redirect_uris: list[str],
    post_logout_redirect_uris: list[str],
    public: bool,
    grant_types: list[str],
    scopes: list[str],
    client_id: str | None = None,
    own_issuer: bool = False,
) -> tuple[Client, str | None]:
    """Register a client; returns it with its secret (None for public clients)."""
    grant_types = grant_types or ["authorization_code", "refresh_token"]
    if "client_credentials" in grant_types and public:
        raise IdpError("a public client cannot use the client_credentials grant")
    if "authorization_code" in grant_types and not redirect_uris:
        raise IdpError("the authorization_code grant needs at least one --redirect-uri")
    # The provider's own pages live at the issuer the operator configured; others are checked.
    for uri in [] if own_issuer else [*redirect_uris, *post_logout_redirect_uris]:
        _check_redirect_uri(uri)
    secret = None if public else secrets.token_urlsafe(32)
    client = Client(
        name=name,
        client_id=client_id or new_client_id(),
        client_secret=hash_client_secret(secret) if secret else None,
        client_id_issued_at=int(time.time()),
        client_secret_expires_at=0,
    )
    client.set_client_metadata(
        {
            "client_name": name,
            "redirect_uris": redirect_uris,
            "post_logout_redirect_uris": post_logout_redirect_uris,
            "grant_types": grant_types,
            "response_types": ["code"] if "authorization_code" in grant_types else [],
            "scope": " ".join(scopes or DEFAULT_SCOPES),
            "token_endpoint_auth_method": "none" if public else "client_secret_basic",
        }
    )
    db.session.add(client)
    db.session.commit()
    return client, secret


def ensure_demo_client(client_id: str, redirect_uri: str, logout_uri: str) -> Client:
    """The demo's public client, (re)registered for the current host and port."""
    existing = db.session.scalar(sa.select(Client).filter_by(client_id=client_id))
    if existing is not None:
        db.session.delete(existing)
        db.session.commit()
    client, _ = create_client(
        "Demo app",
        redirect_uris=[redirect_uri],
        post_logout_redirect_uris=[logout_uri],
        public=True,
        grant_types=["authorization_code", "refresh_token"],
        scopes=["openid", "profile", "email", "groups", "offline_access"],
        client_id=client_id,
    )
    return client


def find_client(client_id: str) -> Client:
    """The client with this id, or an error naming it."""
    client = db.session.scalar(sa.select(Client).filter_by(client_id=client_id))
    if client is None:
        raise IdpError(f"no client with id {client_id!r}")
    return client


def rotate_secret(client: Client) -> str:
    """A new secret for a confidential client; the old one stops working at once."""
    if client.is_public:
        raise IdpError(f"client {client.client_id!r} is public: it has no secret")
    secret = secrets.token_urlsafe(32)
    client.client_secret = hash_client_secret(secret)
    client.client_id_issued_at = int(time.time())
    db.session.commit()
    return secret


def delete_client(client: Client) -> None:
    """Delete a client and every token and code issued to it."""
    from .models import AuthorizationCode, Token

    db.session.execute(sa.delete(Token).where(Token.client_id == client.client_id))
    db.session.execute(sa.delete(AuthorizationCode).where(
        AuthorizationCode.client_id == client.client_id))
    db.session.delete(client)
    db.session.commit()
