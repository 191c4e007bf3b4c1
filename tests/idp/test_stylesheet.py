"""The pages' CSS is one file of this origin (idp/static/idp.css), shipped in the package: no
template or generated SVG carries an inline style, and the CSP has no 'unsafe-inline'.
tests/browser/test_csp_browser.py walks the pages in Chromium."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

from tests.packaging import shipped

ROOT = Path(__file__).resolve().parents[2]
INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.IGNORECASE)


def test_templates_have_no_inline_style():
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in (ROOT / "templates").rglob("*.html")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if INLINE_STYLE.search(line)
    ]
    assert found == []


def test_generated_svg_has_no_inline_style():
    from idp.views.admin import detections_chart
    from idp.worldmap import world_map
    from mfa.totp import qr_svg

    day = date(2026, 1, 1)
    bars = (
        [day + timedelta(days=i) for i in range(3)],
        ["unlikelyTravel"],
        [{"unlikelyTravel": n} for n in (0, 2, 1)],
    )
    for svg in (
        world_map({"CN": 2, "GB": 1}, "Risky sign-ins"),
        qr_svg("otpauth://totp/idp:alice?secret=JBSWY3DPEHPK3PXP"),
        detections_chart(bars, 3, width=720, font=11, labels=8),
    ):
        assert svg.startswith("<svg") and not INLINE_STYLE.search(svg)


def test_stylesheet_is_served_and_the_policy_needs_no_inline_style(client):
    page = client.get("/password/reset")
    assert page.status_code == 200
    assert '<link rel="stylesheet" href="/static/idp.css">' in page.get_data(as_text=True)
    policy = page.headers["Content-Security-Policy"]
    assert "style-src 'self';" in policy and "unsafe-inline" not in policy
    sheet = client.get("/static/idp.css")
    assert sheet.status_code == 200 and sheet.mimetype == "text/css"
    assert b"main.wide" in sheet.data
    sheet.close()
    # Served from inside the package, so an installed wheel has it too.
    assert Path(client.application.static_folder) == ROOT / "idp" / "static"


def test_stylesheet_is_package_data():
    assert shipped("idp/static/idp.css")
    assert shipped("idp/static/passkey.js")
