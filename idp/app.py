"""The application factory."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, abort, g, jsonify, render_template, request
from flask.globals import request_ctx
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from . import headers
from .clock import Clock, SystemClock
from .config import Settings, load_settings, warnings_for
from .counters import make_counters
from .extensions import db
from .i18n import N_, gettext
from .keys import KeyStore
from .logs import finish_request
from .notify import on_user_risk_raised
from .oauth import init_oauth
from .passwords import PasswordHasher
from .requestinfo import device_id, from_a_program, new_device_cookie, request_id
from .risk_engine import load_engine
from .secretbox import make_box
from .services import EXTENSION, Services, services
from .sessions import SessionCookies, csrf_token
from .user_risk import on_refresh_token_reuse


def templates_dir() -> Path:
    """The templates: inside the package when installed from a wheel, else the checkout's."""
    bundled = Path(__file__).resolve().parent / "templates"
    return bundled if bundled.is_dir() else bundled.parent.parent / "templates"


log = logging.getLogger("idp")


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, where a body nested deeper than the parser can follow is invalid JSON
    (a ValueError: `get_json` answers 400, or None when silent) instead of a 500."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError as exc:
            raise ValueError("The JSON value nests too deeply.") from exc


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Flask:
    """Build the Flask app from validated settings (read from IDP_CONFIG when not given)."""
    settings = settings or load_settings()
    app = Flask("idp", template_folder=str(templates_dir()))
    app.json = JSONProvider(app)
    app.session_interface = SessionCookies()
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SECRET_KEY_FALLBACKS=list(settings.old_secret_keys),
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(settings.database_url),
        # On https the __Host- prefix pins the cookie to this host, path / and Secure.
        SESSION_COOKIE_NAME=(
            "__Host-idp_session" if settings.issuer.startswith("https://") else "idp_session"
        ),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.issuer.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.tokens.session_lifetime_hours),
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    # Authlib logs issued tokens at DEBUG; tokens must never reach a log, whatever the root level.
    logging.getLogger("authlib").setLevel(logging.INFO)
    clock = clock or SystemClock()
    app.extensions[EXTENSION] = Services(
        settings=settings,
        clock=clock,
        keys=KeyStore(),
        passwords=PasswordHasher(settings.passwords),
        counters=make_counters(settings.redis_url),
        risk=load_engine(settings.risk, clock),
        box=make_box(settings.secret_key, settings.old_secret_keys),
        on_refresh_reuse=on_refresh_token_reuse,
        on_user_risk_raised=on_user_risk_raised,
    )
    for warning in warnings_for(settings):
        log.warning("%s", warning)
    db.init_app(app)
    if settings.database_url.startswith("sqlite:"):
        with app.app_context():
            sa.event.listen(db.engine, "connect", _sqlite_pragmas)
    init_oauth(app)
    from .i18n import install as install_i18n

    install_i18n(app)

    from .views import account, admin, api, consent, mfa, oauth, ops, reset, signin

    app.register_blueprint(ops.bp)
    app.register_blueprint(oauth.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(signin.bp)
    app.register_blueprint(mfa.bp)
    app.register_blueprint(consent.bp)
    app.register_blueprint(reset.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp)
    from .views import registration

    app.register_blueprint(registration.bp)
    if settings.demo:
        from .views import demo

        app.register_blueprint(demo.bp)

    app.jinja_env.globals.update(csrf_token=csrf_token, settings=settings)
    _register_error_handlers(app)

    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def log_request(response: Any) -> Any:
        started = g.get("started")
        seconds = time.perf_counter() - started if started is not None else 0.0
        finish_request(
            request.endpoint or "unknown",
            request.method,
            request.path,
            response.status_code,
            seconds,
            request_id(),
            g.get("log_fields"),
        )
        return response

    @app.before_request
    def refuse_nul_bytes() -> None:
        # No parameter of ours may hold NUL; PostgreSQL refuses it in text, so stop it here.
        for values in (request.args, request.form):
            if any("\x00" in v for _, v in values.items(multi=True)):
                abort(400, description=N_("A request parameter contains a NUL character."))
        # Nor an id in the path of the dashboard's and the account's pages: it names nothing.
        # (The admin API answers its own 404; registration its own invalid_token.)
        if request.blueprint in ("admin", "account") and any(
            "\x00" in str(v) for v in (request.view_args or {}).values()
        ):
            abort(404)

    @app.after_request
    def set_device_cookie(response: Any) -> Any:
        # A random id per browser: "never seen this device" is one of unfamiliarFeatures.
        if request.blueprint in ("signin", "mfa") and device_id() is None:
            response.headers.add("Set-Cookie", new_device_cookie())
        return response

    https = settings.issuer.startswith("https://")

    @app.after_request
    def security_headers(response: Any) -> Any:
        for name, value in headers.every_answer(https):
            response.headers.setdefault(name, value)
        if request.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        if response.mimetype == "text/html":
            for name, value in headers.html_page(
                g.get("form_targets", ()), g.get("image_sources", ()), bool(g.get("scripts"))
            ):
                response.headers.setdefault(name, value)
        return response

    from .fastpath import StaticDocuments, UserInfoAnswers
    from .refusals import RefusedGuesses

    static = StaticDocuments(app, app.wsgi_app)
    app.extensions["idp.static_documents"] = static  # idp.serve answers from the socket too
    app.wsgi_app = static  # type: ignore[method-assign]
    app.wsgi_app = UserInfoAnswers(app, app.wsgi_app)  # type: ignore[method-assign]
    app.wsgi_app = RefusedGuesses(app, app.wsgi_app)  # type: ignore[method-assign]
    return app


# A server connection is replaced after this long, before a firewall or the server's idle
# timeout can cut it unseen.
POOL_RECYCLE_SECONDS = 1800


def engine_options(database_url: str) -> dict[str, Any]:
    """SQLAlchemy engine options: no pre-ping per checkout (a round trip on every request)."""
    if database_url.startswith("sqlite:"):
        return {}
    # A connection that died with its server (a restart) fails the one request that draws
    # it; SQLAlchemy sees the disconnect, invalidates it and every older pooled connection,
    # so the next request connects afresh (tests/idp/test_ops.py proves it).
    return {"pool_recycle": POOL_RECYCLE_SECONDS}


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """SQLite in WAL mode with synchronous=NORMAL: readers never wait for the writer, and a
    commit costs no fsync (a power loss may drop the last commits, never corrupt the file;
    operators who need more run PostgreSQL). A busy timeout lets workers queue for writes."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _wants_json() -> bool:
    return from_a_program()


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        if _wants_json():
            error = {
                400: "invalid_request",
                401: "invalid_token",
                403: "insufficient_scope",
                404: "not_found",
                405: "method_not_allowed",
                413: "invalid_request",
            }.get(status, "server_error")
            # Keep the exception's own headers (a 405 must say Allow), not its HTML type.
            headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
            return jsonify(error=error, error_description=exc.description), status, headers
        if request_ctx.url_adapter is None:
            # A Host header no URL can be built for (werkzeug's BadHost: a label over 63
            # characters, say): the page's own links cannot be made, so werkzeug's plain page.
            return exc.get_response()
        return render_template(
            "error.html",
            title=gettext(exc.name),
            error=str(status),
            description=gettext(exc.description) if exc.description else exc.description,
            request_id=request_id(),
            now=services(app).clock.now(),
        ), status

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        # The detail goes to the log only; the client sees a plain server_error.
        app.logger.exception("unhandled error (request id %s)", request_id())
        db.session.rollback()
        if _wants_json():
            return jsonify(
                error="server_error", error_description="The server could not complete the request."
            ), 500
        return render_template(
            "error.html",
            title=gettext("Something went wrong"),
            error="server_error",
            description=gettext(
                "The server could not complete the request. Try again in a moment."
            ),
            request_id=request_id(),
            now=services(app).clock.now(),
        ), 500
