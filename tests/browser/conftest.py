"""A live server on a free port and a real Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import threading
from dataclasses import replace
from typing import Any

import pytest
from werkzeug.serving import make_server

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


class LiveServer:
    def __init__(self, app: Any, port: int) -> None:
        self.app = app
        self.url = f"http://127.0.0.1:{port}"
        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(make_app: Any, settings: Any) -> Any:
    """The provider served over real HTTP, with the demo app and its client registered."""
    from idp.clients import ensure_demo_client
    from idp.extensions import db

    port = _free_port()
    issuer = f"http://127.0.0.1:{port}"
    app = make_app(replace(settings, issuer=issuer, demo=True))
    with app.app_context():
        ensure_demo_client("demo-client", f"{issuer}/demo/callback", f"{issuer}/demo")
        db.session.remove()
    server = LiveServer(app, port)
    server.start()
    yield server
    server.stop()


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


@pytest.fixture
def page(browser: Any) -> Any:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()
