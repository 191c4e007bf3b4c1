"""The sign-in flow as an attacker drives it: skipped steps, copied cookies, stolen flow ids.

Each test tries to skip a step the product demands and asserts the safe result.
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest

from idp.authflow import REQUIREMENTS, Step
from idp.models import AuthFlowRow, SsoSession, User, UserRisk
from idp.services import services
from tests.conftest import PASSWORD, csrf_from
from tests.idp.conftest import LEAKED_PASSWORD, LONDON, TOR, form_page, submit_code

NEW_PASSWORD = "a-fresh-unique-pass"


def _flow_of(location: str) -> str:
    return parse_qs(urlparse(location).query)["flow"][0]


def _cookie_payload(browser) -> str:
    """What the signed (not encrypted) session cookie says, as anyone holding it reads."""
    value = browser.get_cookie("idp_session").value
    body = value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    return (zlib.decompress(raw) if value.startswith(".") else raw).decode()


def _user(stepup, name="alice") -> User:
    from idp.extensions import db

    return stepup.with_app(lambda: db.session.query(User).filter_by(username=name).one())


def _password_works(stepup, password: str) -> bool:
    from idp.errors import InvalidCredentials

    hasher = services(stepup.app).passwords
    try:
        hasher.verify(password, _user(stepup).password_hash)
    except InvalidCredentials:
        return False
    return True


def test_password_change_needs_the_second_factor_in_every_flow(stepup):
    """A leaked password parked at the TOTP challenge cannot reach the password change."""
    stepup.user("alice", LEAKED_PASSWORD)
    stepup.register_totp()
    rp = stepup.browser_rp(LONDON)
    challenge = rp.sign_in("alice", LEAKED_PASSWORD)
    assert "/mfa/verify" in challenge.location
    # A second authorization request of the same session waits at the challenge too.
    second = rp.browser.get(rp.authorize_url(nonce="another"))
    assert "/mfa/verify" in second.location
    _, csrf = form_page(rp.browser, challenge.location)
    for location in (challenge.location, second.location):
        change = f"/password/change?flow={_flow_of(location)}"
        assert "/authorize" in rp.browser.get(change).location
        refused = rp.browser.post(
            change,
            data={
                "csrf_token": csrf,
                "new_password": NEW_PASSWORD,
                "confirm_password": NEW_PASSWORD,
            },
        )
        assert refused.status_code == 302 and "/authorize" in refused.location
    assert _password_works(stepup, LEAKED_PASSWORD) and not _password_works(stepup, NEW_PASSWORD)
    from idp.extensions import db

    risk = stepup.with_app(lambda: db.session.get(UserRisk, _user(stepup).id))
    assert risk.risk_level == "high"


def test_temporary_password_change_needs_the_second_factor(stepup):
    """An admin's temporary password with TOTP registered: the change waits for the code."""
    stepup.user("alice")
    secret = stepup.register_totp()
    from idp.extensions import db

    def temporary():
        user = db.session.query(User).filter_by(username="alice").one()
        user.password_must_change = True
        db.session.commit()

    stepup.with_app(temporary)
    rp = stepup.browser_rp(LONDON)
    challenge = rp.sign_in()
    assert "/mfa/verify" in challenge.location
    change = f"/password/change?flow={_flow_of(challenge.location)}"
    assert "/authorize" in rp.browser.get(change).location
    passed = submit_code(rp, challenge.location, stepup.code(secret))
    resumed = rp.browser.get(passed.location)
    assert "/password/change" in resumed.location
    assert rp.browser.get(resumed.location).status_code == 200


def test_registration_secret_belongs_to_the_attempt(stepup):
    """Viewing the registration page binds nothing: each attempt has its own secret, and a
    secret the attacker saw never becomes the victim's authenticator."""
    stepup.user("alice")
    attacker = stepup.browser_rp(TOR.replace("185", "81"))
    seen = attacker.sign_in()
    assert "/mfa/register" in seen.location
    attacker_page = attacker.browser.get(seen.location).get_data(as_text=True)
    attacker_secret = re.search(r'id="secret">([A-Z2-7]+)<', attacker_page).group(1)
    assert _user(stepup).totp_secret is None
    assert attacker_secret not in _cookie_payload(attacker.browser)

    victim = stepup.browser_rp(LONDON)
    shown = victim.sign_in()
    page = victim.browser.get(shown.location)
    victim_secret = re.search(r'id="secret">([A-Z2-7]+)<', page.get_data(as_text=True)).group(1)
    assert victim_secret != attacker_secret
    # Reloading the page in the same attempt keeps its secret (the person may be scanning it).
    again = victim.browser.get(shown.location).get_data(as_text=True)
    assert victim_secret in again
    code = pyotp.TOTP(victim_secret).at(stepup.clock.now())
    done = victim.browser.post(
        shown.location, data={"csrf_token": csrf_from(page), "code": code, "action": "verify"}
    )
    assert "recovery codes" in done.get_data(as_text=True).lower()
    from idp.secretbox import unseal

    assert stepup.with_app(lambda: unseal(_user(stepup).totp_secret)) == victim_secret
    # The attacker's secret does not unlock the account.
    from idp.secondfactor import check_code
    from mfa.errors import MfaError

    stepup.clock.advance(seconds=60)

    def attacker_code():
        with stepup.app.test_request_context():
            user = _user(stepup)
            with pytest.raises(MfaError):
                check_code(user, pyotp.TOTP(attacker_secret).at(stepup.clock.now()))

    stepup.with_app(attacker_code)


def test_cookie_copied_before_the_step_up_is_dead_after_it(stepup):
    stepup.user("alice")
    secret = stepup.register_totp()
    rp = stepup.browser_rp(TOR)
    challenge = rp.sign_in()
    assert "/mfa/verify" in challenge.location
    before = rp.browser.get_cookie("idp_session").value
    thief = stepup.app.test_client()
    thief.environ_base["HTTP_X_FORWARDED_FOR"] = TOR
    thief.set_cookie("idp_session", before)
    passed = submit_code(rp, challenge.location, stepup.code(secret))
    assert rp.code_from(rp.browser.get(passed.location))
    assert rp.browser.get_cookie("idp_session").value != before
    # The copy made before the step signs nobody in: the provider asks for the password.
    stolen = thief.get(rp.authorize_url(acr_values="urn:idp:acr:mfa"))
    assert stolen.status_code == 302 and "/login" in stolen.location
    from idp.extensions import db

    sessions = stepup.with_app(lambda: db.session.query(SsoSession).all())
    assert len(sessions) == 1 and sessions[0].amr == ["mfa", "otp", "pwd"]


def test_a_new_sign_in_ends_the_browsers_previous_session(provider):
    provider.user("alice")
    rp = provider.rp()
    rp.tokens()
    before = rp.browser.get_cookie("idp_session").value
    again = rp.sign_in(prompt="login")
    assert rp.code_from(again)
    thief = provider.app.test_client()
    thief.set_cookie("idp_session", before)
    assert "/login" in thief.get(rp.authorize_url()).location


def test_no_secret_or_location_in_the_cookie(stepup):
    stepup.user("alice")
    rp = stepup.browser_rp(LONDON)
    at_register = rp.sign_in()
    rp.browser.get(at_register.location)
    payload = _cookie_payload(rp.browser)
    assert set(json.loads(payload)) <= {"bid", "flows", "sh", "csrf_token", "_permanent"}
    for word in ("London", "51.5", "-0.1", "lat", "asn", "risk", "secret"):
        assert word not in payload


def test_a_flow_id_is_useless_in_another_browser(stepup):
    stepup.user("alice")
    rp = stepup.browser_rp(LONDON)
    login = rp.browser.get(rp.authorize_url())
    other = stepup.app.test_client()
    page = other.get(login.location)
    assert page.status_code == 400 and "expired" in page.get_data(as_text=True)


def test_flows_expire(stepup):
    stepup.user("alice")
    rp = stepup.browser_rp(LONDON)
    login = rp.browser.get(rp.authorize_url())
    stepup.clock.advance(minutes=31)
    assert rp.browser.get(login.location).status_code == 400


def test_a_stale_save_loses(stepup):
    """Of two requests racing on one flow, the one that saves second starts over."""
    from idp import authflow, flows

    stepup.user("alice")
    rp = stepup.browser_rp(LONDON)
    login = rp.browser.get(rp.authorize_url())
    cookie = rp.browser.get_cookie("idp_session").value
    with stepup.app.test_request_context(headers={"Cookie": f"idp_session={cookie}"}):
        first = authflow.load(_flow_of(login.location))
        assert first is not None
        authflow.save(first)
        with pytest.raises(flows.FlowConflict):
            authflow.save(first)


@pytest.mark.parametrize("step", [s for s in Step if s is not Step.PASSWORD], ids=lambda s: s.value)
def test_every_step_page_refuses_a_flow_that_has_not_earned_it(stepup, step):
    """Each declared step page, reached with a flow that waits elsewhere, with no session, or
    from another session, serves nothing and sends the browser back to the checks."""
    pages = {
        view.required_step: rule.rule
        for rule in stepup.app.url_map.iter_rules()
        if hasattr(view := stepup.app.view_functions[rule.endpoint], "required_step")
    }
    assert set(pages) == set(Step) == set(REQUIREMENTS)
    stepup.user("alice", LEAKED_PASSWORD)
    stepup.register_totp()
    rp = stepup.browser_rp(LONDON)
    challenge = rp.sign_in("alice", LEAKED_PASSWORD)  # waits at the TOTP challenge
    flow = _flow_of(challenge.location)
    url = f"{pages[step]}?flow={flow}"
    _, csrf = form_page(rp.browser, challenge.location)
    if step is not Step.MFA:
        for response in (rp.browser.get(url), rp.browser.post(url, data={"csrf_token": csrf})):
            assert response.status_code == 302 and "/authorize" in response.location
    # The same flow id in a browser that holds the flow's cookie but not its session.
    from idp.extensions import db

    def end_sessions():
        db.session.query(SsoSession).update({"revoked_at": stepup.clock.now()})
        db.session.commit()

    stepup.with_app(end_sessions)
    for response in (rp.browser.get(url), rp.browser.post(url, data={"csrf_token": csrf})):
        assert response.status_code == 302 and "/authorize" in response.location


def test_pkce_is_checked_before_the_code_is_spent(provider):
    provider.user()
    rp = provider.rp(public=True)
    code = rp.code_from(rp.sign_in())
    wrong = rp.redeem(code, code_verifier="x" * 50)
    assert wrong.status_code == 400 and wrong.get_json()["error"] == "invalid_grant"
    missing = rp.redeem(code, code_verifier=None)
    assert missing.status_code == 400
    assert rp.redeem(code).status_code == 200


def test_flow_rows_end_with_the_code(provider):
    provider.user("alice")
    rp = provider.rp()
    rp.tokens()
    from idp.extensions import db

    with provider.app.app_context():
        assert db.session.query(AuthFlowRow).count() == 0


def test_secure_change_after_totp_rotates_the_session(stepup):
    stepup.user("alice", LEAKED_PASSWORD)
    secret = stepup.register_totp()
    rp = stepup.browser_rp(LONDON)
    challenge = rp.sign_in("alice", LEAKED_PASSWORD)
    passed = submit_code(rp, challenge.location, stepup.code(secret))
    change = rp.browser.get(passed.location)
    page = rp.browser.get(change.location)
    before = rp.browser.get_cookie("idp_session").value
    done = rp.browser.post(
        change.location,
        data={
            "csrf_token": csrf_from(page),
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )
    assert rp.code_from(rp.browser.get(done.location))
    assert rp.browser.get_cookie("idp_session").value != before
    # Replaying the finished change with the old cookie does nothing.
    thief = stepup.app.test_client()
    thief.set_cookie("idp_session", before)
    replay = thief.post(
        change.location,
        data={
            "csrf_token": csrf_from(page),
            "new_password": "yet-another-pass-9",
            "confirm_password": "yet-another-pass-9",
        },
    )
    assert replay.status_code in (302, 400) and "/password/change" not in (replay.location or "")
    assert _password_works(stepup, NEW_PASSWORD) and PASSWORD != NEW_PASSWORD


def test_cookies_are_host_only_on_https(make_app, settings):
    from dataclasses import replace

    from tests.conftest import Provider

    provider = Provider(make_app(replace(settings, issuer="https://idp.test")))
    provider.user("alice")
    rp = provider.rp()
    rp.browser.get(rp.authorize_url(), base_url="https://idp.test")
    login = rp.browser.get(rp.authorize_url(), base_url="https://idp.test")
    cookies = login.headers.getlist("Set-Cookie")
    page = rp.browser.get(login.location, base_url="https://idp.test")
    cookies += page.headers.getlist("Set-Cookie")
    names = {c.split("=", 1)[0] for c in cookies}
    assert {"__Host-idp_session", "__Host-idp_device"} <= names, cookies
    for cookie in cookies:
        assert "Secure" in cookie and "Path=/" in cookie and "Domain" not in cookie


def test_showing_the_sign_in_page_begins_no_transaction(provider):
    """A page that only reads its flow reads it on a connection of its own: no BEGIN and
    ROLLBACK around it (on PostgreSQL a rollback also makes psycopg drop every prepared
    statement of the connection, which then cost the database a parse and plan each)."""
    import sqlalchemy as sa

    provider.user()
    rp = provider.rp()
    login = rp.browser.get(rp.authorize_url()).location
    begun = []

    def _begun(session, transaction, connection):
        begun.append(connection)

    sa.event.listen(sa.orm.Session, "after_begin", _begun)
    try:
        for _ in range(2):
            page = rp.browser.get(login)
            assert page.status_code == 200 and b'name="password"' in page.data
        assert begun == []
        # The form it shows still signs in (its flow read, checked and saved as before).
        assert "code=" in rp.submit_login(login, "alice", PASSWORD).location
        assert begun  # the sign-in writes, in transactions of the session
    finally:
        sa.event.remove(sa.orm.Session, "after_begin", _begun)
