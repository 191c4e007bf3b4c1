"""TOTP at sign-in: replay refused, failures throttled and raising mfaFraud, recovery codes."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from idp.models import RecoveryCode, RiskDetection, UserRisk
from mfa.recovery import hash_recovery_code
from tests.idp.conftest import TOR, StepUp, submit_code


def _challenge(stepup):
    rp = stepup.browser_rp(TOR)
    response = rp.sign_in()
    assert "/mfa/verify" in response.location
    return rp, response.location


def test_same_code_refused_the_second_time(stepup):
    stepup.user()
    secret = stepup.register_totp()
    code = stepup.code(secret)
    rp, url = _challenge(stepup)
    assert rp.code_from(rp.browser.get(submit_code(rp, url, code).location))
    rp2, url2 = _challenge(stepup)
    replay = submit_code(rp2, url2, code)
    assert replay.status_code == 400
    assert "already used" in replay.get_data(as_text=True)
    # The next time step's code works.
    stepup.clock.advance(seconds=30)
    assert rp2.code_from(rp2.browser.get(submit_code(rp2, url2, stepup.code(secret)).location))


def test_older_step_after_newer_is_refused(stepup):
    stepup.user()
    secret = stepup.register_totp()
    previous = stepup.code(secret)
    stepup.clock.advance(seconds=30)
    rp, url = _challenge(stepup)
    assert rp.code_from(rp.browser.get(submit_code(rp, url, stepup.code(secret)).location))
    rp2, url2 = _challenge(stepup)
    # Within the one-step window, but older than the accepted step.
    assert submit_code(rp2, url2, previous).status_code == 400


def test_failures_are_throttled_and_raise_mfa_fraud(stepup):
    user_id = stepup.user()
    secret = stepup.register_totp()
    rp, url = _challenge(stepup)
    statuses = [submit_code(rp, url, "000000").status_code for _ in range(5)]
    assert statuses == [400] * 5
    locked = submit_code(rp, url, stepup.code(secret))
    assert locked.status_code == 429
    assert "50053" in locked.get_data(as_text=True)
    from idp.extensions import db

    fraud = stepup.with_app(
        lambda: list(
            db.session.scalars(
                sa.select(RiskDetection).filter_by(user_id=user_id, risk_event_type="mfaFraud")
            )
        )
    )
    assert len(fraud) >= 1 and fraud[0].scope == "user"
    assert stepup.with_app(lambda: db.session.get(UserRisk, user_id).risk_level) in (
        "medium",
        "high",
    )
    stepup.clock.advance(seconds=301)
    ok = submit_code(rp, url, stepup.code(secret))
    assert ok.status_code == 302


def test_four_failures_do_not_raise_mfa_fraud(stepup):
    user_id = stepup.user()
    stepup.register_totp()
    rp, url = _challenge(stepup)
    for _ in range(4):
        submit_code(rp, url, "000000")
    from idp.extensions import db

    assert (
        stepup.with_app(
            lambda: db.session.scalar(
                sa.select(sa.func.count())
                .select_from(RiskDetection)
                .filter_by(user_id=user_id, risk_event_type="mfaFraud")
            )
        )
        == 0
    )


def test_recovery_code_works_once(stepup):
    stepup.user()
    stepup.register_totp()
    from idp.extensions import db
    from idp.users import find_user

    def add_codes():
        db.session.add(
            RecoveryCode(
                user_id=find_user("alice").id, code_hash=hash_recovery_code("k7tq-9m2x-pv4c")
            )
        )
        db.session.commit()

    stepup.with_app(add_codes)
    rp, url = _challenge(stepup)
    assert rp.code_from(rp.browser.get(submit_code(rp, url, "K7TQ 9M2X PV4C").location))
    rp2, url2 = _challenge(stepup)
    assert submit_code(rp2, url2, "k7tq-9m2x-pv4c").status_code == 400


def test_refresh_token_replay_raises_anomalous_token(stepup):
    user_id = stepup.user()
    stepup.register_totp()
    rp = stepup.browser_rp("81.2.69.142")
    tokens = rp.tokens()
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    assert rp.token_request(refresh).status_code == 200
    # A race of the client with itself is forgiven; the same token from elsewhere is not.
    assert rp.token_request(refresh).status_code == 400
    from idp.extensions import db

    assert stepup.with_app(lambda: db.session.query(RiskDetection).count()) == 0
    assert rp.token_request(refresh, ip="198.51.100.20").status_code == 400

    rows = stepup.with_app(
        lambda: list(db.session.scalars(sa.select(RiskDetection).filter_by(user_id=user_id)))
    )
    assert [(r.risk_event_type, r.risk_level, r.scope) for r in rows] == [
        ("anomalousToken", "high", "user")
    ]
    assert stepup.with_app(lambda: db.session.get(UserRisk, user_id).risk_level) == "high"


def test_same_code_to_two_workers_at_once_is_accepted_once(make_app, risky_settings, clock):
    """Two app instances (workers) on one database race the same TOTP code."""
    worker1 = StepUp(make_app(risky_settings, clock=clock), clock)
    worker2 = make_app(risky_settings, clock=clock)
    worker1.user()
    secret = worker1.register_totp()
    code = worker1.code(secret)
    rp1, url1 = _challenge(worker1)
    rp2, url2 = _challenge(worker1)
    # The second browser's requests go to the second worker from here on.
    browser2 = worker2.test_client()
    for cookie in rp2.browser._cookies.values():
        browser2.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)
    browser2.environ_base["HTTP_X_FORWARDED_FOR"] = TOR
    rp2.browser = browser2
    pages = [(rp, url, rp.browser.get(url)) for rp, url in ((rp1, url1), (rp2, url2))]
    from tests.conftest import csrf_from

    barrier = threading.Barrier(2)
    results = []

    def submit(rp, url, page):
        barrier.wait()
        response = rp.browser.post(url, data={"csrf_token": csrf_from(page), "code": code})
        results.append(response.status_code)

    threads = [threading.Thread(target=submit, args=p) for p in pages]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [302, 400], results


def test_refresh_token_revoked_by_admin_is_not_a_replay(stepup):
    """A token ended by an admin, logout or password change is invalid, not stolen."""
    from idp import admin_actions
    from idp.extensions import db

    user_id = stepup.user()
    stepup.register_totp()
    rp = stepup.browser_rp("81.2.69.142")
    tokens = rp.tokens()
    stepup.with_app(lambda: admin_actions.revoke_all_sessions(user_id, "root"))
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    assert rp.token_request(refresh).status_code == 400
    kinds = stepup.with_app(
        lambda: [
            r.risk_event_type
            for r in db.session.scalars(sa.select(RiskDetection).filter_by(user_id=user_id))
        ]
    )
    assert kinds == []


def test_totp_codes_and_secrets_never_in_logs(stepup, caplog):
    stepup.user()
    secret = stepup.register_totp()
    with caplog.at_level("DEBUG"):
        rp, url = _challenge(stepup)
        submit_code(rp, url, "123450")
        good = stepup.code(secret)
        assert rp.code_from(rp.browser.get(submit_code(rp, url, good).location))
    text = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    for value in (secret, good, "123450", "correct horse battery"):
        assert value not in text
