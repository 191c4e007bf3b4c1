"""TOTP registration under the registration policy: grace period, skip, codes from the page."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa

from idp.models import RecoveryCode, User
from tests.conftest import csrf_from
from tests.idp.conftest import LONDON, T0, with_policy


def _start_grace(stepup, days_ago):
    from idp.extensions import db

    def go():
        user = db.session.scalar(sa.select(User).filter_by(username="alice"))
        user.mfa_grace_started_at = T0 - timedelta(days=days_ago)
        db.session.commit()

    stepup.with_app(go)


def _registration_page(stepup):
    rp = stepup.browser_rp(LONDON)
    response = rp.sign_in()
    assert response.status_code == 302 and "/mfa/register" in response.location, response
    page = rp.browser.get(response.location)
    return rp, response.location, page


def test_first_sign_in_starts_grace_and_offers_skip(stepup):
    stepup.user()
    rp, url, page = _registration_page(stepup)
    html = page.get_data(as_text=True)
    assert "Skip for now" in html and "14 days left" in html
    assert 'href="otpauth://totp/' in html and "<svg" in html
    skipped = rp.browser.post(url, data={"csrf_token": csrf_from(page), "action": "skip"})
    assert rp.code_from(rp.browser.get(skipped.location))
    started = stepup.with_app(
        lambda: User.query.filter_by(username="alice").one().mfa_grace_started_at
    )
    assert started == T0


@pytest.mark.parametrize(
    "days_ago, skip_offered, text",
    [
        (13, True, "1 day left"),
        (15, False, "before you continue"),
    ],
    ids=["day-13", "day-15"],
)
def test_grace_day_13_vs_15(stepup, days_ago, skip_offered, text):
    stepup.user()
    _start_grace(stepup, days_ago)
    rp, url, page = _registration_page(stepup)
    html = page.get_data(as_text=True)
    assert ("Skip for now" in html) is skip_offered
    assert text in html
    skip = rp.browser.post(url, data={"csrf_token": csrf_from(page), "action": "skip"})
    if skip_offered:
        assert rp.code_from(rp.browser.get(skip.location))
    else:
        assert skip.status_code == 400
        assert "grace period is over" in skip.get_data(as_text=True)


def test_grace_is_not_renewed_by_later_sign_ins(stepup):
    stepup.user()
    _registration_page(stepup)
    stepup.clock.advance(days=10)
    _, _, page = _registration_page(stepup)
    assert "4 days left" in page.get_data(as_text=True)


def test_registration_with_code_from_the_page(stepup):
    stepup.user()
    rp, url, page = _registration_page(stepup)
    html = page.get_data(as_text=True)
    secret = re.search(r'id="secret">([A-Z2-7]+)<', html).group(1)
    uri = re.search(r'href="(otpauth://[^"]+)"', html).group(1).replace("&amp;", "&")
    assert f"secret={secret}" in uri and "issuer=" in uri
    wrong = rp.browser.post(
        url, data={"csrf_token": csrf_from(page), "action": "verify", "code": "123456"}
    )
    assert wrong.status_code == 400
    done = rp.browser.post(
        url,
        data={"csrf_token": csrf_from(page), "action": "verify", "code": pyotp.TOTP(secret).at(T0)},
    )
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", done.get_data(as_text=True))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert ">Continue<" in done.get_data(as_text=True)
    code = rp.code_from(
        rp.browser.get(
            "/authorize",
            query_string=dict(
                re.findall(
                    r'name="([^"]+)" value="([^"]*)"',
                    done.get_data(as_text=True).split("recovery-codes")[1],
                )
            ),
        )
    )
    claims = rp.verify_id_token(rp.redeem(code).get_json()["id_token"])
    assert "otp" in claims["amr"]
    stored = stepup.with_app(lambda: User.query.filter_by(username="alice").one())
    hashes = stepup.with_app(
        lambda: [r.code_hash for r in RecoveryCode.query.filter_by(user_id=stored.id)]
    )
    assert stored.has_totp and len(hashes) == 10
    # The secret is sealed at rest, not stored in clear.
    assert stored.totp_secret.startswith("v1:") and secret not in stored.totp_secret
    assert codes[0] not in str(hashes)


def test_zero_grace_means_no_skip(stepup_with):
    stepup = stepup_with(lambda s: with_policy(s, "mfa_registration", grace_period_days=0))
    stepup.user()
    _, _, page = _registration_page(stepup)
    assert "Skip for now" not in page.get_data(as_text=True)


def test_registration_off_goes_straight_through(stepup_with):
    stepup = stepup_with(lambda s: with_policy(s, "mfa_registration", state="off"))
    stepup.user()
    assert stepup.browser_rp(LONDON).code_from(stepup.browser_rp(LONDON).sign_in())


def test_registered_user_is_not_asked(stepup):
    stepup.user()
    stepup.register_totp()
    rp = stepup.browser_rp(LONDON)
    assert rp.code_from(rp.sign_in())


def test_skip_works_for_a_second_app_in_the_same_session(stepup):
    """Signed in (and skipped) for one app, a second app's sign-in reuses the session: its
    registration page is offered again, and skipping it must lead to the code, not back."""
    stepup.user()
    rp, url, page = _registration_page(stepup)
    skipped = rp.browser.post(url, data={"csrf_token": csrf_from(page), "action": "skip"})
    assert rp.code_from(rp.browser.get(skipped.location))
    second = stepup.rp()
    second.browser = rp.browser
    response = second.browser.get(second.authorize_url())
    assert response.status_code == 302 and "/mfa/register" in response.location, response
    page = second.browser.get(response.location)
    skipped = second.browser.post(
        response.location, data={"csrf_token": csrf_from(page), "action": "skip"}
    )
    assert second.code_from(second.browser.get(skipped.location))
