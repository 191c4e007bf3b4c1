"""Extensions created at module level and bound to an app in the factory."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import OAuth2Request
from flask import Request
from flask import request as flask_request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from .services import services

# Stable constraint names so Alembic migrations look the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class IssuerRequest(FlaskOAuth2Request):  # type: ignore[misc]  # Authlib is untyped
    """Authlib's request, its URI under the configured issuer instead of the Host header and
    the socket's scheme. Behind a TLS-terminating proxy every request arrives as plain http,
    and any Host header may be sent: Authlib refused either as insecure transport (a 500).
    The issuer, checked at start-up (which warns about plain http that is not loopback),
    decides the transport, so Authlib's per-request check is given its https form."""

    def __init__(self, request: Request) -> None:
        issuer = urlsplit(services().settings.issuer)
        query = request.query_string.decode("latin-1")
        path = f"{request.script_root}{request.path}" + (f"?{query}" if query else "")
        OAuth2Request.__init__(
            self,
            method=request.method,
            uri=f"https://{issuer.netloc}{path}",
            headers=request.headers,
        )
        self.uri = f"{issuer.scheme}://{issuer.netloc}{path}"
        self._request = request
        self.payload = FlaskOAuth2Payload(request)


class IssuerAuthorizationServer(AuthorizationServer):  # type: ignore[misc]  # Authlib is untyped
    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return IssuerRequest(flask_request._get_current_object())  # type: ignore[attr-defined]


# Objects stay loaded across a commit: a request's session lives only as long as the request,
# and expiring everything at each commit made every object read after it (the client, the
# user, the SSO session) a query again, a dozen per sign-in. Updates that must see the row
# as stored (single-use claims) use conditional UPDATEs and refresh explicitly; ORM-enabled
# UPDATEs keep the objects they match in step.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
authorization = IssuerAuthorizationServer()
require_oauth = ResourceProtector()
