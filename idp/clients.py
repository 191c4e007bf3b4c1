"""Registering OAuth clients."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import has_request_context, request
from sqlalchemy.exc import IntegrityError

from .errors import IdpError
from .extensions import db
from .leansql import Lean, columns_of, detached, own_connection
from .models import Client, hash_client_secret
from .services import now_ts
from .urls import bad_port, url_parts


def new_client_id() -> str:
    """A random id that does not begin with '-': `idp clients rotate-secret ID` and the other
    commands would read such an id as an option (one id in 64 did)."""
    while True:
        client_id = secrets.token_urlsafe(18)
        if not client_id.startswith("-"):
            return client_id


def _plausible(client_id: str) -> bool:
    # Ours are URL-safe tokens; anything else (a NUL from a Basic header, say) is no client.
    return (
        bool(client_id) and len(client_id) <= 48 and client_id.isascii() and client_id.isprintable()
    )


def _read_in_this_request() -> dict[tuple[str, str], Client | None]:
    """The clients this request has read (the authorization endpoint asks up to four
    times), or a throwaway dict outside a request."""
    if not has_request_context():
        return {}
    found: dict[tuple[str, str], Client | None] = request.environ.setdefault("idp.clients", {})
    return found


def _once_per_request(way: str, client_id: str, load: Callable[[], Client | None]) -> Client | None:
    """`load()`'s client, read at most once a request for each way of reading it."""
    if not _plausible(client_id):
        return None
    memo = _read_in_this_request()
    key = (way, client_id)
    if key not in memo:
        memo[key] = load()
    return memo[key]


def query_client(client_id: str) -> Client | None:
    """The client, in the session: what code that changes a client reads."""
    return _once_per_request(
        "session", client_id, lambda: db.session.scalar(_CLIENT, {"client_id": client_id})
    )


_CLIENT = sa.select(Client).where(Client.client_id == sa.bindparam("client_id"))

_CLIENT_COLUMNS = columns_of(Client)
_CLIENT_ROW = Lean(
    sa.select(*(column for _, column in _CLIENT_COLUMNS)).where(
        Client.__table__.c.client_id == sa.bindparam("client_id")
    )
)


def read_client(client_id: str) -> Client | None:
    """The client, to read and never change: Authlib's lookup at the token, revocation,
    introspection and authorization endpoints.

    One statement on a connection of its own (idp.leansql: on PostgreSQL outside any
    transaction, so a client-credentials request needs no BEGIN and COMMIT for it). The
    Client comes back detached from the session, every column loaded; a change made to it
    would be saved nowhere (use query_client)."""

    def load() -> Client | None:
        with own_connection():
            row = _CLIENT_ROW.first({"client_id": client_id})
        return None if row is None else detached(Client, _CLIENT_COLUMNS, row)

    return _once_per_request("read", client_id, load)


# The standard claim scopes are all offered: what a client gets is still only what the
# user has set and the client asks for.
DEFAULT_SCOPES = ["openid", "profile", "email", "address", "phone", "offline_access"]


# Schemes a browser would run or read locally rather than send to a server.
UNSAFE_SCHEMES = frozenset({"javascript", "data", "vbscript", "file", "about", "blob"})
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class ClientMetadataError(IdpError):
    """Client metadata that cannot be registered; `error` is RFC 7591's code for it."""

    def __init__(self, message: str, error: str = "invalid_client_metadata") -> None:
        super().__init__(message)
        self.error = error


def _check_redirect_uri(uri: str) -> None:
    parts = url_parts(uri)
    if parts is None:
        raise IdpError(f"redirect URI {uri!r} is not a URL")
    if (
        parts.fragment
        or not parts.scheme
        or (parts.scheme in ("http", "https") and not parts.netloc)
        or not uri.isprintable()
        or any(c.isspace() for c in uri)
    ):
        raise IdpError(f"redirect URI {uri!r} must be absolute and have no fragment")
    if bad_port(parts):
        raise IdpError(f"redirect URI {uri!r} has a port that is not one")
    if parts.scheme.lower() in UNSAFE_SCHEMES:
        raise IdpError(f"redirect URI {uri!r}: the {parts.scheme} scheme is not allowed")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise IdpError(f"redirect URI {uri!r}: plain http is allowed only for loopback hosts")


def check_backchannel_logout_uri(uri: Any) -> None:
    """Refuse a back-channel logout URI that is not an absolute http(s) URL without a
    fragment (Back-Channel Logout §2.2), or is plain http to a host other than loopback."""
    if not isinstance(uri, str) or len(uri) > 2000:
        raise IdpError("the back-channel logout URI must be a string of at most 2000 characters")
    parts = url_parts(uri)
    if parts is None:
        raise IdpError(f"back-channel logout URI {uri!r} is not a URL")
    if bad_port(parts):
        raise IdpError(f"back-channel logout URI {uri!r} has an invalid port")
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or "#" in uri
        or not uri.isprintable()
        or any(c.isspace() for c in uri)
    ):
        raise IdpError(
            f"back-channel logout URI {uri!r} must be an absolute http(s) URL without a fragment"
        )
    if "@" in parts.netloc:
        raise IdpError(f"back-channel logout URI {uri!r} must not carry credentials")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise IdpError(
            f"back-channel logout URI {uri!r}: plain http is allowed only for loopback hosts"
        )


def check_client_rules(metadata: dict[str, Any], *, check_uris: bool = True) -> None:
    """The rules every client obeys, however it was registered; ClientMetadataError if not."""
    if "backchannel_logout_uri" in metadata:
        # Checked even for the provider's own clients: the provider itself will POST to it.
        try:
            check_backchannel_logout_uri(metadata["backchannel_logout_uri"])
        except IdpError as exc:
            raise ClientMetadataError(str(exc)) from None
    if not isinstance(metadata.get("backchannel_logout_session_required", False), bool):
        raise ClientMetadataError("backchannel_logout_session_required must be true or false")
    grant_types = metadata.get("grant_types", [])
    public = metadata.get("token_endpoint_auth_method") == "none"
    if "client_credentials" in grant_types and public:
        raise ClientMetadataError("a public client cannot use the client_credentials grant")
    if "authorization_code" in grant_types and not metadata.get("redirect_uris"):
        raise ClientMetadataError(
            "the authorization_code grant needs at least one redirect URI", "invalid_redirect_uri"
        )
    if not check_uris:
        return
    for uri in metadata.get("redirect_uris", []):
        try:
            _check_redirect_uri(uri)
        except IdpError as exc:
            raise ClientMetadataError(str(exc), "invalid_redirect_uri") from None
    for uri in metadata.get("post_logout_redirect_uris", []):
        try:
            _check_redirect_uri(uri)
        except IdpError as exc:
            raise ClientMetadataError(f"post-logout {exc}") from None


def new_client_secret(metadata: dict[str, Any]) -> str | None:
    """A fresh secret for a confidential client; None for a public one."""
    return (
        None if metadata.get("token_endpoint_auth_method") == "none" else secrets.token_urlsafe(32)
    )


def save_client(
    name: str,
    metadata: dict[str, Any],
    secret: str | None,
    *,
    client_id: str | None = None,
    registered_dynamically: bool = False,
    first_party: bool | None = None,
) -> Client:
    """Store a client whose metadata passed the checks, its secret only as a digest.
    Self-registered clients are third parties: they get a consent page."""
    client = Client(
        name=name,
        client_id=client_id or new_client_id(),
        client_secret=hash_client_secret(secret) if secret else None,
        client_id_issued_at=now_ts(),
        client_secret_expires_at=0,
        first_party=not registered_dynamically if first_party is None else first_party,
        registered_dynamically=registered_dynamically,
    )
    client.set_client_metadata(metadata)
    db.session.add(client)
    db.session.commit()
    return client


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
    first_party: bool = True,
    backchannel_logout_uri: str | None = None,
    backchannel_logout_session_required: bool = False,
) -> tuple[Client, str | None]:
    """Register a client; returns it with its secret (None for public clients). A
    third-party client (`first_party=False`) asks each user's consent."""
    grant_types = grant_types or ["authorization_code", "refresh_token"]
    if backchannel_logout_session_required and not backchannel_logout_uri:
        raise IdpError("--backchannel-logout-session-required needs a back-channel logout URI")
    metadata: dict[str, Any] = {
        "client_name": name,
        "redirect_uris": redirect_uris,
        "post_logout_redirect_uris": post_logout_redirect_uris,
        "grant_types": grant_types,
        "response_types": ["code"] if "authorization_code" in grant_types else [],
        "scope": " ".join(scopes or DEFAULT_SCOPES),
        "token_endpoint_auth_method": "none" if public else "client_secret_basic",
    }
    if backchannel_logout_uri:
        metadata["backchannel_logout_uri"] = backchannel_logout_uri
        metadata["backchannel_logout_session_required"] = backchannel_logout_session_required
    # The provider's own pages live at the issuer the operator configured; others are checked.
    check_client_rules(metadata, check_uris=not own_issuer)
    secret = new_client_secret(metadata)
    return save_client(name, metadata, secret, client_id=client_id, first_party=first_party), secret


def ensure_own_client(client_id: str, name: str, callback_url: str, scopes: list[str]) -> Client:
    """One of the provider's own public clients (admin console, account pages), registered
    on first use and again when the issuer, and so its callback, changed."""
    client: Client | None = db.session.scalar(sa.select(Client).filter_by(client_id=client_id))
    if client is not None and callback_url in client.redirect_uris:
        return client
    if client is not None:
        db.session.delete(client)
        db.session.commit()
    try:
        client, _ = create_client(
            name,
            redirect_uris=[callback_url],
            post_logout_redirect_uris=[],
            public=True,
            grant_types=["authorization_code"],
            scopes=scopes,
            client_id=client_id,
            own_issuer=True,
        )
    except IntegrityError:  # another worker registered it first
        db.session.rollback()
        client = db.session.scalar(sa.select(Client).filter_by(client_id=client_id))
    assert client is not None
    return client


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
        scopes=["openid", "profile", "email", "address", "phone", "groups", "offline_access"],
        client_id=client_id,
    )
    return client


def find_client(client_id: str) -> Client:
    """The client with this id, or an error naming it."""
    client: Client | None = db.session.scalar(sa.select(Client).filter_by(client_id=client_id))
    if client is None:
        raise IdpError(f"no client with id {client_id!r}")
    return client


def rotate_secret(client: Client) -> str:
    """A new secret for a confidential client; the old one stops working at once."""
    if client.is_public:
        raise IdpError(f"client {client.client_id!r} is public: it has no secret")
    secret = secrets.token_urlsafe(32)
    client.client_secret = hash_client_secret(secret)
    client.client_id_issued_at = now_ts()
    db.session.commit()
    return secret


def delete_client(client: Client) -> None:
    """Delete a client and every token, code and user consent issued to it."""
    from .consent import delete_for_client
    from .models import AuthorizationCode, Token

    delete_for_client(client.client_id)
    db.session.execute(sa.delete(Token).where(Token.client_id == client.client_id))
    db.session.execute(
        sa.delete(AuthorizationCode).where(AuthorizationCode.client_id == client.client_id)
    )
    db.session.delete(client)
    db.session.commit()
