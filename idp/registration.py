"""Dynamic client registration (RFC 7591), its management protocol (RFC 7592), and the
metadata rules a self-registered client must obey.

A client that registers itself is a third party: it gets a consent page, a random
client_id, and only the user-facing scopes (never the operator's `idp.*` scopes, never the
client_credentials grant). What this provider cannot honour (client keys, encryption,
pairwise subjects, request objects) is refused with invalid_client_metadata rather than
silently dropped, so a client never believes it has a protection it lacks.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oauth2.rfc7591 import (
    ClientRegistrationEndpoint,
    InvalidClientMetadataError,
    InvalidRedirectURIError,
)
from authlib.oauth2.rfc7592 import ClientConfigurationEndpoint
from flask import current_app
from flask import request as http_request

from .clients import (
    ClientMetadataError,
    check_client_rules,
    delete_client,
    new_client_id,
    new_client_secret,
    query_client,
    save_client,
)
from .config import Settings
from .extensions import db
from .models import Client
from .services import services
from .urls import bad_port, url_parts

MAX_REDIRECT_URIS = 20
MAX_CONTACTS = 10
MAX_URI_LENGTH = 2000
MAX_TEXT_LENGTH = 150  # Client.name is a String(150)
GRANT_TYPES = ("authorization_code", "refresh_token")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
SIGNING_ALGS = ("RS256",)
WEB_PAGE_FIELDS = ("client_uri", "logo_uri", "policy_uri", "tos_uri", "initiate_login_uri")
# Stored as given once checked; client_id and client_secret are the server's to assign.
IGNORED_FIELDS = ("client_id", "client_secret", "software_statement")
# Metadata that would need something this provider does not do; refused, with the reason.
REFUSED_FIELDS = {
    "jwks": "client keys are not used here (no private_key_jwt, request objects or encryption)",
    "jwks_uri": "client keys are not used here (no private_key_jwt, request objects or encryption)",
    "sector_identifier_uri": "pairwise subject identifiers are not supported",
    "request_uris": "request_uri is not supported",
    "request_object_signing_alg": "request objects are not supported",
    "request_object_encryption_alg": "request objects are not supported",
    "request_object_encryption_enc": "request objects are not supported",
    "token_endpoint_auth_signing_alg": "only client_secret_basic, client_secret_post and "
    "none authenticate clients here",
    "id_token_encrypted_response_alg": "encrypted ID tokens are not supported",
    "id_token_encrypted_response_enc": "encrypted ID tokens are not supported",
    "userinfo_encrypted_response_alg": "encrypted userinfo responses are not supported",
    "userinfo_encrypted_response_enc": "encrypted userinfo responses are not supported",
    "authorization_encrypted_response_alg": "JARM is not supported",
    "default_max_age": "default_max_age is not enforced here; send max_age per request",
    "default_acr_values": "default_acr_values is not supported; send acr_values per request",
    "tls_client_certificate_bound_access_tokens": "certificate-bound tokens are not supported",
    "dpop_bound_access_tokens": "DPoP is not supported",
}


def _bad(message: str) -> ClientMetadataError:
    return ClientMetadataError(message)


def _text(data: dict[str, Any], name: str, limit: int = MAX_TEXT_LENGTH) -> str | None:
    """An optional printable string field, at most `limit` characters."""
    value = data.get(name)
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > limit
        or not value.isprintable()
    ):
        raise _bad(f"'{name}' must be printable text of at most {limit} characters")
    return value


def _strings(data: dict[str, Any], name: str, limit: int) -> list[str] | None:
    """An optional list of strings, at most `limit` of them."""
    value = data.get(name)
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) > limit
        or not all(isinstance(v, str) for v in value)
    ):
        raise _bad(f"'{name}' must be a list of at most {limit} strings")
    return list(value)


def _uri_text(uri: str, name: str) -> None:
    if len(uri) > MAX_URI_LENGTH or not uri.isprintable() or any(c.isspace() for c in uri):
        raise _bad(f"'{name}' holds a URI that is too long or has spaces or control characters")


def check_web_page(uri: Any, name: str) -> str:
    """An absolute https URL without fragment (a page or image shown to the user)."""
    if not isinstance(uri, str):
        raise _bad(f"'{name}' must be a string")
    _uri_text(uri, name)
    parts = url_parts(uri)
    if parts is None or parts.scheme != "https" or not parts.hostname or parts.fragment:
        raise _bad(f"'{name}' must be an absolute https URL without fragment")
    # Shown to users: a user name before the host ("https://bank.example@evil.example")
    # makes a link read as another site's.
    if parts.username is not None or parts.password is not None:
        raise _bad(f"'{name}' must not hold a user name or password")
    if bad_port(parts):
        raise _bad(f"'{name}' has a port that is not one")
    return uri


def _scope(data: dict[str, Any], supported: list[str]) -> str:
    value = data.get("scope")
    # Operator scopes (idp.admin ...) are granted by the operator, never self-registered.
    offered = [s for s in supported if not s.startswith("idp.")]
    if value is None:
        return " ".join(s for s in offered if s != "groups")
    if not isinstance(value, str) or not value.isprintable() or len(value) > 1000:
        raise _bad("'scope' must be a space-separated string of scopes")
    scopes = list(dict.fromkeys(value.split()))
    unknown = [s for s in scopes if s not in offered]
    if unknown or not scopes:
        raise _bad(f"'scope' may hold only: {' '.join(offered)}")
    return " ".join(scopes)


def _has_nul(value: Any) -> bool:
    """Whether a NUL hides anywhere in a JSON value, keys included; iterative, because a
    body may nest as deep as the JSON parser allows."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str) and "\x00" in item:
            return True
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def validate_metadata(data: Any, supported_scopes: list[str]) -> dict[str, Any]:
    """RFC 7591 §2 metadata checked and normalised to what is stored; ClientMetadataError
    (with RFC 7591's error code) when something cannot be registered."""
    if not isinstance(data, dict):
        raise _bad("the client metadata must be a JSON object")
    for name, reason in REFUSED_FIELDS.items():
        if data.get(name) is not None:
            raise _bad(f"'{name}' is not supported: {reason}")
    if data.get("subject_type", "public") != "public":
        raise _bad("'subject_type' must be public: pairwise identifiers are not supported")
    for name in ("id_token_signed_response_alg", "userinfo_signed_response_alg"):
        if data.get(name) is not None and data[name] not in SIGNING_ALGS:
            raise _bad(f"'{name}' must be RS256")

    method = data.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in AUTH_METHODS:
        raise _bad(f"'token_endpoint_auth_method' must be one of: {', '.join(AUTH_METHODS)}")
    grant_types = _strings(data, "grant_types", len(GRANT_TYPES)) or ["authorization_code"]
    if any(g not in GRANT_TYPES for g in grant_types) or "authorization_code" not in grant_types:
        raise _bad("'grant_types' must hold authorization_code, and may add refresh_token")
    response_types = _strings(data, "response_types", 1)
    if response_types is not None and response_types != ["code"]:
        raise _bad("'response_types' may only be [\"code\"]")
    redirect_uris = data.get("redirect_uris")
    if (
        not isinstance(redirect_uris, list)
        or not redirect_uris
        or not all(isinstance(u, str) for u in redirect_uris)
    ):
        raise ClientMetadataError(
            "'redirect_uris' must be a non-empty list of URIs", "invalid_redirect_uri"
        )
    if len(redirect_uris) > MAX_REDIRECT_URIS:
        raise ClientMetadataError(
            f"at most {MAX_REDIRECT_URIS} redirect URIs", "invalid_redirect_uri"
        )
    for uri in redirect_uris:
        if len(uri) > MAX_URI_LENGTH:
            raise ClientMetadataError("a redirect URI is too long", "invalid_redirect_uri")
    application_type = data.get("application_type", "web")
    if application_type not in ("web", "native"):
        raise _bad("'application_type' must be web or native")

    metadata: dict[str, Any] = {
        "redirect_uris": list(dict.fromkeys(redirect_uris)),
        "token_endpoint_auth_method": method,
        "grant_types": list(dict.fromkeys(grant_types)),
        "response_types": ["code"],
        "scope": _scope(data, supported_scopes),
        "application_type": application_type,
    }
    logout_uris = _strings(data, "post_logout_redirect_uris", MAX_REDIRECT_URIS)
    metadata["post_logout_redirect_uris"] = logout_uris or []
    for uri in metadata["post_logout_redirect_uris"]:
        _uri_text(uri, "post_logout_redirect_uris")
    for name in ("client_name", "software_id", "software_version"):
        if (value := _text(data, name)) is not None:
            metadata[name] = value
    for name in WEB_PAGE_FIELDS:
        if data.get(name) is not None:
            metadata[name] = check_web_page(data[name], name)
    contacts = _strings(data, "contacts", MAX_CONTACTS)
    if contacts is not None:
        if not all(
            0 < len(c) <= 320 and c.isprintable() and not any(x.isspace() for x in c)
            for c in contacts
        ):
            raise _bad("'contacts' must be addresses without spaces, at most 320 characters")
        metadata["contacts"] = contacts
    if data.get("backchannel_logout_uri") is not None:
        # Checked with the operator's clients' rules in check_client_rules below.
        metadata["backchannel_logout_uri"] = data["backchannel_logout_uri"]
    for name in ("backchannel_logout_session_required", "require_auth_time"):
        if data.get(name) is not None:
            if not isinstance(data[name], bool):
                raise _bad(f"'{name}' must be true or false")
            metadata[name] = data[name]
    if data.get("backchannel_logout_session_required") and "backchannel_logout_uri" not in metadata:
        raise _bad("'backchannel_logout_session_required' needs a 'backchannel_logout_uri'")
    for name in ("id_token_signed_response_alg", "userinfo_signed_response_alg"):
        if data.get(name) is not None:
            metadata[name] = data[name]
    check_client_rules(metadata)
    # Even in metadata that is ignored: a NUL is never an honest value.
    if _has_nul(data):
        raise _bad("the client metadata holds a NUL character")
    return metadata


def token_digest(token: str) -> str:
    """The stored form of a registration access token (a 256-bit random value)."""
    return "sha256$" + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _bearer() -> str | None:
    scheme, _, token = http_request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _settings() -> Settings:
    return services().settings


def _supported_scopes() -> list[str]:
    return list(current_app.config.get("OAUTH2_SCOPES_SUPPORTED", []))


_DESCRIPTION = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def _as_oauth_error(error: ClientMetadataError) -> OAuth2Error:
    cls = (
        InvalidRedirectURIError
        if error.error == "invalid_redirect_uri"
        else InvalidClientMetadataError
    )
    # RFC 6749 limits error_description to printable ASCII without '"' and '\'; the
    # message may quote what the client sent.
    return cls(_DESCRIPTION.sub("?", str(error))[:300])


def registration_client_uri(client: Client) -> str:
    """Where the client reads, changes and deletes its registration (RFC 7592)."""
    return f"{_settings().issuer}/register/{client.client_id}"


def client_description(client: Client) -> dict[str, Any]:
    """What RFC 7591/7592 responses say about a client: never its secret's digest."""
    return {
        **client.client_metadata,
        "client_id": client.client_id,
        "client_id_issued_at": client.client_id_issued_at,
        "client_secret_expires_at": client.client_secret_expires_at,
    }


@dataclass(frozen=True)
class InitialAccess:
    """Who may register: a holder of an initial access token, or anyone (open)."""

    open: bool


class RegistrationEndpoint(ClientRegistrationEndpoint):  # type: ignore[misc]
    """RFC 7591 `POST /register`, with our metadata rules and an initial access token."""

    def authenticate_token(self, request: Any) -> InitialAccess:
        config = _settings().registration
        token = _bearer()
        if token is None and config.open:
            return InitialAccess(open=True)
        if token is None:
            raise InvalidTokenError("An initial access token is required to register.", realm="idp")
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
        # Every configured digest is compared, in constant time, whatever matched first.
        matched = False
        for known in config.initial_access_token_sha256:
            matched |= hmac.compare_digest(digest, known.lower())
        if not matched:
            raise InvalidTokenError("The initial access token is not valid.", realm="idp")
        return InitialAccess(open=False)

    def extract_client_metadata(self, request: Any) -> dict[str, Any]:
        try:
            metadata = validate_metadata(request.payload.data, _supported_scopes())
        except ClientMetadataError as error:
            raise _as_oauth_error(error) from None
        request.idp_metadata = metadata
        return metadata

    def generate_client_info(self, request: Any) -> dict[str, Any]:
        secret = new_client_secret(request.idp_metadata)
        request.idp_secret = secret
        info: dict[str, Any] = {"client_id": new_client_id(), "client_secret_expires_at": 0}
        if secret is not None:
            info["client_secret"] = secret
        return info

    def save_client(
        self, client_info: dict[str, Any], client_metadata: dict[str, Any], request: Any
    ) -> Client:
        request.idp_registration_token = secrets.token_urlsafe(32)
        client = save_client(
            client_metadata.get("client_name") or "Unnamed application",
            client_metadata,
            request.idp_secret,
            client_id=client_info["client_id"],
            registered_dynamically=True,
        )
        client.registration_token_hash = token_digest(request.idp_registration_token)
        db.session.commit()
        current_app.logger.info(
            "client registered itself",
            extra={"client_id": client.client_id, "open_registration": request.credential.open},
        )
        return client

    def generate_client_registration_info(self, client: Client, request: Any) -> dict[str, Any]:
        return {
            "client_id_issued_at": client.client_id_issued_at,
            "registration_client_uri": registration_client_uri(client),
            "registration_access_token": request.idp_registration_token,
        }


@dataclass(frozen=True)
class RegistrationToken:
    """A registration access token that matched the client it manages."""

    client_id: str

    def check_client(self, client: Client) -> bool:
        return bool(client.client_id == self.client_id)


# Compared against when no client matches, so a miss costs what a hit costs.
_NO_CLIENT_DIGEST = token_digest("")


class ConfigurationEndpoint(ClientConfigurationEndpoint):  # type: ignore[misc]
    """RFC 7592 `GET|PUT|DELETE /register/{client_id}`, authenticated by the client's
    registration access token."""

    def authenticate_token(self, request: Any) -> RegistrationToken:
        client_id = (http_request.view_args or {}).get("client_id", "")
        client = query_client(client_id)
        token = _bearer()
        stored = client.registration_token_hash if client is not None else None
        presented = token_digest(token or "")
        good = hmac.compare_digest(stored or _NO_CLIENT_DIGEST, presented)
        if (
            token is None
            or client is None
            or not stored
            or not good
            or not client.registered_dynamically
        ):
            # A wrong token, another client's token and an unknown client look alike.
            raise InvalidTokenError(
                "The registration access token is not valid for this client.", realm="idp"
            )
        request.idp_client = client
        return RegistrationToken(client.client_id)

    def authenticate_client(self, request: Any) -> Client:
        return request.idp_client  # type: ignore[no-any-return]

    def revoke_access_token(self, token: Any, request: Any) -> None:
        # The token is checked against the client's own row, so no client means no token.
        pass

    def check_permission(self, client: Client, request: Any) -> bool:
        return bool(client.registered_dynamically)

    def introspect_client(self, client: Client) -> dict[str, Any]:
        return client_description(client)

    def generate_client_registration_info(self, client: Client, request: Any) -> dict[str, Any]:
        return {
            "registration_client_uri": registration_client_uri(client),
            "registration_access_token": _bearer(),
        }

    def extract_client_metadata(self, request: Any) -> dict[str, Any]:
        data = request.payload.data
        try:
            return validate_metadata(data, _supported_scopes())
        except ClientMetadataError as error:
            raise _as_oauth_error(error) from None

    def create_update_client_response(self, client: Client, request: Any) -> Any:
        data = request.payload.data
        for name in ("client_id", "client_secret"):
            # Authlib compares these as strings; anything else is a malformed request.
            if name in data and not isinstance(data[name], str):
                raise InvalidRequestError(f"'{name}' must be a string.")
        return super().create_update_client_response(client, request)

    def update_client(
        self, client: Client, client_metadata: dict[str, Any], request: Any
    ) -> Client:
        # A secret is issued at registration only: moving between public and confidential
        # would need one issued or withdrawn here, so that takes a new registration.
        was_public = client.is_public
        if (client_metadata["token_endpoint_auth_method"] == "none") != was_public:
            raise InvalidClientMetadataError(
                "'token_endpoint_auth_method' cannot switch between public (none) and "
                "confidential; register a new client instead"
            )
        # RFC 7592 §2.2: the request replaces the metadata; omitted fields are dropped.
        client.set_client_metadata(client_metadata)
        client.name = client_metadata.get("client_name") or "Unnamed application"
        db.session.commit()
        return client

    def delete_client(self, client: Client, request: Any) -> None:
        delete_client(client)
        current_app.logger.info(
            "client deleted its registration", extra={"client_id": client.client_id}
        )

    def get_server_metadata(self) -> dict[str, Any]:
        return {}


__all__ = ["ConfigurationEndpoint", "RegistrationEndpoint", "validate_metadata"]
