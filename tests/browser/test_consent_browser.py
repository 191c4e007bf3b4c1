"""Consent for a third-party app as a person walks it in Chromium: allow, remembered,
removed on the account page, asked again; in each shipped language."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser.conftest import words
from tests.conftest import PASSWORD, Provider, RelyingParty
from tests.locales import LOCALES

SCOPE = "openid profile email offline_access"

pytestmark = pytest.mark.parametrize("ui_locale", LOCALES)


class App(RelyingParty):
    """The third-party app. Its redirect URI is on another origin (localhost, where the
    provider is 127.0.0.1), so the consent form's way back must pass the page's CSP
    form-action; the live server answers it with a 404, only the URL matters."""

    def __init__(self, server) -> None:
        from idp.clients import create_client

        port = urlparse(server.url).port
        self.redirect_uri = f"http://localhost:{port}/photo-printer/cb"
        with server.app.app_context():
            client, secret = create_client(
                "Photo Printer",
                redirect_uris=[self.redirect_uri],
                post_logout_redirect_uris=[],
                public=False,
                grant_types=[],
                scopes=SCOPE.split(),
                first_party=False,
            )
            client_id = client.client_id
        super().__init__(server.app, client_id, secret)
        self.server = server

    def url(self, **params) -> str:
        return self.server.url + self.authorize_url(redirect_uri=self.redirect_uri, **params)

    def redeem(self, code: str, **extra):
        return super().redeem(code, redirect_uri=self.redirect_uri, **extra)


def _back_at_the_app(page, app: App) -> dict[str, list[str]]:
    page.wait_for_url(f"{app.redirect_uri}*")
    return parse_qs(urlparse(page.url).query)


def test_allow_remember_and_remove_access(live_server, page, tmp_path):
    Provider(live_server.app).user("alice", email="alice@example.org")
    app = App(live_server)
    t = words(page)
    page.goto(app.url(scope=SCOPE))
    page.get_by_label(t("Username")).fill("alice")
    page.get_by_label(t("Password")).fill(PASSWORD)
    page.get_by_role("button", name=t("Sign in")).click()
    page.wait_for_url("**/consent?flow=*")
    main = page.locator("main")
    assert (
        t("Allow %(name)s to access your account?", name="Photo Printer")
        in page.get_by_role("heading", level=1).inner_text()
    )
    lines = page.locator("#consent-scopes li").all_inner_texts()
    for expected in (
        "Sign you in with your account",
        "See your name and profile details",
        "See your email address",
        "Stay signed in to the app (keep access while you are away)",
    ):
        assert any(line.startswith(t(expected)) for line in lines), lines
    wants = t('<strong id="client-name">%(name)s</strong> wants to:', name="Photo Printer")
    assert re.sub(r"<[^>]+>", "", wants) in main.inner_text()
    page.screenshot(path=str(tmp_path / "consent.png"))
    page.get_by_role("button", name=t("Allow")).click()
    first = _back_at_the_app(page, app)
    assert first["state"] == ["st-123"] and first["code"][0]
    assert first["iss"] == [live_server.url]
    tokens = app.redeem(first["code"][0]).get_json()
    assert tokens["refresh_token"]

    # Remembered: the next sign-in goes straight back to the app.
    page.goto(app.url(scope=SCOPE, nonce="second"))
    second = _back_at_the_app(page, app)
    assert second["code"][0] and second["code"] != first["code"]

    page.goto(f"{live_server.url}/account")
    page.wait_for_url(f"{live_server.url}/account")
    assert page.get_by_role("heading", name=t("Apps you allowed")).is_visible()
    row = page.locator("#allowed-apps section", has_text="Photo Printer")
    assert t("See your email address") in row.inner_text()
    page.screenshot(path=str(tmp_path / "account.png"))
    row.get_by_role("button", name=t("Remove access")).click()
    page.wait_for_url(f"{live_server.url}/account")
    assert t("%(app)s can no longer access your account.", app="Photo Printer") in (
        main.inner_text()
    )
    assert page.locator("#no-apps").is_visible()

    # The app's refresh token is dead, and the next sign-in asks again.
    refreshed = app.token_request(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 400
    assert refreshed.get_json()["error"] == "invalid_grant"
    page.goto(app.url(scope=SCOPE, nonce="third"))
    page.wait_for_url("**/consent?flow=*")
    assert page.get_by_role("button", name=t("Allow")).is_visible()


def test_deny_returns_access_denied_to_the_app(live_server, page):
    Provider(live_server.app).user("alice")
    app = App(live_server)
    t = words(page)
    page.goto(app.url(scope="openid email"))
    page.get_by_label(t("Username")).fill("alice")
    page.get_by_label(t("Password")).fill(PASSWORD)
    page.get_by_role("button", name=t("Sign in")).click()
    page.get_by_role("button", name=t("Deny")).click()
    answer = _back_at_the_app(page, app)
    assert answer["error"] == ["access_denied"] and answer["state"] == ["st-123"]
    assert "code" not in answer
