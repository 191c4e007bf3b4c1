"""Every kind of page in Chromium under the Content-Security-Policy: the stylesheet is a file
of this origin (idp/static/idp.css), no page carries an inline style, and the browser
reports no violation of the policy (which has no 'unsafe-inline'); in each shipped language."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest
from flask import template_rendered

from tests.browser.conftest import add_totp, start_sign_in, words
from tests.browser.test_consent_browser import App
from tests.conftest import PASSWORD, Provider
from tests.idp.conftest import LISTED_ANON, LONDON
from tests.idp.test_overview import seed
from tests.locales import LOCALES

pytestmark = pytest.mark.parametrize("ui_locale", LOCALES)

# The templates of whole pages (neither a layout nor a partial), and those this walk does not
# reach: forms and notices of the same make, on the same layout.
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
PAGES = {
    p.relative_to(TEMPLATES).as_posix()
    for p in TEMPLATES.rglob("*.html")
    if p.name != "base.html" and "{% extends" in p.read_text()
}
UNVISITED = {
    "change_password.html",
    "logged_out.html",
    "not_me.html",
    "reset_done.html",
    "reset_verify.html",
}

# Runs in every document before its own content: records what the browser refused.
WATCH = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI} line ${e.lineNumber}`);
});
"""

STATE = """() => ({
  violations: window.__violations || [],
  styleAttributes: [...document.querySelectorAll("[style]")].map((e) => e.outerHTML.slice(0, 120)),
  styleElements: document.querySelectorAll("style").length,
  sheets: [...document.styleSheets].map((s) => s.href),
  root: getComputedStyle(document.documentElement).backgroundColor,
  main: getComputedStyle(document.querySelector("main")).backgroundColor,
  h1: getComputedStyle(document.querySelector("h1") || document.body).fontSize,
})"""


class Watched:
    """A browser context (from the `new_page` fixture: in the test's language) whose pages
    report CSP violations, console errors and the policy of every document they load."""

    def __init__(self, new_page, ip: str = LONDON) -> None:
        self.page = new_page(
            viewport={"width": 1280, "height": 900}, extra_http_headers={"X-Forwarded-For": ip}
        )
        self.context = self.page.context
        self.context.add_init_script(WATCH)
        self.console: list[str] = []
        self.policies: dict[str, str] = {}
        # An error status is logged too (the 401 of a wrong password, the 403 of a block, the
        # 404 of /favicon.ico): not this test's concern. A refused style would be.
        self.page.on(
            "console",
            lambda m: (
                m.type == "error"
                and not m.text.startswith("Failed to load resource: the server responded")
                and self.console.append(m.text)
            ),
        )
        self.page.on("pageerror", lambda e: self.console.append(str(e)))
        self.page.on("response", self._response)
        self.checked: list[str] = []

    def _response(self, response) -> None:
        if response.request.resource_type == "document":
            self.policies[response.url] = response.headers.get("content-security-policy", "")

    def check(self, name: str) -> dict:
        """Assert the page now shown is styled by the stylesheet alone, with no violation."""
        page = self.page
        page.wait_for_load_state("load")
        state = page.evaluate(STATE)
        assert state["violations"] == [], (name, state["violations"])
        assert state["styleAttributes"] == [] and state["styleElements"] == 0, (name, state)
        assert [href.split("/", 3)[3] for href in state["sheets"]] == ["static/idp.css"], name
        # The stylesheet applied: the grey page, the white card, the heading's size.
        assert state["root"] == "rgb(243, 244, 247)", (name, state)
        assert state["main"] == "rgb(255, 255, 255)", (name, state)
        if page.locator("h1").count():
            assert state["h1"] == "22.4px", (name, state)  # 1.4rem
        policy = self.policies[page.url]
        style_src = policy.split("style-src ")[1].split(";")[0]
        assert style_src == "'self'" and "unsafe-inline" not in policy, (name, policy)
        assert self.console == [], (name, self.console)
        self.checked.append(name)
        return state

    def style(self, selector: str, prop: str) -> str:
        return self.page.evaluate(
            "([s, p]) => getComputedStyle(document.querySelector(s)).getPropertyValue(p)",
            [selector, prop],
        )

    def close(self) -> None:
        self.context.close()


def test_every_page_type_keeps_the_style_policy(serve, risky_settings, new_page):
    server = serve(risky_settings)
    rendered: set[str] = set()
    template_rendered.connect(
        lambda _, template, **__: rendered.add(template.name), server.app, weak=False
    )
    provider = Provider(server.app)
    provider.user("alice", email="alice@example.org")
    provider.user("carol")  # no second factor: blocked from an anonymising network
    provider.user("root", groups=["admins"])
    root_secret = add_totp(server, "root")
    seed(server.app, datetime.now(UTC))  # risky sign-ins from abroad: the map has countries

    # The person: demo app, sign-in page (and its error), registration with the QR code,
    # recovery codes, back at the app, consent, account, password reset, sign-out.
    user = Watched(new_page)
    page = user.page
    t = words(page)
    page.goto(f"{server.url}/demo")
    user.check("demo")
    page.get_by_role("link", name=t("Sign in")).click()
    page.get_by_label(t("Username")).wait_for()
    user.check("sign-in")
    page.get_by_label(t("Username")).fill("alice")
    page.get_by_label(t("Password")).fill("not the password")
    page.get_by_role("button", name=t("Sign in")).click()
    page.get_by_role("alert").wait_for()
    user.check("sign-in error")
    page.get_by_label(t("Password")).fill(PASSWORD)
    page.get_by_role("button", name=t("Sign in")).click()
    page.wait_for_url("**/mfa/register*")
    user.check("MFA registration")
    # The QR code (segno's SVG, attributes only) in its 12rem box.
    assert page.locator("div.qr svg.totp-qr").count() == 1
    assert user.style("div.qr", "width") == "192px"
    secret = page.locator("#secret").inner_text().strip()
    page.get_by_label(t("Verification code")).fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name=t("Verify")).click()
    page.locator("#recovery-codes li").first.wait_for()
    user.check("recovery codes")
    page.get_by_role("button", name=t("Continue")).click()
    page.wait_for_url(f"{server.url}/demo/callback*")
    user.check("demo result")
    assert user.style("pre.result", "font-size") == "12.8px"  # .8rem

    page.goto(App(server).url(scope="openid profile"))
    page.wait_for_url("**/consent?flow=*")
    user.check("consent")
    page.goto(f"{server.url}/account")
    page.wait_for_url(f"{server.url}/account")
    user.check("account")
    page.goto(f"{server.url}/authorize?client_id=no-such-app&response_type=code")
    user.check("error")
    page.goto(f"{server.url}/logout")
    user.check("sign-out")
    user.close()

    reset = Watched(new_page)
    reset.page.goto(f"{server.url}/password/reset")
    reset.check("password reset")
    reset.close()

    # Blocked: sign-in from an anonymising network (53004).
    blocked = Watched(new_page, LISTED_ANON)
    start_sign_in(server, blocked.page, "carol", blocked=True)
    assert "53004" in blocked.page.locator("main").inner_text()
    blocked.check("blocked")
    assert blocked.style("h2.minor", "font-size") == "16.8px"  # 1.05rem
    blocked.close()

    # The admin: MFA verification, then every console page.
    admin = Watched(new_page)
    page = admin.page
    page.goto(f"{server.url}/admin")
    admin.check("console sign-in")
    page.get_by_label(t("Username")).fill("root")
    page.get_by_label(t("Password")).fill(PASSWORD)
    page.get_by_role("button", name=t("Sign in")).click()
    page.wait_for_url("**/mfa/verify*")
    admin.check("MFA verification")
    page.get_by_label(t("Verification code")).fill(pyotp.TOTP(root_secret).now())
    page.get_by_role("button", name=t("Verify")).click()
    page.wait_for_url(f"{server.url}/admin")
    admin.check("overview")
    # The map drawn, countries shaded by SVG attributes rather than styles.
    assert page.locator('#risky-map svg path[data-country="CN"]').count() == 1
    assert page.locator("#chart-wide svg rect").count() > 0
    # The sign-out button sits at the right end of the console's navigation.
    assert admin.style("nav.admin", "display") == "flex"
    assert admin.style("nav.admin", "margin-bottom") == "16px"
    assert admin.style("nav.admin form.sign-out", "margin-left") != "0px"
    nav = page.locator("nav.admin").bounding_box()
    out = page.locator("nav.admin form.sign-out button").bounding_box()
    assert abs((nav["x"] + nav["width"]) - (out["x"] + out["width"])) < 1
    for path in (
        "/admin?days=90",
        "/admin/recommendations",
        "/admin/users",
        "/admin/directory",
        "/admin/registration",
        "/admin/signins",
        "/admin/clients",
    ):
        page.goto(f"{server.url}{path}")
        admin.check(path)
    page.get_by_role("link", name=t("Users"), exact=True).click()
    page.get_by_role("link", name="ute").click()
    page.wait_for_url("**/admin/users/*")
    admin.check("admin user")
    assert admin.style("form.inline", "display") == "inline"
    assert admin.style("form.inline button", "margin-top") == "3.2px"  # .2rem
    page.goto(f"{server.url}/admin/whatif")
    admin.check("what-if")
    assert admin.style("#days", "width") == "96px"  # 6rem
    assert admin.style("#candidate", "font-family") == "ui-monospace, monospace"
    page.get_by_label(t("Days")).fill("30")
    page.get_by_role("button", name=t("Simulate")).click()
    page.locator("#report").wait_for()
    admin.check("what-if report")
    assert admin.style("#report", "font-size") == "13.6px"  # .85rem

    # The watch is live: an inline style added now is refused and reported.
    page.evaluate("document.querySelector('h1').setAttribute('style', 'color: red')")
    page.wait_for_function("window.__violations.length > 0")
    assert admin.style("h1", "color") != "rgb(255, 0, 0)"
    admin.close()
    assert len(user.checked) + len(reset.checked) + len(blocked.checked) == 12
    assert len(admin.checked) == 13
    assert sorted(rendered) == sorted(PAGES - UNVISITED)
