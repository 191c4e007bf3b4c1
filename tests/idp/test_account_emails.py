"""The user is told of a new second factor and of password changes and resets, and can answer
"this wasn't me" (a real SMTP server on 127.0.0.1)."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlparse

import pyotp
import pytest

from idp.models import RiskDetection, SsoSession, User, UserRisk
from idp.services import services
from tests.conftest import csrf_from
from tests.idp.conftest import LONDON, TOR, form_page, submit_code
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
    rp.browser.post(
        shown.location,
        data={
            "csrf_token": csrf_from(page),
            "action": "verify",
            "code": pyotp.TOTP(secret).at(stepup.clock.now()),
        },
    )
    return secret


def test_new_second_factor_emails_the_user_and_not_me_raises_risk(notifying, smtp):  # noqa: F811
    stepup = notifying(smtp.port)
    user_id = stepup.user("alice", email="alice@example.org")
    rp = stepup.browser_rp(LONDON)
    _register(stepup, rp)
    ((sender, recipients, message),) = smtp.messages
    assert recipients == ["alice@example.org"]
    assert message["Subject"] == "Was this you? An authenticator app was added to your account"
    link = _link(message.get_content())

    from idp.extensions import db

    assert (
        stepup.with_app(lambda: db.session.query(SsoSession).filter_by(revoked_at=None).count())
        == 1
    )
    anyone = stepup.app.test_client()
    page = anyone.get(link)
    assert page.status_code == 200 and "This wasn't me" in page.get_data(as_text=True)
    for _ in range(2):  # the same link twice records one report
        done = anyone.post(
            link.split("?")[0],
            data={"csrf_token": csrf_from(page), "token": link.split("token=")[1]},
        )
        assert done.status_code == 200 and "signed out everywhere" in done.get_data(as_text=True)
    detections = stepup.with_app(
        lambda: (
            db.session.query(RiskDetection)
            .filter_by(user_id=user_id, risk_event_type="userReportedSuspiciousActivity")
            .all()
        )
    )
    assert [(d.risk_level, d.risk_state) for d in detections] == [("high", "atRisk")]
    risk = stepup.with_app(lambda: db.session.get(UserRisk, user_id))
    assert risk.risk_level == "high"
    assert (
        stepup.with_app(lambda: db.session.query(SsoSession).filter_by(revoked_at=None).count())
        == 0
    )


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
    browser.post(
        "/password/reset/verify",
        data={"csrf_token": csrf, "code": pyotp.TOTP(secret).at(stepup.clock.now())},
    )
    _, csrf = form_page(browser, "/password/reset/new")
    done = browser.post(
        "/password/reset/new",
        data={"csrf_token": csrf, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert done.status_code == 200
    assert [m["Subject"] for _, _, m in smtp.messages] == ["Was this you? Your password was reset"]
    # The reset flow is spent: the same cookie cannot set another password.
    again = browser.post(
        "/password/reset/new",
        data={
            "csrf_token": csrf,
            "new_password": "yet-another-pass-9",
            "confirm_password": "yet-another-pass-9",
        },
    )
    assert again.status_code == 302 and "expired" in again.location
    from idp.extensions import db

    user = stepup.with_app(lambda: db.session.query(User).filter_by(username="alice").one())
    hasher = services(stepup.app).passwords
    assert hasher.verify(NEW_PASSWORD, user.password_hash)


def test_no_email_without_an_address(notifying, smtp):  # noqa: F811
    stepup = notifying(smtp.port)
    stepup.user("alice")
    _register(stepup, stepup.browser_rp(LONDON))
    assert smtp.messages == []


def _risky_sign_in(stepup, secret, ip=TOR):
    """A sign-in from `ip` that the policy challenges; the user passes the code."""
    rp = stepup.browser_rp(ip)
    challenge = rp.sign_in("alice")
    assert "/mfa/verify" in challenge.location
    done = submit_code(rp, challenge.location, stepup.code(secret))
    assert rp.code_from(rp.browser.get(done.location))
    stepup.clock.advance(seconds=31)  # the next code is a new time step


def _to_alice(inbox):
    return [m for _, to, m in inbox.messages if to == ["alice@example.org"]]


def test_risky_sign_in_that_passed_emails_the_user_with_the_not_me_link(notifying, smtp):  # noqa: F811
    stepup = notifying(smtp.port)
    user_id = stepup.user("alice", email="alice@example.org")
    secret = stepup.register_totp()
    _risky_sign_in(stepup, secret)
    (message,) = _to_alice(smtp)
    assert message["Subject"] == (
        "Was this you? Someone signed in to your account from a "
        "place or device we found unusual, and passed the "
        "second-factor check"
    )
    body = message.get_content().replace("\r\n", "\n")
    assert body.startswith("Hello alice,\n\nOn 2026-03-02 at 09:00 UTC someone signed in")
    assert f"The sign-in came from {TOR}" in body
    assert secret not in message.as_string()
    link = _link(body)
    anyone = stepup.app.test_client()
    page = anyone.get(link)
    assert "someone signed in to your account" in page.get_data(as_text=True)
    done = anyone.post(
        link.split("?")[0], data={"csrf_token": csrf_from(page), "token": link.split("token=")[1]}
    )
    assert done.status_code == 200
    from idp.extensions import db

    detection = stepup.with_app(
        lambda: (
            db.session.query(RiskDetection)
            .filter_by(user_id=user_id, risk_event_type="userReportedSuspiciousActivity")
            .one()
        )
    )
    assert (detection.risk_level, detection.source) == ("high", "user")
    assert (
        stepup.with_app(
            lambda: db.session.query(SsoSession).filter_by(user_id=user_id, revoked_at=None).count()
        )
        == 0
    )


def test_a_sign_in_without_risk_sends_nothing(notifying, smtp):  # noqa: F811
    stepup = notifying(smtp.port)
    stepup.user("alice", email="alice@example.org")
    stepup.register_totp()
    rp = stepup.browser_rp(LONDON)
    assert rp.code_from(rp.sign_in("alice"))
    assert _to_alice(smtp) == []


def test_user_emails_are_rate_limited_per_user_and_event(notifying, smtp, caplog):  # noqa: F811
    from idp.accounts import USER_EMAIL_WINDOW_SECONDS, USER_EMAILS_PER_WINDOW

    stepup = notifying(smtp.port)
    stepup.user("alice", email="alice@example.org")
    secret = stepup.register_totp()
    with caplog.at_level(logging.INFO, logger="idp.accounts"):
        for _ in range(USER_EMAILS_PER_WINDOW + 2):
            _risky_sign_in(stepup, secret)
    assert len(_to_alice(smtp)) == USER_EMAILS_PER_WINDOW
    assert "account email (risky_sign_in) for user" in caplog.text
    assert "not sent: more than 3 in 3600 s" in caplog.text
    # Another event has its own allowance ...
    from idp.accounts import tell_user
    from idp.users import find_user

    with stepup.app.test_request_context():
        tell_user(find_user("alice"), "password_change")
    assert len(_to_alice(smtp)) == USER_EMAILS_PER_WINDOW + 1
    # ... and the window ends.
    stepup.clock.advance(seconds=USER_EMAIL_WINDOW_SECONDS)
    _risky_sign_in(stepup, secret)
    assert len(_to_alice(smtp)) == USER_EMAILS_PER_WINDOW + 2


@pytest.mark.parametrize(
    ("event", "subject"),
    [
        ("second_factor", "Was this you? An authenticator app was added to your account"),
        ("passkey_added", "Was this you? A passkey was added to your account"),
        ("password_change", "Was this you? Your password was changed"),
        ("password_reset", "Was this you? Your password was reset"),
        (
            "risky_sign_in",
            "Was this you? Someone signed in to your account from a place or "
            "device we found unusual, and passed the second-factor check",
        ),
    ],
    ids=["second-factor", "passkey", "password-change", "password-reset", "risky-sign-in"],
)
def test_every_event_has_a_templated_email_with_a_working_link(
    notifying,  # noqa: F811
    smtp,  # noqa: F811
    event,
    subject,
):
    from idp.accounts import account_email, read_report
    from idp.users import find_user

    stepup = notifying(smtp.port)
    stepup.user("alice", email="alice@example.org")
    with stepup.app.test_request_context():
        message = account_email(find_user("alice"), event)
        token = _link(message.get_content()).split("token=")[1]
        assert read_report(token)["e"] == event
    assert message["Subject"] == subject
    assert "If it was not you, open this link within 14 days" in message.get_content()
