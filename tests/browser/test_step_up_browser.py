"""Step-up flows as a person walks them in Chromium, in each shipped language."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest

from tests.browser.conftest import add_totp, start_sign_in, words
from tests.conftest import Provider
from tests.idp.conftest import LEAKED_PASSWORD, LISTED_ANON, LONDON, TOR
from tests.locales import LOCALES

PASSWORD = "correct horse battery"

pytestmark = pytest.mark.parametrize("ui_locale", LOCALES)


def _signed_in(server, page, username="alice"):
    page.wait_for_url(f"{server.url}/demo/callback*")
    assert parse_qs(urlparse(page.url).query)["code"][0]
    assert words(page)("Signed in as %(name)s", name=username) in page.locator("main").inner_text()


def _plain(html: str) -> str:
    """A translated message as the page shows it: its markup gone."""
    return re.sub(r"<[^>]+>", "", html)


def test_registration_with_code_from_the_page(serve, risky_settings, page_from, tmp_path):
    server = serve(risky_settings)
    Provider(server.app).user("alice")
    page = page_from(LONDON)
    t = words(page)
    start_sign_in(server, page)
    page.wait_for_url("**/mfa/register*")
    grace = t(
        "Your organisation requires a second sign-in factor. You can skip this for now: "
        "<strong>%(count)s day left</strong> before it becomes required.",
        "Your organisation requires a second sign-in factor. You can skip this for now: "
        "<strong>%(count)s days left</strong> before it becomes required.",
        14,
        count=14,
    )
    assert _plain(grace) in page.locator("main").inner_text()
    assert page.get_by_role("button", name=t("Skip for now")).is_visible()
    assert page.locator("svg").first.is_visible()
    secret = page.locator("#secret").inner_text().strip()
    scan = t(
        'Scan this QR code with an authenticator app, or <a href="%(uri)s">open it on '
        "this device</a>."
    )
    link_text = re.search(r"<a [^>]*>(.*?)</a>", scan).group(1)
    href = page.get_by_role("link", name=link_text).get_attribute("href")
    assert href.startswith("otpauth://totp/") and f"secret={secret}" in href
    page.get_by_label(t("Verification code")).fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name=t("Verify")).click()
    codes = page.locator("#recovery-codes li")
    assert codes.count() == 10
    page.screenshot(path=str(tmp_path / "recovery-codes.png"))
    page.get_by_role("button", name=t("Continue")).click()
    _signed_in(server, page)
    assert re.search(r'"amr": \[[^\]]*"otp"', page.locator("main").inner_text())


def test_risky_sign_in_with_totp(serve, risky_settings, page_from):
    server = serve(risky_settings)
    Provider(server.app).user("alice")
    secret = add_totp(server)
    page = page_from(TOR)
    t = words(page)
    start_sign_in(server, page)
    page.wait_for_url("**/mfa/verify*")
    page.get_by_label(t("Verification code")).fill("000000")
    page.get_by_role("button", name=t("Verify")).click()
    assert (
        t("That code is not right. Enter the current code from your authenticator app.")
        in page.get_by_role("alert").inner_text()
    )
    page.get_by_label(t("Verification code")).fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name=t("Verify")).click()
    _signed_in(server, page)


def test_forced_password_change(serve, risky_settings, page_from):
    server = serve(risky_settings)
    Provider(server.app).user("alice", LEAKED_PASSWORD)
    secret = add_totp(server)
    page = page_from(LONDON)
    t = words(page)
    start_sign_in(server, page, password=LEAKED_PASSWORD)
    page.wait_for_url("**/mfa/verify*")
    page.get_by_label(t("Verification code")).fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name=t("Verify")).click()
    page.wait_for_url("**/password/change*")
    page.get_by_label(t("New password"), exact=True).fill("Password1234")
    page.get_by_label(t("Confirm new password")).fill("Password1234")
    page.get_by_role("button", name=t("Change password")).click()
    assert (
        t(
            "This password appears in a list of leaked passwords. Choose another one you "
            "have not used elsewhere."
        )
        in page.get_by_role("alert").inner_text()
    )
    page.get_by_label(t("New password"), exact=True).fill("a brand new secret 7")
    page.get_by_label(t("Confirm new password")).fill("a brand new secret 7")
    page.get_by_role("button", name=t("Change password")).click()
    _signed_in(server, page)


def test_53004_page(serve, risky_settings, page_from, tmp_path):
    server = serve(risky_settings)
    Provider(server.app).user("alice")
    page = page_from(LISTED_ANON)
    t = words(page)
    start_sign_in(server, page, blocked=True)
    text = page.locator("main").inner_text()
    assert t("Error %(code)s", code=53004) in text
    assert t("Request id") in text and t("Correlation id") in text and t("Time") in text
    assert t("What you can do") in text
    page.screenshot(path=str(tmp_path / "53004.png"))
