"""Fixtures for step-up tests: real feed files, a frozen clock, users with TOTP."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pyotp
import pytest

from idp.clock import FrozenClock
from tests.conftest import Provider, RelyingParty
from tests.risk.conftest import build_anonymous_db, build_asn_db, build_city_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LONDON = "81.2.69.142"
CHANGCHUN = "175.16.199.10"
TOR = "185.220.101.1"
LISTED_ANON = "203.0.113.9"
MALICIOUS = "198.51.100.7"
LEAKED_PASSWORD = "Summer2024!"
OTHER_LEAKED = "Password1234"


@pytest.fixture(scope="session")
def feed_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every feed the engine reads, built by the tests (no outside data)."""
    folder = tmp_path_factory.mktemp("feeds")
    (folder / "anonymous.txt").write_text("# anonymizers\n203.0.113.0/24\n")
    (folder / "malicious.txt").write_text("# botnet\n198.51.100.7\n")
    hashes = sorted(
        hashlib.sha1(p.encode()).hexdigest().upper()
        for p in (LEAKED_PASSWORD, OTHER_LEAKED, "123456")
    )
    (folder / "pwned.txt").write_text("".join(f"{h}:{i + 3}\n" for i, h in enumerate(hashes)))
    return {
        "geoip_city_db": str(build_city_db(folder / "city.mmdb")),
        "geoip_asn_db": str(build_asn_db(folder / "asn.mmdb")),
        "anonymous_ip_db": str(build_anonymous_db(folder / "anonymous.mmdb")),
        "anonymous_ip_list": str(folder / "anonymous.txt"),
        "malicious_ip_list": str(folder / "malicious.txt"),
        "leaked_passwords": str(folder / "pwned.txt"),
    }


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def risky_settings(settings: Any, feed_files: dict[str, str]) -> Any:
    """Product defaults (registration on, 14 days of grace) with every feed configured."""
    policies = replace(
        settings.policies, mfa_registration=replace(settings.policies.mfa_registration, state="on")
    )
    return replace(settings, policies=policies, risk=dict(feed_files))


def with_policy(settings: Any, name: str, **changes: Any) -> Any:
    """Settings with one policy changed."""
    policy = replace(getattr(settings.policies, name), **changes)
    return replace(settings, policies=replace(settings.policies, **{name: policy}))


class StepUp(Provider):
    """A Provider whose browsers come from chosen IPs and can answer TOTP challenges."""

    def __init__(self, app: Any, clock: FrozenClock) -> None:
        super().__init__(app)
        self.clock = clock

    def browser_rp(self, ip: str = LONDON, **kwargs: Any) -> RelyingParty:
        rp = self.rp(**kwargs)
        rp.browser.environ_base["HTTP_X_FORWARDED_FOR"] = ip
        return rp

    def register_totp(self, username: str = "alice") -> str:
        from idp.extensions import db
        from idp.secretbox import seal
        from idp.users import find_user

        with self.app.app_context():
            user = find_user(username)
            secret = pyotp.random_base32(32)
            user.totp_secret = seal(secret)
            user.totp_registered_at = self.clock.now()
            db.session.commit()
            return secret

    def code(self, secret: str) -> str:
        return pyotp.TOTP(secret).at(self.clock.now())

    def with_app(self, fn: Any) -> Any:
        with self.app.app_context():
            return fn()


@pytest.fixture
def stepup(make_app: Any, risky_settings: Any, clock: FrozenClock) -> StepUp:
    return StepUp(make_app(risky_settings, clock=clock), clock)


@pytest.fixture
def stepup_with(make_app: Any, risky_settings: Any, clock: FrozenClock) -> Any:
    """Build a StepUp app with changed settings: stepup_with(lambda s: with_policy(...))."""

    def build(change: Any) -> StepUp:
        return StepUp(make_app(change(risky_settings), clock=clock), clock)

    return build


def form_page(browser: Any, url: str) -> tuple[Any, str]:
    from tests.conftest import csrf_from

    page = browser.get(url)
    return page, csrf_from(page)


def submit_code(rp: RelyingParty, url: str, code: str) -> Any:
    _, csrf = form_page(rp.browser, url)
    return rp.browser.post(url, data={"csrf_token": csrf, "code": code})


def path_of(response: Any) -> str:
    return str(response.location or "")
