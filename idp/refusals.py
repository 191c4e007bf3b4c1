"""A refused guess: its answer, and that answer given in front of Flask.

While an account is locked or an address throttled (idp.protection), every posted password
gets the same page and a sign-in log row, and no password is hashed. That must cost next to
nothing (README "Attack protection": under 1% of one argon2 verify), yet through Flask a
post costs several times the work itself: a request context, the session, the form
classes, the hooks, the ORM and a template. So:

- The two pages (the blocked page of a locked account, the sign-in page of a throttled
  address) are rendered once per language by Jinja with slots for what differs per request
  (ids, times, the typed name), and filled in afterwards (`Page`).
- `RefusedGuesses` (WSGI middleware) answers a post to /login itself when it would be
  refused: it reads the form, the session cookie and the flow, checks the CSRF token and
  the counters as the sign-in view does, writes the row and sends the filled page, with
  the headers Flask's hooks would add. Anything else (another path, a missing or bad
  token, a flow that is not this browser's, a guess that is not refused, a page not yet
  rendered in that language) goes on to Flask with the body put back, and the sign-in view
  gives its answer; a refusal there goes through `answer()` too, the same row and page.
"""

from __future__ import annotations

import hmac
import io
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import sqlalchemy as sa
from flask import Flask, g, render_template, request
from itsdangerous import BadData, URLSafeTimedSerializer
from markupsafe import escape
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header
from werkzeug.sansio.http import parse_cookie

from . import authflow
from .authflow import AuthFlow
from .decision import blocked_page
from .flows import BROWSER_KEY
from .forms import clean_username
from .headers import every_answer, html_page
from .i18n import best_locale, choose_locale, gettext, language
from .leansql import Lean, own_connection
from .logs import finish_request
from .models import Account, User, UserRisk
from .protection import CHECKED, LOCKED_OUT, Refusal, check, known_place, place_params
from .requestinfo import (
    USER_AGENT_CHARS,
    Browser,
    address_of,
    device_cookie_name,
    new_device_cookie,
    valid_device_id,
)
from .services import services
from .sessions import clock_now
from .signin_log import READ, USER_RISK_COLUMNS, record

log = logging.getLogger("idp.refusals")

LOGIN_PATH = "/login"
ENDPOINT = "signin.login"  # the Flask endpoint of LOGIN_PATH, for metrics and logs
STATUS_LINES = {403: "403 FORBIDDEN", 429: "429 TOO MANY REQUESTS"}

# A slot's mark in a rendered page: letters only, so HTML escaping and URL quoting keep it.
_SLOT = re.compile(r"idpslot([a-z]+)x")


def _slot(name: str) -> str:
    return f"idpslot{name}x"


class _Stamp:
    """A time in a page rendered with slots: its slot, and the format the page asked for."""

    def __init__(self, name: str) -> None:
        self.name, self.format = name, ""

    def strftime(self, format: str) -> str:
        self.format = format
        return _slot(self.name)


@dataclass(frozen=True)
class Page:
    """A refusal page rendered with slots: text, slot name, text, ..., text."""

    status: int
    parts: tuple[str, ...]
    time_formats: Mapping[str, str]

    def fill(self, values: Mapping[str, str], times: Mapping[str, datetime]) -> bytes:
        parts = list(self.parts)
        for i in range(1, len(parts), 2):
            name = parts[i]
            fmt = self.time_formats.get(name)
            parts[i] = times[name].strftime(fmt) if fmt else values[name]
        return "".join(parts).encode()


def _render(reason: str) -> Page:
    """The page of a refusal (`Refusal.reason`) in this request's language, with slots."""
    until, now = _Stamp("until"), _Stamp("now")
    again = gettext("Try again after %(time)s UTC.", time=until.strftime("%H:%M:%S"))
    if reason == "locked":
        advice = gettext(
            "%(again)s If you did not try to sign in, tell your administrator.", again=again
        )
        html, status = blocked_page(
            LOCKED_OUT, None, _slot("correlation"), advice, request_id=_slot("request"), now=now
        )
    else:
        html = render_template(
            "login.html",
            flow=_slot("flow"),
            username=_slot("username"),
            error=gettext(
                "There were too many failed sign-ins from your network. %(again)s", again=again
            ),
            error_code=LOCKED_OUT,
            csrf_token=lambda: _slot("csrf"),
        )
        status = 429
    formats = {stamp.name: stamp.format for stamp in (until, now) if stamp.format}
    return Page(status, tuple(_SLOT.split(html)), formats)


def page_for(reason: str) -> Page:
    """The refusal's page for this request (its language and script root), rendered on
    first use."""
    pages = services().caches.refusal_pages
    key = (reason, language(), request.script_root)
    page = pages.get(key)
    if page is None:
        page = pages[key] = _render(reason)
    return page


def answer(
    page: Page,
    refusal: Refusal,
    flow: AuthFlow,
    username: str,
    account: Account | None,
    browser: Browser,
    *,
    request_id: str,
    csrf_token: str,
    user_risk: Any = READ,
) -> tuple[bytes, list[tuple[str, str]]]:
    """Log the refused attempt and fill its page: the body, and the headers of its own.
    The user's risk for the row is read unless given (see `signin_log.record`)."""
    body = page.fill(
        {
            "correlation": flow.correlation_id,
            "request": request_id,
            "flow": flow.id,
            "username": str(escape(username)),
            "csrf": csrf_token,
        },
        {"until": refusal.until, "now": clock_now()},
    )
    record(
        correlation_id=flow.correlation_id,
        kind="password",
        outcome="failure",
        user=account,
        username=username,
        client_id=flow.client_id,
        error_code=refusal.error_code,
        reason="account locked" if refusal.reason == "locked" else "IP address throttled",
        browser=browser,
        user_risk=user_risk,
    )
    return body, [("Retry-After", str(refusal.retry_after_seconds))]


_USERS = User.__table__
_RISKS = UserRisk.__table__
# What a refused guess needs of the user, in one read: the account, its risk for the log
# row (all None without a row of risk), and whether this browser's place is known to it.
_ACCOUNT = Lean(
    sa.select(
        _USERS.c.id,
        _USERS.c.username,
        *USER_RISK_COLUMNS,
        known_place(_USERS.c.id).label("familiar"),
    )
    .select_from(_USERS.outerjoin(_RISKS, _RISKS.c.user_id == _USERS.c.id))
    .where(_USERS.c.username == sa.bindparam("username"))
)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class RefusedGuesses:
    """WSGI middleware: a post to /login that attack protection refuses, without Flask."""

    def __init__(self, app: Flask, wsgi_app: WsgiApp) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.settings = services(app).settings
        self.https = self.settings.issuer.startswith("https://")
        self.max_body = int(app.config["MAX_CONTENT_LENGTH"])
        interface = app.session_interface
        self.sessions = Verified(
            interface.get_signing_serializer(app)  # type: ignore[attr-defined]
        )
        self.session_cookie = app.config["SESSION_COOKIE_NAME"]
        self.session_seconds = int(app.permanent_session_lifetime.total_seconds())
        # Flask-WTF's tokens: the session's random value, signed (idp.forms).
        keys = [*(app.config.get("SECRET_KEY_FALLBACKS") or ()), app.secret_key]
        self.csrf = Verified(URLSafeTimedSerializer(keys, salt="wtf-csrf-token"))

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != LOGIN_PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        form = self._read_form(environ)
        answered = None
        if form is not None:
            with self.app.app_context():
                try:
                    # Every read and the row's INSERT on one connection, not the session;
                    # the INSERT is the last thing that can fail (see own_connection).
                    with own_connection():
                        answered = self._refuse(environ, form)
                except Exception:
                    # Flask answers instead, and logs what goes wrong there.
                    log.warning("refused-guess answer failed; Flask answers", exc_info=True)
                    answered = None
                log_fields = g.get("log_fields", {})
        if answered is None:
            return self.wsgi_app(environ, start_response)
        status, headers, body, request_id = answered
        start_response(STATUS_LINES[status], headers)
        finish_request(
            ENDPOINT,
            "POST",
            LOGIN_PATH,
            status,
            time.perf_counter() - started,
            request_id,
            log_fields,
        )
        return [body]

    def _read_form(self, environ: dict[str, Any]) -> dict[str, str] | None:
        """The posted form's first value of each field, as Werkzeug parses it; None for
        anything but a plain URL-encoded body of a known length (Flask parses those). The
        body is put back for Flask either way."""
        kind = str(environ.get("CONTENT_TYPE", "")).split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded" or environ.get("HTTP_TRANSFER_ENCODING"):
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None
        if not 0 <= length <= self.max_body:
            return None
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            return _first_values(body.decode())
        except UnicodeDecodeError:
            return None

    def _refuse(
        self, environ: dict[str, Any], form: dict[str, str]
    ) -> tuple[int, list[tuple[str, str]], bytes, str] | None:
        """The refusal's status, headers, body and request id; None when Flask answers."""
        query_string = str(environ.get("QUERY_STRING", ""))
        if not query_string.isascii():  # servers refuse such request lines; Flask answers
            return None
        query = _first_values(query_string)
        # No parameter may hold NUL (Flask's answer is 400).
        if any("\x00" in value for value in (*query.values(), *form.values())):
            return None
        cookie_header = str(environ.get("HTTP_COOKIE", ""))
        script_root = str(environ.get("SCRIPT_NAME", "")).rstrip("/")
        if not cookie_header.isascii() or not script_root.isascii():
            return None
        cookies = parse_cookie(cookie_header)
        device = valid_device_id(cookies.get(device_cookie_name(), ""))
        browser = Browser(
            address_of(
                str(environ.get("REMOTE_ADDR", "")),
                str(environ.get("HTTP_X_FORWARDED_FOR", "")),
                self.settings.trusted_proxies,
            ),
            device,
            str(environ.get("HTTP_USER_AGENT", ""))[:USER_AGENT_CHARS],
        )
        # Refused at all? First, so that a guess that is not costs two reads here.
        username = clean_username(form.get("username", ""))
        account = (
            _ACCOUNT.first({"username": username, **place_params(browser)}) if username else None
        )
        familiar = account.familiar if account else None
        refusal = check(username, account, browser, familiar=familiar)
        if refusal is None:
            environ[CHECKED] = username
            return None
        session = self.sessions.loads(
            cookies.get(self.session_cookie, ""), max_age=self.session_seconds
        )
        if not isinstance(session, dict):
            return None
        flow = authflow.load(query.get("flow"), browser=session.get(BROWSER_KEY))
        if flow is None or not self._csrf_valid(form.get("csrf_token", ""), session):
            return None
        # The page's language, as idp.i18n picks it for the sign-in view.
        ui_locales = flow.param("ui_locales")
        explicit = ui_locales if best_locale(ui_locales) else query.get("ui_locales")
        accept = parse_accept_header(environ.get("HTTP_ACCEPT_LANGUAGE"), LanguageAccept)
        page = services().caches.refusal_pages.get(
            (refusal.reason, choose_locale(explicit, accept), script_root)
        )
        if page is None:
            return None
        request_id = str(uuid.uuid4())
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Vary", "Cookie"),
            *every_answer(self.https),
            *html_page(flow.form_targets),
        ]
        if device is None:
            headers.append(("Set-Cookie", new_device_cookie()))
        # Last: the row is written here, and nothing after it may fail.
        body, own = answer(
            page,
            refusal,
            flow,
            username,
            account,
            browser,
            request_id=request_id,
            csrf_token=form["csrf_token"],
            user_risk=account if account and account.risk_state is not None else None,
        )
        return page.status, [*headers, ("Content-Length", str(len(body))), *own], body, request_id

    def _csrf_valid(self, token: str, session: dict[str, Any]) -> bool:
        """Flask-WTF's check (idp.forms): the signed token names the session's value."""
        held = session.get("csrf_token")
        if not token or not isinstance(held, str):
            return False
        value = self.csrf.loads(token)
        return isinstance(value, str) and hmac.compare_digest(held, value)


class Verified:
    """A timed serializer's `loads` that remembers what it verified.

    A guesser posts the same session cookie and CSRF token again and again; checking their
    signatures each time is a sixth of a refused guess. Remembered by the exact signed
    text, with what it carried and when it was signed: only a text that verified under
    this worker's keys is ever remembered, and a remembered one is held to `max_age` as
    itsdangerous holds it. Its values are only read, never changed.
    """

    SIZE = 1024  # texts remembered before the memory starts afresh

    def __init__(self, serializer: URLSafeTimedSerializer) -> None:
        self.serializer = serializer
        self._seen: dict[str, tuple[Any, int]] = {}

    def loads(self, text: str, max_age: int | None = None) -> Any:
        """What `text` carries; None unless it is signed with our keys (and, given
        `max_age`, was signed at most that many seconds ago)."""
        seen = self._seen.get(text)
        if seen is None:
            try:
                value, signed = self.serializer.loads(text, max_age=max_age, return_timestamp=True)
            except BadData:
                return None
            if len(self._seen) >= self.SIZE:
                self._seen.clear()
            seen = self._seen[text] = (value, int(signed.timestamp()))
        value, signed_at = seen
        # itsdangerous's own rule: the age in whole seconds, neither negative nor above.
        if max_age is not None and not 0 <= int(time.time()) - signed_at <= max_age:
            return None
        return value


def _first_values(text: str) -> dict[str, str]:
    """URL-encoded parameters as Werkzeug parses them; a name's first value."""
    found: dict[str, str] = {}
    for name, value in parse_qsl(text, keep_blank_values=True, errors="werkzeug.url_quote"):
        found.setdefault(name, value)
    return found
