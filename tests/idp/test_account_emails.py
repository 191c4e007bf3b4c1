"""The user is told of a new second factor and of password changes and resets, and can answer
"this wasn't me" (a real SMTP server on 127.0.0.1)."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pyotp

from idp.models import RiskDetection, SsoSession, User, UserRisk
from tests.conftest import csrf_from
from tests.idp.conftest import LONDON, form_page
from tests.idp.test_notify import notifying, smtp  # noqa: F401 (fixtures)

NEW_PASSWORD = "a-fresh-unique-pass"


def _link(body: str) -> str:
    url = re.search(r"(http://\S+/account/not-me\?token=\S+)", body).group(1)
    parsed = urlparse(url)
    return f"{parsed.path}?{parsed.query}"


def _register(stepup, rp):
    shown = rp.sign_in()
    page = rp.browser.get(shown.location)
    secret = re.search(r'id="secret">([A-Z2-7]+)<', page.get_data(as_text=True)).group(1)
    rp.browser.post(shown.location, data={
        "csrf_token": csrf_from(page), "action": "verify",
        "code": pyotp.TOTP(secret).at(stepup.clock.now())})
    return secret


def test_new_second_factor_emails_the_user_and_not_me_raises_risk(notifying, smtp):  # noqa: F811
    stepup = notifying(smtp.port)
    user_id = stepup.user("alice", email="alice@example.org")
    rp = stepup.browser_rp(LONDON)
    _register(stepup, rp)
    (sender, recipients, message), = smtp.messages
    assert recipients == ["alice@example.org"]
    assert message["Subject"] == "Was this you? An authenticator app was added to your account"
    link = _link(message.get_content())

    from idp.extensions import db

    assert stepup.with_app(lambda: db.session.query(SsoSession).filter_by(
        revoked_at=None).count()) == 1
    anyone = stepup.app.test_client()
    page = anyone.get(link)
    assert page.status_code == 200 and "This wasn't me" in page.get_data(as_text=True)
    for _ in range(2):  # the same link twice records one report
        done = anyone.post(link.split("?")[0], data={
            "csrf_token": csrf_from(page), "token": link.split("token=")[1]})
        assert done.status_code == 200 and "signed out everywhere" in done.get_data(as_text=True)
    detections = stepup.with_app(lambda: db.session.query(RiskDetection).filter_by(
        user_id=user_id, risk_event_type="userReportedSuspiciousActivity").all())
    assert [(d.risk_level, d.risk_state) for d in detections] == [("high", "atRisk")]
    risk = stepup.with_app(lambda: db.session.get(UserRisk, user_id))
    assert risk.risk_level == "high"
    assert stepup.with_app(lambda: db.session.query(SsoSession).filter_by(
        revoked_at=None).count()) == 0


def test_a_forged_or_expired_link_is_refused(notifying, smtp):  # noqa: F811
    stepup = notifying(smtp.port)
    stepup.user("alice", email="alice@example.org")
    _register(stepup, stepup.browser_rp(LONDON))
    link = _link(smtp.bodies()[0])
    anyone = stepup.app.test_client()
    assert anyone.get(link[:-3] + "abc").status_code == 400
    stepup.clock.advance(days=13, hours=23)
    assert anyone.get(link).status_code == 200
    stepup.clock.advance(hours=2)
    expired = anyone.get(link)
    assert expired.status_code == 400 and "not valid" in expired.get_data(as_text=True)


def test_password_reset_and_change_email_the_user(notifying, smtp):  # noqa: F811
    stepup = notifying(smtp.port)
    stepup.user("alice", email="alice@example.org")
    secret = stepup.register_totp()
    browser = stepup.app.test_client()
    _, csrf = form_page(browser, "/password/reset")
    browser.post("/password/reset", data={"csrf_token": csrf, "username": "alice"})
    _, csrf = form_page(browser, "/password/reset/verify")
    browser.post("/password/reset/verify", data={
        "csrf_token": csrf, "code": pyotp.TOTP(secret).at(stepup.clock.now())})
    _, csrf = form_page(browser, "/password/reset/new")
    done = browser.post("/password/reset/new", data={
        "csrf_token": csrf, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert done.status_code == 200
    assert [m["Subject"] for _, _, m in smtp.messages] == [
        "Was this you? Your password was reset"]
    # The reset flow is spent: the same cookie cannot set another password.
    again = browser.post("/password/reset/new", data={
        "csrf_token": csrf, "new_password": "yet-another-pass-9",
        "confirm_password": "yet-another-pass-9"})
    assert again.status_code == 302 and "expired" in again.location
    from idp.extensions import db

    user = stepup.with_app(lambda: db.session.query(User).filter_by(username="alice").one())
    hasher = stepup.app.extensions["idp.passwords"]
    assert hasher.verify(NEW_PASSWORD, user.password_hash)


def test_no_email_without_an_address(notifying, smtp):  # noqa: F811
    stepup = notifying(smtp.port)
    stepup.user("alice")
    _register(stepup, stepup.browser_rp(LONDON))
    assert smtp.messages == []
