"""A temporary password set by an admin must be changed at the next sign-in."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from idp.users import find_user, set_password
from tests.conftest import csrf_from


def _make_temporary(app, password="temp-pass-123"):
    with app.app_context():
        set_password(app, find_user("alice"), password, temporary=True)


def test_temporary_password_forces_change(provider):
    provider.user()
    _make_temporary(provider.app)
    rp = provider.rp()
    response = rp.sign_in("alice", "temp-pass-123")
    assert response.status_code == 302 and "/password/change" in response.location
    page = rp.browser.get(response.location)
    text = page.get_data(as_text=True)
    assert "New password" in text and "Confirm new password" in text
    mismatch = rp.browser.post(
        response.location,
        data={
            "csrf_token": csrf_from(page),
            "new_password": "brand-new-pass-1",
            "confirm_password": "brand-new-pass-2",
        },
    )
    assert mismatch.status_code == 400 and "do not match" in mismatch.get_data(as_text=True)
    same = rp.browser.post(
        response.location,
        data={
            "csrf_token": csrf_from(page),
            "new_password": "temp-pass-123",
            "confirm_password": "temp-pass-123",
        },
    )
    assert same.status_code == 400 and "different" in same.get_data(as_text=True)
    done = rp.browser.post(
        response.location,
        data={
            "csrf_token": csrf_from(page),
            "new_password": "brand-new-pass-1",
            "confirm_password": "brand-new-pass-1",
        },
    )
    assert done.status_code == 302
    code = rp.code_from(rp.browser.get(done.location))
    assert rp.redeem(code).status_code == 200
    # The new password works in a fresh browser; the temporary one does not.
    fresh = provider.rp()
    assert fresh.code_from(fresh.sign_in("alice", "brand-new-pass-1"))
    assert provider.rp().sign_in("alice", "temp-pass-123").status_code == 401


def test_prompt_none_with_pending_change_is_interaction_required(provider):
    provider.user()
    rp = provider.rp()
    rp.tokens()
    _make_temporary(provider.app)
    response = rp.browser.get(rp.authorize_url(prompt="none"))
    params = parse_qs(urlparse(response.location).query)
    assert params["error"] == ["interaction_required"]
    assert params["error_description"][0].startswith("50055")
