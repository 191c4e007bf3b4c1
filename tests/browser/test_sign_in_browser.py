"""A person signs in through the real login page in Chromium and lands back at the app."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from tests.conftest import PASSWORD, Provider


def test_sign_in_lands_on_redirect_uri_with_code(live_server, page, tmp_path):
    Provider(live_server.app).user("alice", email="alice@example.org")
    page.goto(f"{live_server.url}/demo")
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/demo/callback*")
    query = parse_qs(urlparse(page.url).query)
    assert query["code"][0] and query["state"][0]
    body = page.locator("main").inner_text()
    assert "Signed in as alice" in body
    assert '"sub"' in body
    page.screenshot(path=str(tmp_path / "signed-in.png"))


def test_wrong_password_shows_50126(live_server, page):
    Provider(live_server.app).user("alice")
    page.goto(f"{live_server.url}/demo")
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    assert "Your account or password is incorrect." in alert.inner_text()
    assert "50126" in alert.inner_text()
