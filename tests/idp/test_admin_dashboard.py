"""The admin dashboard: admins only, TOTP on the sign-in, CSRF on forms, every action logged."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pyotp
import pytest
import sqlalchemy as sa

from idp.models import RiskHistory, User, UserRisk
from tests.conftest import PASSWORD, csrf_from
from tests.idp.conftest import CHANGCHUN, LONDON, TOR, submit_code


def _admin_sign_in(stepup, browser, username="root", secret=None):
    """Walk /admin's own sign-in: password, then TOTP (the console demands MFA)."""
    response = browser.get("/admin")
    assert response.status_code == 302 and "/admin/login" in response.location
    response = browser.get(response.location)
    response = browser.get(response.location)  # /authorize -> /login
    assert "/login" in response.location
    page = browser.get(response.location)
    response = browser.post(
        response.location,
        data={"csrf_token": csrf_from(page), "username": username, "password": PASSWORD},
    )
    # The password's answer leads on by itself: here to the TOTP challenge.
    if "/mfa/verify" in (response.location or ""):
        url = response.location
        page = browser.get(url)
        response = browser.post(
            url, data={"csrf_token": csrf_from(page), "code": stepup.code(secret)}
        )
        response = browser.get(response.location)
    while response.status_code == 302 and urlparse(response.location).path != "/admin":
        # The callback URL is absolute (the issuer); the test browser stays on one host.
        target = urlparse(response.location)
        response = browser.get(target.path + (f"?{target.query}" if target.query else ""))
    return response


def _admin(stepup, groups=("admins",)):
    stepup.user("root", groups=list(groups))
    secret = stepup.register_totp("root")
    browser = stepup.app.test_client()
    browser.environ_base["HTTP_X_FORWARDED_FOR"] = LONDON
    return browser, secret


def test_admin_signs_in_with_totp_and_sees_overview(stepup):
    browser, secret = _admin(stepup)
    final = _admin_sign_in(stepup, browser, secret=secret)
    assert urlparse(final.location).path == "/admin"
    page = browser.get("/admin")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Risky users" in html and "<svg" in html and "Detections by type" in html


def test_non_admin_is_refused(stepup):
    browser, secret = _admin(stepup, groups=("staff",))
    _admin_sign_in(stepup, browser, secret=secret)
    response = browser.get("/admin")
    assert response.status_code in (302, 403)
    if response.status_code == 302:
        response = browser.get(response.location)
    assert browser.get("/admin/users").status_code in (302, 403)


def test_ordinary_session_does_not_open_admin(stepup):
    """A session from an ordinary app sign-in (no TOTP) must pass the console's own sign-in."""
    stepup.user("root", groups=["admins"])
    stepup.register_totp("root")
    rp = stepup.browser_rp(LONDON)
    rp.tokens("root")
    response = rp.browser.get("/admin/users")
    assert response.status_code == 302 and "/admin/login" in response.location


def _risky_user(stepup):
    """bob signs in from London, then 'from Changchun' minutes later, and gives up at TOTP."""
    stepup.user("bob")
    secret = stepup.register_totp("bob")
    home = stepup.browser_rp(LONDON)
    assert home.code_from(home.sign_in("bob"))
    stepup.clock.advance(minutes=40)
    thief = stepup.browser_rp(CHANGCHUN)
    assert "/mfa/verify" in thief.sign_in("bob").location
    return stepup.with_app(lambda: User.query.filter_by(username="bob").one().id), secret


def test_risky_user_page_shows_evidence_and_actions_are_logged(stepup):
    bob_id, bob_secret = _risky_user(stepup)
    browser, secret = _admin(stepup)
    _admin_sign_in(stepup, browser, secret=secret)
    listing = browser.get("/admin/users?state=atRisk").get_data(as_text=True)
    assert "bob" in listing
    page = browser.get(f"/admin/users/{bob_id}")
    html = page.get_data(as_text=True)
    assert "unlikelyTravel" in html
    evidence = re.search(
        r'data-type="unlikelyTravel".*?class="evidence">([^<]+)<', html, re.S
    ).group(1)
    assert "London" in evidence and "Changchun" in evidence and "km/h" in evidence
    # No CSRF token: refused.
    assert browser.post(f"/admin/users/{bob_id}/confirmCompromised").status_code == 400
    done = browser.post(
        f"/admin/users/{bob_id}/confirmCompromised", data={"csrf_token": csrf_from(page)}
    )
    assert done.status_code == 302
    from idp.extensions import db

    risk = stepup.with_app(lambda: db.session.get(UserRisk, bob_id))
    assert (risk.risk_level, risk.risk_state) == ("high", "confirmedCompromised")
    history = stepup.with_app(
        lambda: db.session.scalars(
            sa.select(RiskHistory).filter_by(user_id=bob_id, activity="confirmedCompromised")
        ).all()
    )
    assert history and history[0].initiated_by == "root"
    # bob's next sign-in goes through the secure password change.
    bob = stepup.browser_rp(LONDON)
    challenge = bob.sign_in("bob")
    assert "/mfa/verify" in challenge.location
    stepup.clock.advance(seconds=30)
    change = bob.browser.get(
        submit_code(bob, challenge.location, pyotp.TOTP(bob_secret).at(stepup.clock.now())).location
    )
    assert "/password/change" in change.location


def _cookie_payload(cookie: str) -> str:
    """What a signed (not encrypted) Flask session cookie says, as anyone holding it reads."""
    import base64
    import zlib

    body = cookie.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    return (zlib.decompress(raw) if cookie.startswith(".") else raw).decode()


def test_temporary_password_is_shown_once(stepup):
    bob_id, _ = _risky_user(stepup)
    browser, secret = _admin(stepup)
    _admin_sign_in(stepup, browser, secret=secret)
    page = browser.get(f"/admin/users/{bob_id}")
    response = browser.post(
        f"/admin/users/{bob_id}/temporaryPassword", data={"csrf_token": csrf_from(page)}
    )
    shown = response.get_data(as_text=True)
    password = re.search(r'id="temporary-password">([^<]+)<', shown).group(1)
    assert response.headers["Cache-Control"] == "no-store"
    # Not in the cookie: replaying the session cookie shows nothing.
    cookie = browser.get_cookie("idp_session").value
    assert password not in _cookie_payload(cookie)
    again = browser.get(f"/admin/users/{bob_id}").get_data(as_text=True)
    assert password not in again
    from idp.extensions import db

    risk = stepup.with_app(lambda: db.session.get(UserRisk, bob_id))
    assert (risk.risk_level, risk.risk_detail) == ("none", "adminGeneratedTemporaryPassword")
    rp = stepup.browser_rp(LONDON)
    response = rp.sign_in("bob", password)
    assert response.status_code == 302 and "/mfa/verify" in response.location


def test_require_reset_needs_totp(stepup):
    stepup.user("carol")
    carol_id = stepup.with_app(lambda: User.query.filter_by(username="carol").one().id)
    browser, secret = _admin(stepup)
    _admin_sign_in(stepup, browser, secret=secret)
    page = browser.get(f"/admin/users/{carol_id}")
    assert "Require password reset" not in page.get_data(as_text=True)
    refused = browser.post(
        f"/admin/users/{carol_id}/requireReset",
        data={"csrf_token": csrf_from(page)},
        follow_redirects=True,
    )
    assert "no TOTP" in refused.get_data(as_text=True)


def test_detection_actions_and_reactivation_rule(stepup):
    stepup.user("dave")
    dave_secret = stepup.register_totp("dave")
    rp = stepup.browser_rp(TOR)
    challenge = rp.sign_in("dave")
    assert "/mfa/verify" in challenge.location
    dave_id = stepup.with_app(lambda: User.query.filter_by(username="dave").one().id)
    browser, secret = _admin(stepup)
    _admin_sign_in(stepup, browser, secret=secret)
    from idp.extensions import db
    from idp.models import RiskDetection

    detection = stepup.with_app(
        lambda: db.session.scalars(sa.select(RiskDetection).filter_by(user_id=dave_id)).one()
    )
    page = browser.get(f"/admin/users/{dave_id}")
    token = csrf_from(page)
    assert (
        browser.post(
            f"/admin/detections/{detection.id}/falsePositive", data={"csrf_token": token}
        ).status_code
        == 302
    )
    assert (
        browser.post(
            f"/admin/detections/{detection.id}/reactivate", data={"csrf_token": token}
        ).status_code
        == 302
    )
    state = stepup.with_app(lambda: db.session.get(RiskDetection, detection.id).risk_state)
    assert state == "atRisk"
    # dave passes TOTP: the detection is remediated by dave, and cannot be reactivated.
    stepup.clock.advance(seconds=30)
    rp.browser.get(
        submit_code(rp, challenge.location, pyotp.TOTP(dave_secret).at(stepup.clock.now())).location
    )
    refused = browser.post(
        f"/admin/detections/{detection.id}/reactivate",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert "cannot be reactivated" in refused.get_data(as_text=True)
    activities = stepup.with_app(
        lambda: [
            h.activity
            for h in db.session.scalars(
                sa.select(RiskHistory).filter_by(user_id=dave_id, initiated_by="root")
            )
        ]
    )
    assert {"detectionMarkedFalsePositive", "detectionReactivated"} <= set(activities)


def test_sign_in_log_filters_and_policy_results(stepup):
    _risky_user(stepup)
    browser, secret = _admin(stepup)
    _admin_sign_in(stepup, browser, secret=secret)
    html = browser.get("/admin/signins?user=bob&outcome=interrupted").get_data(as_text=True)
    assert "signInRiskPolicy" in html and "failure" in html and "unlikelyTravel" in html
    assert "root" not in html.split("<table")[1]
    none = browser.get(
        "/admin/signins?user=bob&level=high&from=2020-01-01T00:00&to=2020-01-02T00:00"
    ).get_data(as_text=True)
    assert "No sign-ins." in none


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/admin/users/%00"),
        ("POST", "/admin/users/%00/disable"),
        ("POST", "/admin/users/%00/profile"),
        ("POST", "/admin/users/%00/passkeys/%00/remove"),
        ("POST", "/admin/clients/%00/rotate"),
        ("POST", "/admin/detections/%00/resolve"),
    ],
    ids=["user", "user-action", "profile", "passkey", "client-action", "detection-action"],
)
def test_nul_in_an_id_of_the_path_is_404(stepup, method, path):
    """An id with NUL names nothing (PostgreSQL could not even compare it): the 404 page."""
    browser, secret = _admin(stepup)
    _admin_sign_in(stepup, browser, secret=secret)
    csrf = csrf_from(browser.get("/admin/users"))
    response = browser.open(path, method=method, data={"csrf_token": csrf})
    assert response.status_code == 404
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    ["from=9999-12-31T23:59:59-01:00", "to=0001-01-01T00:00:00%2B01:00", "from=0000-01-01"],
    ids=["after-year-9999", "before-year-1", "year-0"],
)
def test_sign_in_log_ignores_times_off_the_calendar(stepup, query):
    """A time that is off the calendar in UTC is no filter, as an unreadable one is."""
    browser, secret = _admin(stepup)
    _admin_sign_in(stepup, browser, secret=secret)
    page = browser.get(f"/admin/signins?{query}")
    assert page.status_code == 200
    assert "root" in page.get_data(as_text=True).split("<table")[1]


def whatif(stepup, candidate: str, locale: str | None = None):
    """An admin with a risky user in the log posts `candidate` to the what-if page (in
    `locale`'s language, when given); returns the browser, the form page and the answer."""
    from tests.locales import speak

    _risky_user(stepup)
    browser, secret = _admin(stepup)
    _admin_sign_in(stepup, browser, secret=secret)
    if locale is not None:
        speak(browser, locale)
    page = browser.get("/admin/whatif")
    result = browser.post(
        "/admin/whatif",
        data={"csrf_token": csrf_from(page), "days": "30", "candidate": candidate},
    )
    return browser, page, result.get_data(as_text=True)


def report_of(html: str) -> str:
    """The what-if report's text on the page."""
    return re.search(r'<pre id="report"[^>]*>(.*?)</pre>', html, re.S).group(1)


def test_whatif_page_shows_the_simulation(stepup):
    browser, page, html = whatif(stepup, '[policies.sign_in_risk]\nblock_at = "medium"\n')
    assert "Candidate policies" in page.get_data(as_text=True)
    report = report_of(html)
    assert "blocked 53003" in report and "candidate" in report
    bad = browser.post(
        "/admin/whatif",
        data={
            "csrf_token": csrf_from(page),
            "days": "30",
            "candidate": '[policies.sign_in_risk]\nblock_at = "sometimes"\n',
        },
    )
    assert "policies.sign_in_risk.block_at" in bad.get_data(as_text=True)


def test_lifecycle_from_the_dashboard(stepup):
    from idp.extensions import db
    from idp.models import RiskHistory

    carol_id = stepup.user("carol")
    stepup.register_totp("carol")
    browser, secret = _admin(stepup)
    _admin_sign_in(stepup, browser, secret=secret)
    listed = browser.get("/admin/directory").get_data(as_text=True)
    assert "carol" in listed and "TOTP" in listed
    page = browser.get(f"/admin/users/{carol_id}")
    csrf = csrf_from(page)
    steps = (("disable", "disabled"), ("enable", "enabled"), ("resetMfa", "TOTP not registered"))
    for action, text in steps:
        done = browser.post(f"/admin/users/{carol_id}/{action}", data={"csrf_token": csrf})
        assert text in browser.get(done.location).get_data(as_text=True)
    activities = stepup.with_app(
        lambda: [h.activity for h in db.session.query(RiskHistory).filter_by(user_id=carol_id)]
    )
    assert {"userDisabled", "userEnabled", "secondFactorsReset"} <= set(activities)
    root_id = stepup.with_app(lambda: User.query.filter_by(username="root").one().id)
    own = browser.post(f"/admin/users/{root_id}/delete", data={"csrf_token": csrf})
    assert "cannot delete your own account" in browser.get(own.location).get_data(as_text=True)
    gone = browser.post(f"/admin/users/{carol_id}/delete", data={"csrf_token": csrf})
    assert gone.location.endswith("/admin/users")
    assert stepup.with_app(lambda: User.query.filter_by(username="carol").count()) == 0


def test_clients_page_rotates_and_deletes(stepup):
    rp = stepup.rp(grant_types=["client_credentials"], scopes=["openid"], redirect_uris=[])
    browser, secret = _admin(stepup)
    _admin_sign_in(stepup, browser, secret=secret)
    page = browser.get("/admin/clients")
    assert rp.client_id in page.get_data(as_text=True) and "current" in page.get_data(as_text=True)
    rotated = browser.post(
        f"/admin/clients/{rp.client_id}/rotateSecret", data={"csrf_token": csrf_from(page)}
    )
    new = re.search(r'id="client-secret">([^<]+)<', rotated.get_data(as_text=True)).group(1)
    assert rp.token_request({"grant_type": "client_credentials"}).status_code == 401
    rp.secret = new
    assert rp.token_request({"grant_type": "client_credentials"}).status_code == 200
    browser.post(f"/admin/clients/{rp.client_id}/delete", data={"csrf_token": csrf_from(page)})
    assert rp.client_id not in browser.get("/admin/clients").get_data(as_text=True)
    refused = browser.post(
        "/admin/clients/idp-admin-console/delete", data={"csrf_token": csrf_from(page)}
    )
    assert refused.status_code == 400
