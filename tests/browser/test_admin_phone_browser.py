"""Every admin page fits a 390 px wide phone: no horizontal scroll, in each shipped
language."""

from __future__ import annotations

import pytest

from tests.browser.conftest import add_totp, start_sign_in, words
from tests.browser.test_admin_browser import admin_sign_in
from tests.conftest import Provider
from tests.idp.conftest import CHANGCHUN, LONDON
from tests.locales import LOCALES

pytestmark = pytest.mark.parametrize("ui_locale", LOCALES)


def test_admin_pages_fit_a_phone(serve, risky_settings, new_page, tmp_path):
    server = serve(risky_settings)
    provider = Provider(server.app)
    provider.user("bob-with-a-rather-long-user-name", email="bob@example.org")
    add_totp(server, "bob-with-a-rather-long-user-name")
    provider.user("root", groups=["admins"])
    root_secret = add_totp(server, "root")
    for ip in (LONDON, CHANGCHUN):  # an unlikely-travel detection with long evidence
        visitor = new_page(extra_http_headers={"X-Forwarded-For": ip})
        start_sign_in(server, visitor, "bob-with-a-rather-long-user-name")
        visitor.context.close()

    page = new_page(
        viewport={"width": 390, "height": 844}, extra_http_headers={"X-Forwarded-For": LONDON}
    )
    admin_sign_in(server, page, root_secret)

    page.get_by_role("link", name=words(page)("Users"), exact=True).click()
    bob = page.get_by_role("link", name="bob-with-a-rather-long-user-name")
    bob_url = f"{server.url}{bob.get_attribute('href')}"
    pages = [
        "/admin",
        "/admin?days=365",
        "/admin/recommendations",
        "/admin/users",
        "/admin/directory",
        "/admin/signins",
        "/admin/whatif",
        "/admin/clients",
    ]
    widths = {}
    for path in [*pages, bob_url]:
        page.goto(path if path.startswith("http") else f"{server.url}{path}")
        widths[path] = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=str(tmp_path / f"{len(widths)}.png"), full_page=True)
    assert widths == {path: 390 for path in widths}
    page.context.close()
