"""The discovery and JWKS documents answered in front of Flask, as precomputed bytes.

Both are the same bytes for every client, fetched by every relying party and library on
start-up and on every unknown kid. Through Flask such an answer costs several times the
work itself (a request context, the hooks, Werkzeug's request and response objects); here
it is a dictionary lookup and a `start_response`. What Flask's path would add is added
here too: the security headers, the request's log line and its
`idp_request_duration_seconds` sample under the same endpoint name. Anything this module
cannot answer from memory (the first request of a worker, a JWKS whose kids are due to be
read again, another method) goes to Flask, which builds the document.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.http import parse_etags

from .headers import every_answer
from .logs import finish_request
from .services import services

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

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        endpoint = ENDPOINTS.get(path)
        method = environ.get("REQUEST_METHOD", "")
        if endpoint is None or method not in ("GET", "HEAD"):
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        document = self.document(path)
        if document is None:
            return self.wsgi_app(environ, start_response)
        body, etag = document
        held = environ.get("HTTP_IF_NONE_MATCH")
        headers = [*self.headers, ("ETag", f'"{etag}"')]
        if held and parse_etags(held).contains_weak(etag):
            status, body = 304, b""
            start_response("304 NOT MODIFIED", headers)
        else:
            status = 200
            start_response(
                "200 OK",
                [
                    *headers,
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(body))),
                ],
            )
        finish_request(
            endpoint, method, path, status, time.perf_counter() - started, str(uuid.uuid4())
        )
        return [] if method == "HEAD" else [body]
