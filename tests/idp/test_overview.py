"""The overview's headline figures, map, detections chart and tuning, against seeded rows."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.idp.test_admin_dashboard import _admin, _admin_sign_in

# (correlation id, days ago, [(outcome, error code)], sign-in risk, country, city)
SIGN_INS = [
    ("blocked-53003", 2, [("failure", 53003)], "high", "CN", "Changchun"),
    ("challenged-passed", 3, [("interrupted", 50076), ("success", None)], "medium", "GB", "London"),
    ("challenged-abandoned", 4, [("interrupted", 50076)], "medium", "CN", "Changchun"),
    ("quiet", 5, [("success", None)], "none", "GB", "London"),
    ("blocked-53004", 6, [("failure", 53004)], "low", "US", "Boston"),
    ("old-blocked", 40, [("failure", 53003)], "high", "DE", "Berlin"),
]
# user: [(days ago, risk state, level)]
HISTORY = {
    "ulla": [(3, "atRisk", "medium"), (1, "remediated", "none")],  # 2 days
    "uwe": [(10, "atRisk", "high"), (9.5, "dismissed", "none")],  # 12 hours
    "ute": [(5, "atRisk", "high")],  # still at risk
    "udo": [(100, "atRisk", "medium"), (60, "remediated", "none")],  # 40 days
}
# (type, days ago, state, level, user); ute is confirmed compromised after her detection.
DETECTIONS = [
    ("unlikelyTravel", 2, "dismissed", "medium", "ulla"),
    ("unlikelyTravel", 3, "confirmedSafe", "medium", "uwe"),
    ("unlikelyTravel", 4, "atRisk", "medium", "ute"),
    ("newCountry", 4, "atRisk", "low", "ulla"),
]
EXPECTED = {
    7: {
        "attacks-blocked": "3",
        "challenged-passed": "1 of 2",
        "users-protected": "1",
        "mean-time-to-remediate": "2 d 0 h",
        "new-high-risk-users": "1",
    },
    30: {
        "attacks-blocked": "3",
        "challenged-passed": "1 of 2",
        "users-protected": "2",
        "mean-time-to-remediate": "1 d 6 h",
        "new-high-risk-users": "2",
    },
    90: {
        "attacks-blocked": "4",
        "challenged-passed": "1 of 2",
        "users-protected": "3",
        "mean-time-to-remediate": "14 d 4 h",
        "new-high-risk-users": "2",
    },
}


def seed(app: Any, now: datetime) -> None:
    """Sign-ins, risk history and detections at known times before `now`."""
    from idp.extensions import db
    from idp.models import RiskDetection, RiskHistory, SignIn, User, UserRisk
    from idp.users import create_user

    with app.app_context():
        ids = {name: create_user(app, name, "seeded password 1").id for name in HISTORY}
        for correlation, days, rows, level, country, city in SIGN_INS:
            for i, (outcome, code) in enumerate(rows):
                db.session.add(
                    SignIn(
                        created_at=now - timedelta(days=days) + timedelta(seconds=i),
                        correlation_id=str(uuid.uuid5(uuid.NAMESPACE_URL, correlation)),
                        user_id=ids["ulla"],
                        username="ulla",
                        kind="password",
                        outcome=outcome,
                        error_code=code,
                        risk_level_during_sign_in=level,
                        risk_level_aggregated=level,
                        country=country,
                        city=city,
                    )
                )
        for name, items in HISTORY.items():
            for days, state, level in items:
                db.session.add(
                    RiskHistory(
                        user_id=ids[name],
                        at=now - timedelta(days=days),
                        initiated_by="system",
                        activity="riskUpdated",
                        risk_level=level,
                        risk_state=state,
                        risk_detail="none",
                    )
                )
            db.session.add(
                UserRisk(
                    user_id=ids[name],
                    risk_level=items[-1][2],
                    risk_state=items[-1][1],
                    risk_detail="none",
                    updated_at=now - timedelta(days=items[-1][0]),
                )
            )
        db.session.add(
            RiskHistory(
                user_id=ids["ute"],
                at=now - timedelta(days=1),
                initiated_by="root",
                activity="confirmedCompromised",
                risk_level="high",
                risk_state="confirmedCompromised",
                risk_detail="adminConfirmedUserCompromised",
            )
        )
        for kind, days, state, level, name in DETECTIONS:
            at = now - timedelta(days=days)
            db.session.add(
                RiskDetection(
                    user_id=ids[name],
                    risk_event_type=kind,
                    risk_level=level,
                    scope="signIn",
                    risk_state=state,
                    detected_at=at,
                    last_updated_at=at,
                )
            )
        db.session.commit()
        assert db.session.query(User).count() >= len(HISTORY)


def figures(html: str) -> dict[str, str]:
    return dict(re.findall(r'<dd id="([a-z-]+)">([^<]*)</dd>', html))


@pytest.fixture
def signed_in(stepup):
    browser, secret = _admin(stepup)
    _admin_sign_in(stepup, browser, secret=secret)
    # The admin's own sign-in (London, no risk) happened at T0; the seeded rows are older.
    seed(stepup.app, stepup.clock.now())
    return browser


@pytest.mark.parametrize("days", [7, 30, 90], ids=["7-days", "30-days", "90-days"])
def test_headline_figures_per_period(stepup, signed_in, days):
    html = signed_in.get(f"/admin?days={days}").get_data(as_text=True)
    shown = figures(html)
    # The admin's console sign-in was challenged for TOTP (acr) and passed.
    expected = dict(EXPECTED[days], **{"challenged-passed": "2 of 3"})
    assert shown == expected
    assert f'aria-current="page">{days} days</a>' in html
    assert html.count("<li>") >= 5 and "Risky sign-ins (sign-in risk low or above)" in html


def test_an_unknown_period_is_the_default(stepup, signed_in):
    html = signed_in.get("/admin?days=12").get_data(as_text=True)
    assert 'aria-current="page">30 days</a>' in html


def test_map_and_locations_count_each_risky_request_once(stepup, signed_in):
    html = signed_in.get("/admin?days=30").get_data(as_text=True)
    locations = dict(re.findall(r'<tr data-country="([A-Z]+)">.*?class="count">(\d+)<', html, re.S))
    assert locations == {"CN": "2", "GB": "1", "US": "1"}
    assert re.search(
        r'<path data-country="CN" fill="#8a1c0f"[^>]*><title>CN: 2 risky '
        r"sign-ins</title>",
        html,
    )
    assert '<path data-country="GB" fill="#e8765c"' in html
    assert 'data-country="DE"' not in html  # 40 days ago: outside the period
    assert "Changchun (2)" in html
    longer = signed_in.get("/admin?days=90").get_data(as_text=True)
    assert '<tr data-country="DE">' in longer


def test_chart_and_legend(stepup, signed_in):
    html = signed_in.get("/admin?days=30").get_data(as_text=True)
    legend = dict(re.findall(r'<li data-type="(\w+)">.*?class="count">(\d+)<', html, re.S))
    assert legend == {"unlikelyTravel": "3", "newCountry": "1"}
    assert html.count("Detections by type, last 30 days</title>") == 2  # wide and narrow
    year = signed_in.get("/admin?days=365").get_data(as_text=True)
    assert "Detections by type, last 365 days" in year


def test_tuning_table_and_its_what_if_link(stepup, signed_in):
    html = signed_in.get("/admin?days=30").get_data(as_text=True)
    row = re.search(r'<tr data-type="unlikelyTravel">(.*?)</tr>', html, re.S).group(1)
    cells = dict(re.findall(r'class="([a-z-]+)">([^<]*)<', row))
    assert cells == {"fired": "3", "false-positive": "2 (67%)", "confirmed": "1"}
    assert "faster than 900 km/h" in row
    assert "sign_in_risk.mfa_at = medium" in row
    # medium detections trigger the default mfa_at = medium: the link moves it past them.
    href = re.search(r'href="(/admin/whatif\?[^"]+)"', row).group(1).replace("&amp;", "&")
    candidate = parse_qs(urlparse(href).query)["candidate"][0]
    assert candidate == '[policies.sign_in_risk]\nmfa_at = "high"\n'
    page = signed_in.get(href).get_data(as_text=True)
    assert "mfa_at = &#34;high&#34;\n</textarea>" in page
    quiet = re.search(r'<tr data-type="newCountry">(.*?)</tr>', html, re.S).group(1)
    assert "level low" in quiet and "What if mfa_at = low" in quiet


@pytest.mark.parametrize(
    ("level", "current", "candidate"),
    [
        ("low", "medium", "low"),
        ("medium", "medium", "high"),
        ("high", "medium", "never"),
        ("high", "never", "high"),
        ("low", "low", "medium"),
    ],
    ids=["below-threshold", "at-threshold", "high-at-medium", "policy-never", "low-at-low"],
)
def test_what_if_candidate_flips_the_detection(level, current, candidate):
    from idp.headline import _candidate
    from risk.levels import Level

    assert _candidate(Level.parse(level), current) == candidate
