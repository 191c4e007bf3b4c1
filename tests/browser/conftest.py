"""A live server on a free port and a real Chromium driven by Playwright.

The browser asks for the language of the `ui_locale` fixture (English unless a test module
parametrizes it, e.g. `pytestmark = pytest.mark.parametrize("ui_locale", LOCALES)`), through
Playwright's `locale=` (Accept-Language and navigator.language); `words(page)` gives the
product's words in that page's language, so a test finds "Anmelden" where it means
"Sign in" (tests/locales.py).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from werkzeug.serving import make_server

from idp.services import services
from tests.conftest import PASSWORD
from tests.idp.conftest import feed_files, risky_settings  # noqa: F401  (shared fixtures)
from tests.locales import texts

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _closed_before_sent(app: Any) -> Any:
    """`app` with each response body read whole and closed before the server sends it.

    Werkzeug's development server closes the body only after draining the request, and
    skips it when the drain raises (Chromium resetting a connection it no longer needs):
    a static file's handle is then left to the garbage collector, whose ResourceWarning
    fails whichever test happens to be running. Bodies here are small.
    """

    def buffered(environ: Any, start_response: Any) -> list[bytes]:
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    return buffered


class LiveServer:
    def __init__(self, app: Any, port: int, host_name: str = "127.0.0.1") -> None:
        self.app = app
        self.url = f"http://{host_name}:{port}"
        self.server = make_server("127.0.0.1", port, _closed_before_sent(app), threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


@pytest.fixture
def serve(make_app: Any) -> Any:
    """Start the provider over real HTTP with the given settings (demo app registered)."""
    from idp.clients import ensure_demo_client
    from idp.extensions import db

    servers: list[LiveServer] = []

    def start(base_settings: Any, host_name: str = "127.0.0.1") -> LiveServer:
        # Passkeys need a host name (browsers refuse an IP address as WebAuthn RP ID): pass
        # host_name="localhost"; the server still listens on 127.0.0.1 only.
        port = _free_port()
        issuer = f"http://{host_name}:{port}"
        app = make_app(replace(base_settings, issuer=issuer, demo=True))
        with app.app_context():
            ensure_demo_client("demo-client", f"{issuer}/demo/callback", f"{issuer}/demo")
            db.session.remove()
        server = LiveServer(app, port, host_name)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def live_server(serve: Any, settings: Any) -> Any:
    return serve(settings)


@pytest.fixture(scope="session")
def browser() -> Any:
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        if os.environ.get("IDP_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing and IDP_REQUIRE_BROWSER is set")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


# The language each open page's browser context asks for, by page (see `words`).
_PAGE_LOCALES: dict[int, str] = {}


@pytest.fixture
def ui_locale() -> str:
    """The browser's language; a module parametrizes it to run its tests in each one."""
    return "en"


def _new_page(browser: Any, locale: str, **options: Any) -> tuple[Any, Any]:
    context = browser.new_context(locale=locale, **options)
    page = context.new_page()
    page.set_default_timeout(15000)
    _PAGE_LOCALES[id(page)] = locale
    return context, page


def words(page: Any) -> Callable[..., str]:
    """The product's words in the language `page`'s browser asks for."""
    return texts(_PAGE_LOCALES.get(id(page), "en"))


@pytest.fixture
def page(browser: Any, ui_locale: str) -> Any:
    context, page = _new_page(browser, ui_locale)
    yield page
    _PAGE_LOCALES.pop(id(page), None)
    context.close()


@pytest.fixture
def new_page(browser: Any, ui_locale: str) -> Any:
    """A page in a browser context of its own, made with Playwright's context options
    (viewport, user_agent, extra_http_headers...), asking for the test's language; closed
    after the test (closing it sooner is fine)."""
    opened = []

    def make(**options: Any) -> Any:
        context, page = _new_page(browser, ui_locale, **options)
        opened.append((context, page))
        return page

    yield make
    for context, page in opened:
        _PAGE_LOCALES.pop(id(page), None)
        context.close()


@pytest.fixture
def page_from(new_page: Any) -> Any:
    """A page whose requests claim to come from `ip` (X-Forwarded-For via the trusted proxy)."""
    return lambda ip: new_page(extra_http_headers={"X-Forwarded-For": ip})


def start_sign_in(
    server: Any,
    page: Any,
    username: str = "alice",
    password: str = PASSWORD,
    *,
    blocked: bool = False,
) -> None:
    """Open the demo app, follow "Sign in" and submit the form (blocked: wait for the
    password's answer, a 403), in the page's language."""
    t = words(page)
    page.goto(f"{server.url}/demo")
    page.get_by_role("link", name=t("Sign in")).click()
    page.get_by_label(t("Username")).fill(username)
    page.get_by_label(t("Password")).fill(password)
    if blocked:
        with page.expect_response(lambda r: "/login" in r.url and r.status == 403):
            page.get_by_role("button", name=t("Sign in")).click()
    else:
        page.get_by_role("button", name=t("Sign in")).click()


def add_totp(server: Any, username: str = "alice") -> str:
    """Give a user of the served app TOTP, registered now; returns the secret."""
    import pyotp

    from idp.extensions import db
    from idp.secretbox import seal
    from idp.users import find_user

    with server.app.app_context():
        user = find_user(username)
        secret = pyotp.random_base32(32)
        user.totp_secret = seal(secret)
        user.totp_registered_at = services(server.app).clock.now()
        db.session.commit()
        return secret
