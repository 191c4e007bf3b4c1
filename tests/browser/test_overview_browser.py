"""The overview in Chromium at 1280 px and on a 390 px phone: figures, map, chart, tuning;
in each shipped language."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tests.browser.conftest import add_totp, words
from tests.browser.test_admin_browser import admin_sign_in
from tests.conftest import Provider
from tests.idp.conftest import LONDON
from tests.idp.test_overview import EXPECTED, seed
from tests.locales import LOCALES

pytestmark = pytest.mark.parametrize("ui_locale", LOCALES)

FIGURES = (
    "attacks-blocked",
    "challenged-passed",
    "users-protected",
    "mean-time-to-remediate",
    "new-high-risk-users",
)


def _figures(page):
    return {name: page.locator(f"#{name}").inner_text() for name in FIGURES}


def _shown(t, figure: str) -> str:
    """One of EXPECTED's figures (written as the English page shows it) in t's language."""
    if m := re.fullmatch(r"(\d+) of (\d+)", figure):
        return t("%(passed)s of %(challenged)s", passed=m[1], challenged=m[2])
    if m := re.fullmatch(r"(\d+) d (\d+) h", figure):
        return t("%(d)d d %(h)d h", d=int(m[1]), h=int(m[2]))
    if m := re.fullmatch(r"(\d+) h (\d+) min", figure):
        return t("%(h)d h %(m)d min", h=int(m[1]), m=int(m[2]))
    if m := re.fullmatch(r"(\d+) min", figure):
        return t("%(m)d min", m=int(m[1]))
    return figure


@pytest.fixture
def overview(serve, risky_settings, new_page):
    """A signed-in admin's page on a server holding the seeded history."""
    server = serve(risky_settings)
    provider = Provider(server.app)
    provider.user("root", groups=["admins"])
    secret = add_totp(server, "root")
    seed(server.app, datetime.now(UTC))
    page = new_page(
        viewport={"width": 1280, "height": 900}, extra_http_headers={"X-Forwarded-For": LONDON}
    )
    admin_sign_in(server, page, secret)
    return server, page


def test_overview_at_1280_and_390(overview, tmp_path):
    server, page = overview
    t = words(page)
    # The admin's own console sign-in was challenged for TOTP (acr) and passed.
    expected = {name: _shown(t, figure) for name, figure in EXPECTED[30].items()}
    expected["challenged-passed"] = t("%(passed)s of %(challenged)s", passed=2, challenged=3)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{server.url}/admin?days=30")
        assert _figures(page) == expected
        assert page.evaluate("document.documentElement.scrollWidth") == width
        # Each figure says what it counts.
        assert t(
            "Risky sign-ins (sign-in risk low or above) that never got tokens: blocked by a "
            "policy (53003, 53004) or stopped at a challenge that was not passed. Each "
            "authorization request counts once."
        ) in page.locator("#figures div").first.get_attribute("title")
        assert page.locator("#definitions li").count() == 5
        # The map: countries with risky sign-ins are drawn and fit the page.
        world = page.locator("#risky-map svg")
        box = world.bounding_box()
        assert box is not None and 0 < box["width"] <= width
        assert page.locator('#risky-map path[data-country="CN"]').count() == 1
        assert page.locator('#locations tr[data-country="CN"] .count').inner_text() == "2"
        # The chart drawn for the width, its legend as text.
        wide, narrow = page.locator("#chart-wide"), page.locator("#chart-narrow")
        assert (wide.is_visible(), narrow.is_visible()) == (width > 640, width <= 640)
        chart = (wide if width > 640 else narrow).locator("svg")
        label = chart.locator("text").first
        # Axis text stays legible: at least 9 CSS pixels high on the phone too.
        assert label.bounding_box()["height"] >= 9
        assert page.locator('#legend li[data-type="unlikelyTravel"] .count').inner_text() == "3"
        row = page.locator('#tuning tr[data-type="unlikelyTravel"]')
        assert row.locator(".false-positive").inner_text() == "2 (67%)"
        assert row.locator(".confirmed").inner_text() == "1"
        recommendations = page.locator("#recommendations li")
        assert 1 <= recommendations.count() <= 3
        page.screenshot(path=str(tmp_path / f"overview-{width}.png"), full_page=True)
        for part in (
            "figures",
            "recommendations",
            "risky-map",
            "chart-wide",
            "chart-narrow",
            "tuning",
        ):
            if page.locator(f"#{part}").is_visible():
                page.locator(f"#{part}").screenshot(path=str(tmp_path / f"{part}-{width}.png"))

    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("link", name=t("%(count)s day", "%(count)s days", 90, count=90)).click()
    page.wait_for_url("**/admin?days=90")
    assert page.locator("#attacks-blocked").inner_text() == _shown(
        t, EXPECTED[90]["attacks-blocked"]
    )
    assert page.locator("#mean-time-to-remediate").inner_text() == _shown(
        t, EXPECTED[90]["mean-time-to-remediate"]
    )

    page.locator('#tuning tr[data-type="unlikelyTravel"] a').click()
    page.wait_for_url("**/admin/whatif?candidate=*")
    assert (
        page.get_by_label(t("Candidate policies")).input_value()
        == '[policies.sign_in_risk]\nmfa_at = "high"\n'
    )
    page.get_by_role("button", name=t("Simulate")).click()
    assert page.locator("#report").is_visible()

    page.goto(f"{server.url}/admin")
    page.get_by_role("link", name=t("All recommendations")).click()
    page.wait_for_url("**/admin/recommendations")
    # The four seeded users have no second factor; root has TOTP.
    assert page.locator("#usersWithoutSecondFactor .impacted").inner_text() == "4"
    assert page.locator("#usersWithoutSecondFactor .status").inner_text() == "active"
    assert page.locator("#compromisedNotRemediated .status").inner_text() == "completed"
