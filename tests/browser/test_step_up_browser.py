"""Step-up flows as a person walks them in Chromium."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pyotp

from tests.browser.conftest import add_totp, start_sign_in
from tests.conftest import Provider
from tests.idp.conftest import LEAKED_PASSWORD, LISTED_ANON, LONDON, TOR

PASSWORD = "correct horse battery"




def _signed_in(server, page, username="alice"):
    page.wait_for_url(f"{server.url}/demo/callback*")
    assert parse_qs(urlparse(page.url).query)["code"][0]
    assert f"Signed in as {username}" in page.locator("main").inner_text()



def test_registration_with_code_from_the_page(serve, risky_settings, page_from, tmp_path):
    server = serve(risky_settings)
    Provider(server.app).user("alice")
    page = page_from(LONDON)
    start_sign_in(server, page)
    page.wait_for_url("**/mfa/register*")
    assert "14 days left" in page.locator("main").inner_text()
    assert page.get_by_role("button", name="Skip for now").is_visible()
    assert page.locator("svg").first.is_visible()
    secret = page.locator("#secret").inner_text().strip()
    href = page.get_by_role("link", name="open it on this device").get_attribute("href")
    assert href.startswith("otpauth://totp/") and f"secret={secret}" in href
    page.get_by_label("Verification code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Verify").click()
    codes = page.locator("#recovery-codes li")
    assert codes.count() == 10
    page.screenshot(path=str(tmp_path / "recovery-codes.png"))
    page.get_by_role("button", name="Continue").click()
    _signed_in(server, page)
    assert re.search(r'"amr": \[[^\]]*"otp"', page.locator("main").inner_text())


def test_risky_sign_in_with_totp(serve, risky_settings, page_from):
    server = serve(risky_settings)
    Provider(server.app).user("alice")
    secret = add_totp(server)
    page = page_from(TOR)
    start_sign_in(server, page)
    page.wait_for_url("**/mfa/verify*")
    page.get_by_label("Verification code").fill("000000")
    page.get_by_role("button", name="Verify").click()
    assert "not right" in page.get_by_role("alert").inner_text()
    page.get_by_label("Verification code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Verify").click()
    _signed_in(server, page)


def test_forced_password_change(serve, risky_settings, page_from):
    server = serve(risky_settings)
    Provider(server.app).user("alice", LEAKED_PASSWORD)
    secret = add_totp(server)
    page = page_from(LONDON)
    start_sign_in(server, page, password=LEAKED_PASSWORD)
    page.wait_for_url("**/mfa/verify*")
    page.get_by_label("Verification code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/password/change*")
    page.get_by_label("New password", exact=True).fill("Password1234")
    page.get_by_label("Confirm new password").fill("Password1234")
    page.get_by_role("button", name="Change password").click()
    assert "leaked" in page.get_by_role("alert").inner_text()
    page.get_by_label("New password", exact=True).fill("a brand new secret 7")
    page.get_by_label("Confirm new password").fill("a brand new secret 7")
    page.get_by_role("button", name="Change password").click()
    _signed_in(server, page)


def test_53004_page(serve, risky_settings, page_from, tmp_path):
    server = serve(risky_settings)
    Provider(server.app).user("alice")
    page = page_from(LISTED_ANON)
    start_sign_in(server, page, blocked=True)
    text = page.locator("main").inner_text()
    assert "53004" in text
    assert "Request id" in text and "Correlation id" in text and "Time" in text
    assert "What you can do" in text
    page.screenshot(path=str(tmp_path / "53004.png"))
