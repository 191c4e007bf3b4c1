"""Refused guesses answered in front of Flask (idp.refusals): the sign-in view's answer,
row and headers, for a fraction of the work; and Flask's own answer for any post that is
not exactly a refused guess of this browser's flow with its CSRF token."""

from __future__ import annotations

from dataclasses import replace

import pytest

from idp.config import ThrottleSettings
from idp.extensions import db
from idp.models import SignIn
from tests.conftest import PASSWORD, Provider
from tests.idp.test_attack_protection import ELSEWHERE, Guesser, _body
from tests.locales import speak, texts

HEADERS = ("Content-Type", "Content-Security-Policy", "X-Frame-Options", "Cache-Control")


@pytest.fixture
def provider(make_app, settings, clock):
    return Provider(make_app(settings, clock=clock))


@pytest.fixture
def throttling(make_app, settings, clock):
    return Provider(make_app(replace(settings, throttle=ThrottleSettings(5)), clock=clock))


class ViewCalls:
    """Counts the requests the sign-in view (Flask) answers."""

    def __init__(self, app) -> None:
        self.count = 0
        view = app.view_functions["signin.login"]

        def counted(*args, **kwargs):
            self.count += 1
            return view(*args, **kwargs)

        app.view_functions["signin.login"] = counted


def _rows(provider):
    with provider.app.app_context():
        return db.session.query(SignIn).order_by(SignIn.created_at).all()


def _locked(provider) -> Guesser:
    provider.user("alice")
    attacker = Guesser(provider, ELSEWHERE)
    for _ in range(10):
        attacker.guess("alice", "wrong guess")
    return attacker


def test_a_refused_guess_is_answered_before_flask_as_the_view_answers(provider):
    attacker = _locked(provider)
    calls = ViewCalls(provider.app)
    first = attacker.guess("alice", PASSWORD)  # renders the page: the view answers
    assert calls.count == 1
    second = attacker.guess("alice", "wrong guess")
    assert calls.count == 1  # answered in front of Flask
    assert first.status_code == second.status_code == 403
    assert first.headers["Retry-After"] == second.headers["Retry-After"] == "60"
    assert _body(first) == _body(second)
    assert "Error 50053" in _body(second) and "09:01:00 UTC" in _body(second)
    for name in HEADERS:
        assert first.headers[name] == second.headers[name], name
    assert "form-action 'self' https://rp.example" in second.headers["Content-Security-Policy"]
    # Ids differ per request; the correlation id is the flow's.
    rows = _rows(provider)[-2:]
    assert [r.error_code for r in rows] == [50053, 50053]
    assert {r.reason for r in rows} == {"account locked"}
    assert rows[0].correlation_id == rows[1].correlation_id in second.get_data(as_text=True)
    device = attacker.rp.browser.get_cookie("idp_device").value
    for row in rows:
        assert (row.ip, row.device_id, row.username) == (ELSEWHERE, device, "alice")
        assert row.user_id is not None and row.user_agent.startswith("Werkzeug")


def test_throttled_page_in_german_escapes_the_typed_name_and_its_form_still_posts(throttling):
    provider = throttling
    provider.user("alice")
    attacker = Guesser(provider, ELSEWHERE)
    speak(attacker.rp.browser, "de")
    for n in range(5):
        attacker.guess(f"user{n}", "wrong guess")
    calls = ViewCalls(provider.app)
    attacker.guess("<b>x</b>", "guess")
    page = attacker.guess("<b>x</b>", "guess")
    assert calls.count == 1 and page.status_code == 429
    html = page.get_data(as_text=True)
    t = texts("de")
    assert t("Sign in") in html and "There were too many" not in html
    assert 'value="&lt;b&gt;x&lt;/b&gt;"' in html and "<b>x</b>" not in html
    # The page's form carries a token of this session (a forged one gets 400).
    attacker.csrf = html.split('name="csrf_token" value="')[1].split('"')[0]
    assert attacker.guess("alice", PASSWORD).status_code == 429


def test_anything_but_a_refused_guess_of_this_flow_is_left_to_flask(provider):
    attacker = _locked(provider)
    attacker.guess("alice", "wrong guess")  # the page is rendered
    before = len(_rows(provider))
    post = attacker.rp.browser.post
    form = {"csrf_token": attacker.csrf, "username": "alice", "password": "x"}
    assert post(attacker.url, data={**form, "csrf_token": "forged"}).status_code == 400
    assert post(attacker.url, data={**form, "password": "x\x00"}).status_code == 400
    assert post(attacker.url + "%00", data=form).status_code == 400
    # The flow's URL and token copied into another browser: not this browser's flow.
    other = provider.app.test_client()
    other.environ_base["HTTP_X_FORWARDED_FOR"] = ELSEWHERE
    assert other.post(attacker.url, data=form).status_code == 400
    # A JSON body is no sign-in form.
    assert post(attacker.url, json=form).status_code == 400
    assert len(_rows(provider)) == before  # none of these was a sign-in attempt


def test_a_browser_without_a_device_cookie_gets_one(provider):
    attacker = _locked(provider)
    attacker.guess("alice", "wrong guess")
    attacker.rp.browser.delete_cookie("idp_device")
    calls = ViewCalls(provider.app)
    refused = attacker.guess("alice", "wrong guess")
    assert calls.count == 0 and refused.status_code == 403
    cookie = refused.headers["Set-Cookie"]
    assert cookie.startswith("idp_device=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert _rows(provider)[-1].device_id is None


def test_when_the_answer_fails_flask_answers_and_one_row_is_written(provider, monkeypatch):
    import idp.refusals

    attacker = _locked(provider)
    attacker.guess("alice", "wrong guess")
    before = len(_rows(provider))
    calls = ViewCalls(provider.app)
    real = idp.refusals.clean_username
    monkeypatch.setattr(idp.refusals, "clean_username", lambda value: 1 / 0)
    assert attacker.guess("alice", "wrong guess").status_code == 403
    monkeypatch.setattr(idp.refusals, "clean_username", real)
    assert calls.count == 1
    assert len(_rows(provider)) == before + 1


class _Later:
    """idp.refusals' view of time, `seconds` on."""

    def __init__(self, seconds: int) -> None:
        import time

        self.seconds = seconds
        self.perf_counter = time.perf_counter
        self._time = time.time

    def time(self) -> float:
        return self._time() + self.seconds


def test_a_remembered_signature_is_held_to_its_age_and_never_stands_for_another(monkeypatch):
    import idp.refusals
    from idp.refusals import URLSafeTimedSerializer, Verified

    signer = URLSafeTimedSerializer("one-secret-key-of-this-worker", salt="s")
    verified = Verified(signer)
    text = signer.dumps({"csrf_token": "abc"})
    assert verified.loads(text, max_age=60) == {"csrf_token": "abc"}
    assert verified.loads(text, max_age=60) == {"csrf_token": "abc"}  # remembered
    # Another key's text of the same value, and the remembered text altered, are refused.
    forged = URLSafeTimedSerializer("an attacker's key", salt="s").dumps({"csrf_token": "abc"})
    assert verified.loads(forged, max_age=60) is None
    # The signature's first character carries six whole bits (its last may carry padding).
    head, _, signature = text.rpartition(".")
    altered = head + "." + ("B" if signature[0] != "B" else "C") + signature[1:]
    assert verified.loads(altered, max_age=60) is None
    assert verified.loads("", max_age=60) is None
    # Past its age the remembered text is refused as itsdangerous refuses it, and so is one
    # signed "in the future".
    monkeypatch.setattr(idp.refusals, "time", _Later(61))
    assert verified.loads(text, max_age=60) is None
    assert verified.loads(text) == {"csrf_token": "abc"}  # no age asked: still ours
    monkeypatch.setattr(idp.refusals, "time", _Later(-5))
    assert verified.loads(text, max_age=60) is None


def test_a_copied_session_cookie_past_its_lifetime_is_left_to_flask(provider, monkeypatch):
    import idp.refusals

    attacker = _locked(provider)
    attacker.guess("alice", "wrong guess")
    calls = ViewCalls(provider.app)
    assert attacker.guess("alice", "wrong guess").status_code == 403
    assert calls.count == 0  # answered in front of Flask: cookie and token remembered
    lifetime = int(provider.app.permanent_session_lifetime.total_seconds())
    monkeypatch.setattr(idp.refusals, "time", _Later(lifetime + 1))
    attacker.guess("alice", "wrong guess")
    assert calls.count == 1  # Flask answered (and judged the session itself)


def test_a_refused_guess_at_a_known_place_is_answered_before_flask_with_the_users_risk(
    provider, clock
):
    """The one read of the user carries its risk and whether the place is known: a user at
    risk locked at home gets the same row from the view and in front of Flask, and the
    home bucket's lock is found without asking the view."""
    from idp.models import User, UserRisk
    from tests.idp.test_attack_protection import OFFICE

    provider.user("alice")
    home = Guesser(provider, OFFICE)
    assert home.rp.code_from(home.guess("alice", PASSWORD))
    with provider.app.app_context():
        user = db.session.query(User).filter_by(username="alice").one()
        db.session.add(
            UserRisk(
                user_id=user.id,
                risk_level="high",
                risk_state="atRisk",
                risk_detail="none",
                updated_at=clock.now(),
            )
        )
        db.session.commit()
    at_home = Guesser(provider, OFFICE, rp=home.rp)
    for _ in range(10):
        at_home.guess("alice", "wrong guess")
    calls = ViewCalls(provider.app)
    assert at_home.guess("alice", PASSWORD).status_code == 403  # the view renders the page
    assert at_home.guess("alice", "wrong guess").status_code == 403
    assert calls.count == 1
    # Elsewhere, the unfamiliar bucket is not locked: the view hashes and answers.
    elsewhere = Guesser(provider, ELSEWHERE)
    calls.count = 0
    assert elsewhere.guess("alice", "wrong guess").status_code == 401
    assert calls.count == 1
    rows = _rows(provider)[-3:-1]
    for row in rows:
        assert (row.risk_state, row.risk_level_aggregated, row.ip) == ("atRisk", "high", OFFICE)


def test_a_guess_left_to_flask_is_checked_by_the_view_itself(provider):
    """The view skips the counters only for the name the middleware checked: a form it
    leaves to Flask (multipart here) is refused by the view, before any password check."""
    attacker = _locked(provider)
    attacker.guess("alice", "wrong guess")  # the page is rendered
    calls = ViewCalls(provider.app)
    form = {"csrf_token": attacker.csrf, "username": "alice", "password": PASSWORD}
    answer = attacker.rp.browser.post(attacker.url, data=form, content_type="multipart/form-data")
    assert calls.count == 1
    assert answer.status_code == 403 and "50053" in answer.get_data(as_text=True)
