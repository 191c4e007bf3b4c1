"""The Profile form on the admin dashboard's user page: CSRF protected, values checked and
escaped on output."""

from __future__ import annotations

import pytest

from idp.models import User
from tests.conftest import csrf_from
from tests.idp.test_admin_dashboard import _admin, _admin_sign_in
from tests.idp.test_api_support import rows


@pytest.fixture
def console(stepup):
    """An admin signed in to the dashboard, and bob's id."""
    browser, secret = _admin(stepup)
    _admin_sign_in(stepup, browser, secret=secret)
    return browser, stepup.user("bob")


def _form(browser, user_id):
    page = browser.get(f"/admin/users/{user_id}")
    assert page.status_code == 200
    return page, {"csrf_token": csrf_from(page)}


def test_profile_form_saves_claims(stepup, console):
    browser, bob = console
    _, data = _form(browser, bob)
    data.update(
        {
            "given_name": "Bob",
            "family_name": "Builder",
            "name": "Bob the Builder",
            "email": "bob@example.org",
            "email_verified": "yes",
            "address.locality": "Bristol",
            "address.street_address": "1 Yard\r\nLane",
            "zoneinfo": "Europe/London",
            "phone_number": "",
        }
    )
    response = browser.post(f"/admin/users/{bob}/profile", data=data)
    assert response.status_code == 302
    user = rows(stepup, User, id=bob)[0]
    assert user.display_name == "Bob the Builder" and user.email_verified is True
    assert user.claims == {
        "given_name": "Bob",
        "family_name": "Builder",
        "zoneinfo": "Europe/London",
        "address": {"locality": "Bristol", "street_address": "1 Yard\nLane"},
    }
    assert user.profile_updated_at == stepup.clock.now()
    html = browser.get(response.location).get_data(as_text=True)
    assert "Profile saved" in html and 'value="Bristol"' in html


def test_profile_form_empty_fields_remove_claims(stepup, console):
    browser, bob = console
    _, data = _form(browser, bob)
    browser.post(f"/admin/users/{bob}/profile", data={**data, "nickname": "Bobby"})
    _, data = _form(browser, bob)
    browser.post(f"/admin/users/{bob}/profile", data={**data, "nickname": ""})
    assert "nickname" not in rows(stepup, User, id=bob)[0].claims


def test_script_in_a_claim_is_shown_escaped(stepup, console):
    browser, bob = console
    _, data = _form(browser, bob)
    browser.post(
        f"/admin/users/{bob}/profile", data={**data, "given_name": '<script>alert("x")</script>'}
    )
    assert rows(stepup, User, id=bob)[0].claims["given_name"] == '<script>alert("x")</script>'
    html = browser.get(f"/admin/users/{bob}").get_data(as_text=True)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_invalid_value_is_refused_with_a_message_and_nothing_saved(stepup, console):
    browser, bob = console
    _, data = _form(browser, bob)
    response = browser.post(
        f"/admin/users/{bob}/profile",
        data={**data, "given_name": "Bob", "website": "javascript:alert(1)"},
    )
    html = browser.get(response.location).get_data(as_text=True)
    assert "Profile not saved" in html and "website must be an absolute http" in html
    assert not rows(stepup, User, id=bob)[0].claims


def test_profile_form_needs_csrf(stepup, console):
    browser, bob = console
    _, data = _form(browser, bob)
    for token in ("", "forged"):
        response = browser.post(
            f"/admin/users/{bob}/profile",
            data={**data, "csrf_token": token, "given_name": "Mallory"},
        )
        assert response.status_code == 400
    assert not rows(stepup, User, id=bob)[0].claims


def test_profile_form_needs_an_admin(stepup):
    bob = stepup.user("bob")
    browser = stepup.app.test_client()
    response = browser.post(f"/admin/users/{bob}/profile", data={"given_name": "Mallory"})
    assert response.status_code == 302 and "/admin/login" in response.location
    assert not rows(stepup, User, id=bob)[0].claims


def test_profile_of_unknown_user_is_404(console):
    browser, bob = console
    _, data = _form(browser, bob)
    assert browser.post("/admin/users/nobody/profile", data=data).status_code == 404


def test_saving_the_form_unchanged_keeps_updated_at(stepup, console):
    browser, bob = console
    _, data = _form(browser, bob)
    browser.post(
        f"/admin/users/{bob}/profile",
        data={
            **data,
            "given_name": "Bob",
            "email": "bob@example.org",
            "phone_number": "+1 415 555 0100",
            "address.formatted": "1 Yard Lane\nBristol",
        },
    )
    saved = rows(stepup, User, id=bob)[0].profile_updated_at
    stepup.clock.advance(minutes=10)
    page, data = _form(browser, bob)
    html = page.get_data(as_text=True)
    # Post back exactly what the page shows.
    data.update(
        {
            "given_name": "Bob",
            "email": "bob@example.org",
            "phone_number": "+14155550100",
            "address.formatted": "1 Yard Lane\nBristol",
        }
    )
    assert 'value="+14155550100"' in html and ">1 Yard Lane\nBristol</textarea>" in html
    response = browser.post(f"/admin/users/{bob}/profile", data=data)
    assert "Profile unchanged" in browser.get(response.location).get_data(as_text=True)
    assert rows(stepup, User, id=bob)[0].profile_updated_at == saved
