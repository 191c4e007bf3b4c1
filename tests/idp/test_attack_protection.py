"""Smart lockout and the per-IP throttle, driven over HTTP as a guesser would: right and
wrong passwords while locked, made-up names, familiar and unfamiliar places, two workers
on one database, and Redis."""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import replace

import pytest
import sqlalchemy as sa

from idp.config import LockoutSettings, ThrottleSettings
from idp.models import SignIn
from idp.services import services
from tests.conftest import PASSWORD, Provider, csrf_from

OFFICE = "81.2.69.160"
ELSEWHERE = "175.16.199.10"
REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


class Guesser:
    """A browser at one address that posts the sign-in form, as a script would."""

    def __init__(self, provider: Provider, ip: str, rp=None) -> None:
        self.rp = rp or provider.rp()
        self.rp.browser.environ_base["HTTP_X_FORWARDED_FOR"] = ip
        login = self.rp.browser.get(self.rp.authorize_url(prompt="login"))
        self.url = login.location
        self.csrf = csrf_from(self.rp.browser.get(self.url))

    def guess(self, username: str, password: str):
        response = self.rp.browser.post(
            self.url, data={"csrf_token": self.csrf, "username": username, "password": password}
        )
        if response.status_code == 302 and "/authorize" in response.location:
            response = self.rp.browser.get(response.location)
        return response


def _body(response) -> str:
    """The page with what differs per request masked (CSRF token, flow, request id)."""
    html = response.get_data(as_text=True)
    html = re.sub(r'value="[^"]*"', 'value=""', html)
    html = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "ID", html)
    return re.sub(r"flow=[\w-]+", "flow=", html)


@pytest.fixture
def protected(make_app, settings, clock):
    def build(**changes):
        return Provider(make_app(replace(settings, **changes), clock=clock))

    return build


@pytest.fixture
def clock():
    from idp.clock import FrozenClock
    from tests.idp.conftest import T0

    return FrozenClock(T0)


def test_lockout_after_threshold_answers_right_and_wrong_alike(protected, clock, monkeypatch):
    provider = protected()
    provider.user("alice")
    attacker = Guesser(provider, ELSEWHERE)
    for _ in range(10):
        assert attacker.guess("alice", "wrong guess").status_code == 401
    hasher = services(provider.app).passwords
    calls = []
    original = hasher.verify
    monkeypatch.setattr(hasher, "verify", lambda *a: calls.append(1) or original(*a))
    right, wrong = attacker.guess("alice", PASSWORD), attacker.guess("alice", "wrong guess")
    assert right.status_code == wrong.status_code == 403
    assert right.headers["Retry-After"] == wrong.headers["Retry-After"] == "60"
    assert _body(right) == _body(wrong)
    assert "Error 50053" in right.get_data(as_text=True) and "09:01:00 UTC" in _body(right)
    assert calls == []  # no argon2 work while locked
    with provider.app.app_context():
        from idp.extensions import db

        codes = [r.error_code for r in db.session.query(SignIn).order_by(SignIn.created_at)]
    assert codes[-2:] == [50053, 50053]
    # After the minute the lock is gone. The right password after ten wrong ones from this
    # address is a guessed one (suspiciousIPAddress): without a second factor, 53004.
    clock.advance(seconds=61)
    guessed = attacker.guess("alice", PASSWORD)
    assert guessed.status_code == 403 and "53004" in guessed.get_data(as_text=True)
    elsewhere = Guesser(provider, OFFICE)
    assert elsewhere.rp.code_from(elsewhere.guess("alice", PASSWORD))


def test_lockouts_double(protected, clock):
    provider = protected()
    provider.user("alice")
    attacker = Guesser(provider, ELSEWHERE)
    for seconds in (60, 120, 240):
        for _ in range(10):
            attacker.guess("alice", "wrong guess")
        assert attacker.guess("alice", "wrong guess").headers["Retry-After"] == str(seconds)
        clock.advance(seconds=seconds + 1)


def test_made_up_names_lock_like_real_ones(protected):
    provider = protected()
    provider.user("alice")
    attacker = Guesser(provider, ELSEWHERE)
    for _ in range(10):
        attacker.guess("alice", "wrong guess")
        attacker.guess("ghost", "wrong guess")
    real, ghost = attacker.guess("alice", "x"), attacker.guess("ghost", "x")
    assert real.status_code == ghost.status_code == 403
    assert real.headers["Retry-After"] == ghost.headers["Retry-After"]
    assert _body(real).replace("alice", "NAME") == _body(ghost).replace("ghost", "NAME")


def test_attacker_elsewhere_cannot_lock_the_user_out_at_home(protected):
    provider = protected()
    provider.user("alice")
    home = Guesser(provider, OFFICE)
    assert home.rp.code_from(home.guess("alice", PASSWORD))
    attacker = Guesser(provider, ELSEWHERE)
    for _ in range(12):
        attacker.guess("alice", "wrong guess")
    assert attacker.guess("alice", PASSWORD).status_code == 403
    # The same browser at home (known device and network) still signs in.
    again = Guesser(provider, OFFICE, rp=home.rp)
    assert again.rp.code_from(again.guess("alice", PASSWORD))


def test_a_right_password_at_home_starts_the_home_count_afresh(protected):
    """The bucket a right password clears is its own: at a known place, the familiar one
    (worked out from the profile the risk engine read, see protection.succeeded)."""
    provider = protected(lockout=LockoutSettings(threshold=4))
    provider.user("alice")
    home = Guesser(provider, OFFICE)
    assert home.rp.code_from(home.guess("alice", PASSWORD))
    for _ in range(2):
        again = Guesser(provider, OFFICE, rp=home.rp)
        for _ in range(3):
            assert again.guess("alice", "wrong guess").status_code == 401
        assert again.rp.code_from(again.guess("alice", PASSWORD))
    # Six wrong at home, never four in a row: the right one cleared the familiar count.
    assert _rows_of(provider, 50053) == []


def _rows_of(provider: Provider, error_code: int) -> list:
    from idp.extensions import db
    from idp.models import SignIn

    with provider.app.app_context():
        query = sa.select(SignIn).where(SignIn.error_code == error_code)
        return list(db.session.scalars(query))


def test_without_familiar_separate_every_place_shares_the_count(protected):
    provider = protected(lockout=LockoutSettings(familiar_separate=False))
    provider.user("alice")
    home = Guesser(provider, OFFICE)
    assert home.rp.code_from(home.guess("alice", PASSWORD))
    attacker = Guesser(provider, ELSEWHERE)
    for _ in range(10):
        attacker.guess("alice", "wrong guess")
    assert Guesser(provider, OFFICE, rp=home.rp).guess("alice", PASSWORD).status_code == 403


def test_ip_throttle_is_429_for_right_and_wrong(protected):
    provider = protected(throttle=ThrottleSettings(failed_per_ip_per_hour=5))
    provider.user("alice")
    attacker = Guesser(provider, ELSEWHERE)
    for n in range(5):
        assert attacker.guess(f"user{n}", "wrong guess").status_code == 401
    right, wrong = attacker.guess("alice", PASSWORD), attacker.guess("alice", "nope")
    assert right.status_code == wrong.status_code == 429
    assert 0 < int(right.headers["Retry-After"]) <= 3600
    assert _body(right) == _body(wrong)
    # Another address is not throttled.
    other = Guesser(provider, OFFICE)
    assert other.rp.code_from(other.guess("alice", PASSWORD))


def redis_or_skip() -> str:
    """The test Redis, emptied; a skip without one (a failure in CI, which starts one)."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    except redis.ConnectionError:
        if os.environ.get("IDP_REQUIRE_REDIS"):  # CI: every service must be there
            pytest.fail(f"Redis at {REDIS_URL} is not answering")
        pytest.skip(f"no Redis at {REDIS_URL}")
    return REDIS_URL


@pytest.mark.parametrize("store", ["database", "redis"])
def test_counts_are_shared_by_two_workers(make_app, settings, clock, store):
    from idp.extensions import db
    from idp.models import AttackCounter

    if store == "redis":
        settings = replace(settings, redis_url=redis_or_skip())
    worker1 = Provider(make_app(settings, clock=clock))
    worker2 = make_app(settings, clock=clock)
    name = f"alice-{uuid.uuid4().hex[:6]}"
    worker1.user(name)
    attacker = Guesser(worker1, ELSEWHERE)
    for n in range(10):
        attacker.rp.browser.application = (worker1.app, worker2)[n % 2]
        assert attacker.guess(name, "wrong guess").status_code == 401
    for app in (worker1.app, worker2):
        attacker.rp.browser.application = app
        locked = attacker.guess(name, PASSWORD)
        assert locked.status_code == 403 and locked.headers["Retry-After"] == "60"
    with worker1.app.app_context():
        in_database = db.session.query(AttackCounter).count()
    assert (in_database > 0) == (store == "database")
    clock.advance(seconds=61)
    # Unlocked; the right password after ten wrong ones from here is a guessed one: 53004.
    guessed = attacker.guess(name, PASSWORD)
    assert guessed.status_code == 403 and "53004" in guessed.get_data(as_text=True)


@pytest.mark.parametrize("store", ["database", "redis"])
def test_get_many_reads_any_number_of_keys(make_app, settings, store):
    """One read of several counters (the lockout check's) finds exactly the live ones,
    whatever their number, with repeated and over-long keys."""
    from idp.counters import KEY_LIMIT

    if store == "redis":
        settings = replace(settings, redis_url=redis_or_skip())
    app = make_app(settings)
    tag = uuid.uuid4().hex[:6]
    live = [f"live{n}:{tag}" for n in range(5)] + [f"long:{tag}:" + "x" * KEY_LIMIT]
    with app.test_request_context("/"):
        counters = services(app).counters
        for n, key in enumerate(live):
            counters.put(key, n + 1, 2000, 1000)
        counters.put(f"expired:{tag}", 7, 1500, 1000)
        expected = {key: (n + 1, 2000) for n, key in enumerate(live)}
        for size in range(1, len(live) + 1):
            keys = [*live[:size], f"expired:{tag}", f"absent:{tag}"]
            assert counters.get_many(keys, 1600) == {k: expected[k] for k in live[:size]}
        assert counters.get_many([live[0], live[0]], 1600) == {live[0]: (1, 2000)}
        assert counters.get_many([], 1600) == {}
        assert counters.get(live[-1], 1600) == expected[live[-1]]


@pytest.mark.parametrize("store", ["database", "redis"])
def test_a_right_password_starts_the_count_afresh(make_app, settings, clock, store):
    """Nine wrong passwords, the right one, nine wrong again: never ten in a row, never
    locked. And `delete` forgets every key it is given, over-long ones too."""
    from idp.counters import KEY_LIMIT

    if store == "redis":
        settings = replace(settings, redis_url=redis_or_skip())
    provider = Provider(make_app(settings, clock=clock))
    name = f"alice-{uuid.uuid4().hex[:6]}"
    provider.user(name)
    user = Guesser(provider, OFFICE)
    for _ in range(9):
        assert user.guess(name, "wrong guess").status_code == 401
    assert user.rp.code_from(user.guess(name, PASSWORD))
    user = Guesser(provider, OFFICE)
    for _ in range(9):
        assert user.guess(name, "wrong guess").status_code == 401
    assert user.guess(name, "wrong guess").status_code == 401  # the tenth locks, next time
    assert user.guess(name, PASSWORD).status_code == 403

    tag = uuid.uuid4().hex[:6]
    keys = [f"a:{tag}", f"b:{tag}", f"long:{tag}:" + "x" * KEY_LIMIT]
    with provider.app.test_request_context("/"):
        counters = services(provider.app).counters
        for key in [*keys, f"kept:{tag}"]:
            counters.put(key, 3, 2000, 1000)
        counters.delete(*keys)
        assert counters.get_many([*keys, f"kept:{tag}"], 1600) == {f"kept:{tag}": (3, 2000)}
