"""The risk engine cannot be turned against users: only someone who knows the password
creates lasting user risk, and self-service reset is neither an oracle nor a weapon."""

from __future__ import annotations

import re
import threading
from dataclasses import replace

import pyotp
import pytest

from idp.models import RecoveryCode, RiskDetection, SignIn, UserRisk
from tests.conftest import PASSWORD, csrf_from
from tests.idp.conftest import LONDON, TOR, StepUp, form_page, submit_code

OFFICE = LONDON
HOME = "175.16.199.10"


def _rows(stepup, model, **filters):
    from idp.extensions import db

    return stepup.with_app(lambda: db.session.query(model).filter_by(**filters).all())


def _fail(stepup, ip, names):
    for name in names:
        assert stepup.browser_rp(ip).sign_in(name, "wrong guess").status_code == 401


def test_made_up_names_from_a_shared_address_block_nobody(stepup):
    bob = stepup.user("bob")
    _fail(stepup, OFFICE, [f"made-up-{n}" for n in range(15)])
    response = stepup.browser_rp(OFFICE).sign_in("bob")
    assert response.status_code == 302 and "/mfa/register" in response.location
    assert not _rows(stepup, RiskDetection, user_id=bob)


def test_a_real_spray_raises_that_sign_in_only(stepup):
    """Wrong passwords for ten real accounts make the next sign-in from there risky (53004 for a
    user without a second factor), but the user is not risky anywhere else."""
    bob = stepup.user("bob")
    for n in range(10):
        stepup.user(f"colleague{n}")
    _fail(stepup, OFFICE, [f"colleague{n}" for n in range(10)])
    blocked = stepup.browser_rp(OFFICE).sign_in("bob")
    assert blocked.status_code == 403 and "53004" in blocked.get_data(as_text=True)
    assert {d.risk_event_type for d in _rows(stepup, RiskDetection, user_id=bob)} == {
        "suspiciousIPAddress",
        "passwordSpray",
    }
    assert (
        not _rows(stepup, UserRisk, user_id=bob)
        or _rows(stepup, UserRisk, user_id=bob)[0].risk_level == "none"
    )
    elsewhere = stepup.browser_rp(HOME).sign_in("bob")
    assert elsewhere.status_code == 302 and "/mfa/register" in elsewhere.location


def test_blocked_tor_sign_in_leaves_no_user_risk(stepup):
    bob = stepup.user("bob")
    assert stepup.browser_rp(TOR).sign_in("bob").status_code == 403
    assert _rows(stepup, RiskDetection, user_id=bob)[0].risk_event_type == "anonymizedIPAddress"
    assert stepup.browser_rp(OFFICE).sign_in("bob").status_code == 302


def test_what_a_password_holder_does_still_counts(stepup):
    """The other side of the rule: a leaked password is the user's risk, wherever next."""
    from tests.idp.conftest import LEAKED_PASSWORD

    bob = stepup.user("bob", LEAKED_PASSWORD)
    assert stepup.browser_rp(OFFICE).sign_in("bob", LEAKED_PASSWORD).status_code == 403
    assert _rows(stepup, UserRisk, user_id=bob)[0].risk_level == "high"
    assert stepup.browser_rp(HOME).sign_in("bob", LEAKED_PASSWORD).status_code == 403


def _reset_attempt(stepup, username, code="000000"):
    browser = stepup.app.test_client()
    _, csrf = form_page(browser, "/password/reset")
    browser.post("/password/reset", data={"csrf_token": csrf, "username": username})
    return browser, csrf


def _wrong_reset_codes(stepup, username, n):
    browser, csrf = _reset_attempt(stepup, username)
    return [
        browser.post("/password/reset/verify", data={"csrf_token": csrf, "code": "000000"})
        for _ in range(n)
    ]


def test_reset_says_the_same_to_every_name(stepup):
    stepup.user("alice")
    stepup.register_totp("alice")
    stepup.user("bob")  # no second factor
    answers = {}
    for name in ("alice", "bob", "nobody-here"):
        pages = _wrong_reset_codes(stepup, name, 7)
        # CSRF tokens and passkey challenges differ per page; the rest must not.
        answers[name] = [
            (p.status_code, re.sub(r'(value|data-options)="[^"]*"', "", p.get_data(as_text=True)))
            for p in pages
        ]
    assert answers["alice"] == answers["bob"] == answers["nobody-here"]
    statuses = [status for status, _ in answers["alice"]]
    assert statuses == [400] * 5 + [429, 429]
    assert len(_rows(stepup, SignIn, kind="reset")) == 21  # every attempt logged


def test_reset_failures_lock_neither_sign_in_nor_raise_risk(stepup):
    alice = stepup.user("alice")
    secret = stepup.register_totp("alice")
    _wrong_reset_codes(stepup, "alice", 7)
    assert not _rows(stepup, RiskDetection, user_id=alice)
    rp = stepup.browser_rp(TOR)
    challenge = rp.sign_in("alice")
    passed = submit_code(rp, challenge.location, stepup.code(secret))
    assert rp.code_from(rp.browser.get(passed.location))


def _two_workers(make_app, risky_settings, clock):
    worker1 = StepUp(make_app(risky_settings, clock=clock), clock)
    return worker1, make_app(risky_settings, clock=clock)


def _race(calls):
    """Run the calls at the same moment on threads; return their results in order."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_a_recovery_code_is_accepted_once_across_workers(make_app, risky_settings, clock):
    from mfa.recovery import hash_recovery_code

    worker1, worker2 = _two_workers(make_app, risky_settings, clock)
    alice = worker1.user("alice")
    worker1.register_totp("alice")

    def add_code():
        from idp.extensions import db

        db.session.add(RecoveryCode(user_id=alice, code_hash=hash_recovery_code("k7tq-9m2x-pv4c")))
        db.session.commit()

    worker1.with_app(add_code)
    posts = []
    for app in (worker1.app, worker2):
        rp = worker1.browser_rp(TOR)
        url = rp.sign_in("alice").location
        _, csrf = form_page(rp.browser, url)
        rp.browser.application = app
        posts.append(
            lambda rp=rp, url=url, csrf=csrf: (
                rp.browser.post(
                    url, data={"csrf_token": csrf, "code": "k7tq-9m2x-pv4c"}
                ).status_code
            )
        )
    assert sorted(_race(posts)) == [302, 400]
    used = _rows(worker1, RecoveryCode, user_id=alice)
    assert [r.used_at is not None for r in used] == [True]


def test_wrong_codes_are_limited_exactly_across_workers(make_app, risky_settings, clock):
    worker1, worker2 = _two_workers(make_app, risky_settings, clock)
    worker1.user("alice")
    worker1.register_totp("alice")
    posts = []
    for n in range(8):
        rp = worker1.browser_rp(TOR)
        url = rp.sign_in("alice").location
        _, csrf = form_page(rp.browser, url)
        rp.browser.application = (worker1.app, worker2)[n % 2]
        posts.append(
            lambda rp=rp, url=url, csrf=csrf: (
                rp.browser.post(url, data={"csrf_token": csrf, "code": "000000"}).status_code
            )
        )
    assert sorted(_race(posts)) == [400] * 5 + [429] * 3


@pytest.mark.parametrize("memory, ok", [(32, True), (31, False)], ids=["enough", "too-little"])
def test_argon2_memory_must_cover_the_parallelism(tmp_path, memory, ok):
    from idp.config import ConfigError, load_settings

    path = tmp_path / "idp.toml"
    path.write_text(
        'secret_key = "a-long-enough-secret-key"\n'
        f"[passwords]\nargon2_memory_kib = {memory}\nargon2_parallelism = 4\n"
    )
    if ok:
        assert load_settings(path, environ={}).passwords.argon2_memory_kib == memory
    else:
        with pytest.raises(ConfigError, match="argon2_memory_kib: must be at least 8 x"):
            load_settings(path, environ={})


@pytest.mark.parametrize(
    "changes, warned",
    [
        ({"trusted_proxies": ("0.0.0.0/0",)}, "trusted_proxies"),
        ({"issuer": "http://login.example.org"}, "issuer"),
        ({"issuer": "https://login.example.org", "trusted_proxies": ("10.0.0.0/8",)}, None),
        ({"issuer": "http://127.0.0.1:5000"}, None),
    ],
    ids=["any-proxy", "public-http", "fine", "local-http"],
)
def test_weak_settings_are_warned_about(settings, changes, warned):
    from idp.config import warnings_for

    found = warnings_for(replace(settings, **changes))
    assert [w.split(":")[0] for w in found] == ([warned] if warned else [])


def test_security_headers(make_app, settings):
    from tests.conftest import Provider

    provider = Provider(make_app(replace(settings, issuer="https://idp.test")))
    provider.user()
    rp = provider.rp()
    login = rp.browser.get(rp.authorize_url(), base_url="https://idp.test")
    page = rp.browser.get(login.location, base_url="https://idp.test")
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    policy = page.headers["Content-Security-Policy"]
    form_action = re.search(r"form-action ([^;]+)", policy).group(1).split()
    assert form_action == ["'self'", "https://rp.example"]
    api = provider.app.test_client().get(
        "/api/v1/identityProtection/riskyUsers", base_url="https://idp.test"
    )
    assert api.status_code == 401 and api.headers["Cache-Control"] == "no-store"


def test_logout_hint_of_another_session_asks_first(provider):
    provider.user("alice")
    provider.user("bob")
    alice, bob = provider.rp(post_logout=["https://rp.example/bye"]), provider.rp()
    alice_tokens = alice.tokens("alice")
    bob.tokens("bob")
    # Bob's browser receives a logout link carrying alice's ID token.
    page = bob.browser.get(
        "/logout",
        query_string={
            "id_token_hint": alice_tokens["id_token"],
            "post_logout_redirect_uri": "https://rp.example/bye",
        },
    )
    assert page.status_code == 200 and "confirm" in page.get_data(as_text=True).lower()
    # Alice is still signed in: her browser still gets codes without a password.
    assert alice.code_from(alice.browser.get(alice.authorize_url()))
    # Alice's own browser with her hint is signed out at once.
    own = alice.browser.get(
        "/logout",
        query_string={
            "id_token_hint": alice_tokens["id_token"],
            "post_logout_redirect_uri": "https://rp.example/bye",
        },
    )
    assert own.status_code == 302 and own.location.startswith("https://rp.example/bye")


def test_reset_of_a_real_user_still_works_after_other_names_failed(stepup):
    stepup.user("alice", email=None)
    secret = stepup.register_totp("alice")
    _wrong_reset_codes(stepup, "nobody", 7)
    browser, csrf = _reset_attempt(stepup, "alice")
    ok = browser.post(
        "/password/reset/verify",
        data={"csrf_token": csrf, "code": pyotp.TOTP(secret).at(stepup.clock.now())},
    )
    assert ok.status_code == 302 and "/password/reset/new" in ok.location
    assert PASSWORD and csrf_from(browser.get(ok.location))
