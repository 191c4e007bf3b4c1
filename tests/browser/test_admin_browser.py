"""An admin investigates an impossible-travel sign-in in Chromium and confirms compromise,
in each shipped language."""

from __future__ import annotations

from dataclasses import replace

import pyotp
import pytest

from tests.browser.conftest import add_totp, start_sign_in, words
from tests.browser.test_step_up_browser import PASSWORD
from tests.conftest import Provider
from tests.idp.conftest import CHANGCHUN, LONDON
from tests.locales import LOCALES

pytestmark = pytest.mark.parametrize("ui_locale", LOCALES)


def admin_sign_in(server, page, secret, username="root"):
    """The console's sign-in in the browser: password, then the authenticator's code, in
    the page's language."""
    t = words(page)
    page.goto(f"{server.url}/admin")
    page.get_by_label(t("Username")).fill(username)
    page.get_by_label(t("Password")).fill(PASSWORD)
    page.get_by_role("button", name=t("Sign in")).click()
    page.wait_for_url("**/mfa/verify*")
    page.get_by_label(t("Verification code")).fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name=t("Verify")).click()
    page.wait_for_url(f"{server.url}/admin")


def test_admin_confirms_impossible_travel_compromise(serve, risky_settings, page_from, tmp_path):
    server = serve(risky_settings)
    provider = Provider(server.app)
    provider.user("bob")
    bob_secret = add_totp(server, "bob")
    provider.user("root", groups=["admins"])
    root_secret = add_totp(server, "root")

    # bob at home in London, then "bob" in Changchun a moment later, stuck at TOTP.
    home = page_from(LONDON)
    start_sign_in(server, home, "bob")
    home.wait_for_url(f"{server.url}/demo/callback*")
    thief = page_from(CHANGCHUN)
    start_sign_in(server, thief, "bob")
    thief.wait_for_url("**/mfa/verify*")

    admin = page_from(LONDON)
    t = words(admin)
    admin_sign_in(server, admin, root_secret)
    assert admin.locator("#chart-wide svg[role=img]").count() == 1
    admin.get_by_role("link", name=t("Risky users")).click()
    admin.get_by_role("link", name="bob").click()
    evidence = admin.locator("tr[data-type=unlikelyTravel] .evidence").inner_text()
    assert "London" in evidence and "Changchun" in evidence and "km/h" in evidence
    admin.screenshot(path=str(tmp_path / "admin-user.png"), full_page=True)
    admin.get_by_role("button", name=t("Confirm compromised")).click()
    assert admin.locator("#risk-state").inner_text() == "confirmedCompromised"
    assert admin.locator("#risk-level").inner_text() == "high"
    assert "root" in admin.locator("#risk-history").inner_text()

    # bob's next sign-in: TOTP, then the secure password change.
    again = page_from(LONDON)
    start_sign_in(server, again, "bob")
    again.wait_for_url("**/mfa/verify*")
    again.get_by_label(t("Verification code")).fill(pyotp.TOTP(bob_secret).now())
    again.get_by_role("button", name=t("Verify")).click()
    again.wait_for_url("**/password/change*")
    again.get_by_label(t("New password"), exact=True).fill("bob's new passphrase 42")
    again.get_by_label(t("Confirm new password")).fill("bob's new passphrase 42")
    again.get_by_role("button", name=t("Change password")).click()
    again.wait_for_url(f"{server.url}/demo/callback*")
    assert t("Signed in as %(name)s", name="bob") in again.locator("main").inner_text()


FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"


def thiefs_unfamiliar_evidence(serve, risky_settings, page_from, new_page, **risk) -> str:
    """bob signs in at home in London, then "bob" from another country, network and browser
    is stuck at the verification code; the admin opens bob's page. Returns the evidence of
    the thief's unfamiliarFeatures detection as the page shows it."""
    risk = {"learning_min_sign_ins": 1, "learning_period_days": 0, **risk}
    server = serve(replace(risky_settings, risk=replace(risky_settings.risk, **risk)))
    provider = Provider(server.app)
    provider.user("bob")
    add_totp(server, "bob")
    provider.user("root", groups=["admins"])
    root_secret = add_totp(server, "root")

    home = page_from(LONDON)
    start_sign_in(server, home, "bob")
    home.wait_for_url(f"{server.url}/demo/callback*")
    thief = new_page(user_agent=FIREFOX_LINUX, extra_http_headers={"X-Forwarded-For": CHANGCHUN})
    start_sign_in(server, thief, "bob")
    thief.wait_for_url("**/mfa/verify*")
    thief.context.close()

    admin = page_from(LONDON)
    t = words(admin)
    admin_sign_in(server, admin, root_secret)
    admin.get_by_role("link", name=t("Risky users")).click()
    admin.get_by_role("link", name="bob").click()
    return admin.locator("tr[data-type=unfamiliarFeatures] .evidence").inner_text()


def test_admin_reads_why_a_sign_in_looked_unfamiliar(serve, risky_settings, page_from, new_page):
    evidence = thiefs_unfamiliar_evidence(serve, risky_settings, page_from, new_page)
    # The weight of each new property and why, heaviest first.
    assert evidence.startswith("About 1 in ")
    assert "country CN: never used by this user in 1 sign-in; new in 0.5% of sign-ins" in evidence
    assert "browser Firefox: never used by this user in 1 sign-in;" in evidence
    assert evidence.index("country CN") < evidence.index("address block")


def test_admin_reads_which_users_count_as_having_a_network(
    serve, risky_settings, page_from, new_page
):
    """Once enough sign-ins are counted, the evidence says how many other users have each
    new value, and for a network counts only those who kept it: an attacker's hour in each
    account they got into must not make their network look like a colleague's."""
    evidence = thiefs_unfamiliar_evidence(
        serve, risky_settings, page_from, new_page, novelty_min_counted=0
    )
    assert "country CN: never used by this user in 1 sign-in, by no other user here; new" in (
        evidence
    )
    assert (
        "network 4837: never used by this user in 1 sign-in, by no other user here for a day "
        "or more; new" in evidence
    )
