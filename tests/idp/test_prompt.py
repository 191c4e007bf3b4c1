"""prompt=none, prompt=login, max_age and login_hint."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

from idp.clock import FrozenClock


def _params(response):
    assert response.status_code == 302, response.get_data(as_text=True)
    return parse_qs(urlparse(response.location).query)


def test_oidcc_prompt_none_not_logged_in(provider):
    rp = provider.rp()
    params = _params(rp.browser.get(rp.authorize_url(prompt="none")))
    assert params["error"] == ["login_required"]
    assert params["state"] == ["st-123"]


def test_oidcc_prompt_none_logged_in(provider):
    provider.user()
    rp = provider.rp()
    rp.tokens()
    assert rp.code_from(rp.browser.get(rp.authorize_url(prompt="none")))


def test_oidcc_prompt_login(provider):
    provider.user()
    rp = provider.rp()
    rp.tokens()
    response = rp.browser.get(rp.authorize_url(prompt="login"))
    assert response.status_code == 302 and "/login" in response.location
    final = rp.submit_login(response.location, "alice", "correct horse battery")
    assert rp.code_from(final)


def test_prompt_none_combined_with_login_is_invalid(provider):
    rp = provider.rp()
    params = _params(rp.browser.get(rp.authorize_url(prompt="none login")))
    assert params["error"] == ["invalid_request"]


def test_oidcc_max_age_1(provider, make_app, settings):
    clock = FrozenClock(datetime(2026, 1, 1, 12, 0, tzinfo=UTC))
    app = make_app(clock=clock)
    from tests.conftest import Provider

    p = Provider(app)
    p.user()
    rp = p.rp()
    rp.tokens()
    clock.advance(seconds=120)
    within = rp.browser.get(rp.authorize_url(max_age="300"))
    assert rp.code_from(within)
    beyond = rp.browser.get(rp.authorize_url(max_age="60"))
    assert beyond.status_code == 302 and "/login" in beyond.location
    none_beyond = rp.browser.get(rp.authorize_url(max_age="60", prompt="none"))
    assert _params(none_beyond)["error"] == ["login_required"]


def test_bad_max_age_is_invalid_request(provider):
    rp = provider.rp()
    params = _params(rp.browser.get(rp.authorize_url(max_age="soon")))
    assert params["error"] == ["invalid_request"]


def test_oidcc_login_hint(provider):
    rp = provider.rp()
    response = rp.browser.get(rp.authorize_url(login_hint="bob@example.org"))
    page = rp.browser.get(response.location).get_data(as_text=True)
    assert 'value="bob@example.org"' in page
