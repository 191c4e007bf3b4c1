"""Answers given in front of Flask: the discovery and JWKS documents, and userinfo.

Through Flask an answer costs several times the work itself (a request context, the hooks,
Werkzeug's request and response objects, for userinfo Authlib's resource protector and the
ORM). What Flask's path would add is added here too: the security headers, the request's
log line and its `idp_request_duration_seconds` sample under the same endpoint name.

- Discovery and JWKS are the same bytes for every client, fetched by every relying party
  and library on start-up and on every unknown kid: here a dictionary lookup and a
  `start_response`. Anything this module cannot answer from memory (the first request of
  a worker, a JWKS whose kids are due to be read again, another method) goes to Flask,
  which builds the document.
- Userinfo is fetched with every sign-in and by relying parties that check a session.
  Only the common case is answered here: a GET without query or body, with one
  `Authorization: Bearer <token>` header, whose token is found, unexpired, unrevoked,
  has the openid scope, belongs to a user who is not disabled and to a client that did
  not register for signed userinfo. The token, its user and client are one read on a
  connection of its own (idp.leansql) and the claims come from the function Flask's path
  calls (`idp.oauth.userinfo_claims`). Everything else, every refusal included, goes to
  Flask, which answers or refuses with RFC 6750's errors as before.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import sqlalchemy as sa
from authlib.consts import default_json_headers
from flask import Flask
from werkzeug.http import parse_etags

from .claims import PROFILE_COLUMNS
from .headers import every_answer
from .introspection import B64TOKEN, MAX_TOKEN_LENGTH
from .leansql import Lean, own_connection
from .logs import finish_request
from .models import Client, Token, User, access_token_expired
from .oauth import BearerTokenValidator, userinfo_claims
from .services import now_ts, services

log = logging.getLogger("idp.fastpath")

DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/jwks.json"
# Path -> the Flask endpoint that serves it, the name its metrics and logs carry.
ENDPOINTS = {DISCOVERY_PATH: "oauth.discovery", JWKS_PATH: "oauth.jwks"}
# How long a client may reuse either document before asking again (with If-None-Match,
# answered 304 while nothing changed).
STATIC_MAX_AGE_SECONDS = 300

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def static_headers(https: bool) -> list[tuple[str, str]]:
    """Headers of both documents, whichever path serves them. Public documents: any origin
    may read them (a browser-based relying party fetches both)."""
    return [
        ("Cache-Control", f"public, max-age={STATIC_MAX_AGE_SECONDS}"),
        ("Access-Control-Allow-Origin", "*"),
        *every_answer(https),
    ]


class Answer(NamedTuple):
    """A document's answer: its status line, headers and body (empty for HEAD and 304)."""

    status: str
    headers: list[tuple[str, str]]
    body: bytes
    # The same key, the same status line and headers (the body may differ only by HEAD).
    key: tuple[str, str, str, int]


class StaticDocuments:
    """WSGI middleware: GET and HEAD of the two documents, when in memory, without Flask."""

    def __init__(self, app: Any, wsgi_app: WsgiApp) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.headers = static_headers(services(app).settings.issuer.startswith("https://"))
        self.clock = services(app).clock
        self.keys = services(app).keys

    def document(self, path: str) -> tuple[bytes, str] | None:
        if path == JWKS_PATH:
            return self.keys.fresh_jwks(self.clock.now())
        return services(self.app).caches.discovery

    def answer(self, method: str, path: str, held: str | None) -> Answer | None:
        """The answer to `method` of `path` with If-None-Match `held`, timed and logged as
        given; None unless it is GET or HEAD of either document and that is in memory."""
        endpoint = ENDPOINTS.get(path)
        if endpoint is None or method not in ("GET", "HEAD"):
            return None
        started = time.perf_counter()
        document = self.document(path)
        if document is None:
            return None
        body, etag = document
        headers = [*self.headers, ("ETag", f'"{etag}"')]
        if held and parse_etags(held).contains_weak(etag):
            status, line, body = 304, "304 NOT MODIFIED", b""
        else:
            status, line = 200, "200 OK"
            headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        finish_request(
            endpoint, method, path, status, time.perf_counter() - started, str(uuid.uuid4())
        )
        key = (method, path, etag, status)
        return Answer(line, headers, b"" if method == "HEAD" else body, key)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        found = self.answer(
            environ.get("REQUEST_METHOD", ""),
            environ.get("PATH_INFO", ""),
            environ.get("HTTP_IF_NONE_MATCH"),
        )
        if found is None:
            return self.wsgi_app(environ, start_response)
        start_response(found.status, found.headers)
        return [found.body] if found.body else []


# What idp.serve may answer from the socket, ahead of gunicorn's parser: exactly one GET or
# HEAD of either document over HTTP/1.1, its headers in the plainest form (a token, a colon,
# printable ASCII), nothing that frames a body or changes the connection, one Host, and not
# a byte after the blank line. Anything else, or more, is gunicorn's to parse as always.
WIRE_MAX_BYTES = 4096
_WIRE_REQUEST_LINE = re.compile(
    rb"(GET|HEAD) (/jwks\.json|/\.well-known/openid-configuration) HTTP/1\.1\r\n"
)
_WIRE_HEADER = re.compile(
    rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*((?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?)[ \t]*\r\n"
)
_WIRE_REFUSED = frozenset(
    {
        b"content-length",
        b"transfer-encoding",
        b"upgrade",
        b"http2-settings",
        b"expect",
        b"te",
        b"trailer",
        b"keep-alive",
        b"proxy-connection",
    }
)


def plain_get(
    data: bytes, max_headers: int = 100, refused: frozenset[bytes] = frozenset()
) -> tuple[str, str, str | None] | None:
    """(method, path, If-None-Match or None) when `data` is exactly one request of the
    form above, with at most `max_headers` headers, none named in `refused` (lower case)
    or with an underscore in its name; None for anything else."""
    if len(data) > WIRE_MAX_BYTES or not data.endswith(b"\r\n\r\n"):
        return None
    first = _WIRE_REQUEST_LINE.match(data)
    if first is None:
        return None
    at, end = first.end(), len(data) - 2
    hosts, count, held = 0, 0, None
    while at < end:
        header = _WIRE_HEADER.match(data, at)
        count += 1
        if header is None or count > max_headers:
            return None
        name, value = header.group(1).lower(), header.group(2)
        if (
            name in _WIRE_REFUSED
            or name in refused
            or b"_" in name
            or name.startswith((b"forwarded", b"x-forwarded-"))
            or (name == b"connection" and value.lower() != b"keep-alive")
        ):
            return None
        if name == b"host":
            hosts += 1
        elif name == b"if-none-match":
            if held is not None:
                return None
            held = value.decode("ascii")
        at = header.end()
    if at != end or hosts != 1:
        return None
    return first.group(1).decode("ascii"), first.group(2).decode("ascii"), held


USERINFO_PATH = "/userinfo"
USERINFO_ENDPOINT = "oauth.userinfo"
# The header as clients send it: the scheme so spelt, one space, a token of RFC 6750's
# shape. Any other spelling, and two headers (which the server joins with a comma), is
# Flask's to read.
BEARER_HEADER = re.compile(rf"Bearer ({B64TOKEN.pattern})")

_TOKENS, _USERS, _CLIENTS = Token.__table__, User.__table__, Client.__table__
# An access token with what userinfo needs of its user and its client, in one read; a
# token without either is not found (Flask refuses it, or fails as it always did).
_USERINFO = Lean(
    sa.select(
        _TOKENS.c.scope,
        _TOKENS.c.issued_at,
        _TOKENS.c.expires_in,
        _TOKENS.c.access_token_revoked_at,
        _TOKENS.c.refresh_token_revoked_at,
        _TOKENS.c.claims_request,
        _USERS.c.disabled,
        *(_USERS.c[name] for name in PROFILE_COLUMNS),
        _CLIENTS.c.client_metadata,
    )
    .select_from(
        _TOKENS.join(_USERS, _USERS.c.id == _TOKENS.c.user_id).join(
            _CLIENTS, _CLIENTS.c.client_id == _TOKENS.c.client_id
        )
    )
    .where(_TOKENS.c.access_token == sa.bindparam("token"))
    .limit(1)
)


class UserInfoAnswers:
    """WSGI middleware: userinfo for a good bearer token in the header, without Flask."""

    def __init__(self, app: Flask, wsgi_app: WsgiApp) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.headers = every_answer(services(app).settings.issuer.startswith("https://"))

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != USERINFO_PATH or environ.get("REQUEST_METHOD") != "GET":
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        body = self.claims(environ)
        if body is None:
            return self.wsgi_app(environ, start_response)
        # Authlib's headers for the claims as JSON, in the order Flask's answer has them.
        start_response(
            "200 OK",
            [*default_json_headers, ("Content-Length", str(len(body))), *self.headers],
        )
        finish_request(
            USERINFO_ENDPOINT,
            "GET",
            USERINFO_PATH,
            200,
            time.perf_counter() - started,
            str(uuid.uuid4()),
        )
        return [body]

    def claims(self, environ: dict[str, Any]) -> bytes | None:
        """The token's claims as Flask's answer has them; None when Flask answers."""
        # A query or a body is read by Flask's hooks (a NUL byte there is refused).
        if (
            environ.get("QUERY_STRING")
            or environ.get("CONTENT_LENGTH", "0") not in ("", "0")
            or "HTTP_TRANSFER_ENCODING" in environ
        ):
            return None
        found = BEARER_HEADER.fullmatch(environ.get("HTTP_AUTHORIZATION", ""))
        if found is None or len(found[1]) > MAX_TOKEN_LENGTH:
            return None
        with self.app.app_context():
            try:
                with own_connection():
                    row = _USERINFO.first({"token": found[1]})
                if row is None or not _active(row, now_ts()):
                    return None
                # Authlib's Client.client_metadata, read from its column.
                client = json.loads(row.client_metadata) if row.client_metadata else {}
                if client.get("userinfo_signed_response_alg"):
                    return None
                info = userinfo_claims(row, row.scope, row.claims_request, client.get("scope", ""))
                return self.app.json.dumps(info).encode()
            except Exception:
                # Flask answers instead, and logs what goes wrong there.
                log.warning("userinfo answer failed; Flask answers", exc_info=True)
                return None


def _active(row: Any, now: int) -> bool:
    """What Flask's path asks of a token before userinfo: a user who is not disabled
    (BearerTokenValidator), not expired, not revoked (Authlib's OAuth2TokenMixin: either
    revocation ends the access token), and the openid scope."""
    return not (
        row.disabled
        or access_token_expired(row.issued_at, row.expires_in, now)
        or row.access_token_revoked_at
        or row.refresh_token_revoked_at
        or BearerTokenValidator.scope_insufficient(row.scope, ["openid"])
    )
