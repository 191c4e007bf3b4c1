"""A person signs in through the real login page in Chromium and lands back at the app, in
each shipped language (the browser asks for it; the test finds the words in its catalogue)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser.conftest import words
from tests.conftest import PASSWORD, Provider
from tests.locales import LOCALES

IN_EACH_LANGUAGE = pytest.mark.parametrize("ui_locale", LOCALES)


@IN_EACH_LANGUAGE
def test_sign_in_lands_on_redirect_uri_with_code(live_server, page, tmp_path, ui_locale):
    t = words(page)
    Provider(live_server.app).user("alice", email="alice@example.org")
    page.goto(f"{live_server.url}/demo")
    page.get_by_role("link", name=t("Sign in")).click()
    assert page.locator("html").get_attribute("lang") == ui_locale
    page.get_by_label(t("Username")).fill("alice")
    page.get_by_label(t("Password")).fill(PASSWORD)
    page.get_by_role("button", name=t("Sign in")).click()
    page.wait_for_url(f"{live_server.url}/demo/callback*")
    query = parse_qs(urlparse(page.url).query)
    assert query["code"][0] and query["state"][0]
    body = page.locator("main").inner_text()
    assert t("Signed in as %(name)s", name="alice") in body
    assert '"sub"' in body
    page.screenshot(path=str(tmp_path / f"signed-in-{ui_locale}.png"))


@IN_EACH_LANGUAGE
def test_wrong_password_shows_50126(live_server, page):
    t = words(page)
    Provider(live_server.app).user("alice")
    page.goto(f"{live_server.url}/demo")
    page.get_by_role("link", name=t("Sign in")).click()
    page.get_by_label(t("Username")).fill("alice")
    page.get_by_label(t("Password")).fill("not the password")
    page.get_by_role("button", name=t("Sign in")).click()
    alert = page.get_by_role("alert")
    assert t("Your account or password is incorrect.") in alert.inner_text()
    assert "50126" in alert.inner_text()


def test_english_labels_are_the_spec_s(live_server, page):
    """SPEC's labels, word for word, in the browser's default language (English)."""
    Provider(live_server.app).user("alice")
    page.goto(f"{live_server.url}/demo")
    page.get_by_role("link", name="Sign in").click()
    assert page.get_by_label("Username", exact=True).is_visible()
    assert page.get_by_label("Password", exact=True).is_visible()
    assert page.get_by_role("button", name="Sign in", exact=True).is_visible()
