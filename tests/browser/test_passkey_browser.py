"""Passkeys in Chromium with the DevTools protocol's virtual authenticator (WebAuthn domain).

The issuer is http://localhost:PORT: a browser refuses an IP address as the RP ID. In each
shipped language.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from tests.browser.conftest import add_totp, start_sign_in, words
from tests.conftest import Provider
from tests.idp.conftest import LONDON, TOR
from tests.locales import LOCALES

PASSWORD = "correct horse battery"

pytestmark = pytest.mark.parametrize("ui_locale", LOCALES)


def _authenticator(page: Any) -> tuple[Any, str]:
    """A CTAP2 platform authenticator with resident keys and user verification."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    found = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, found["authenticatorId"]


def _credentials(cdp: Any, authenticator: str) -> list[dict[str, Any]]:
    return list(
        cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    )


def _signed_in_with_passkey(server: Any, page: Any, username: str = "alice") -> str:
    page.wait_for_url(f"{server.url}/demo/callback*")
    text = page.locator("main").inner_text()
    assert words(page)("Signed in as %(name)s", name=username) in text
    assert re.search(r'"amr": \[[^\]]*"hwk"', text) and re.search(r'"amr": \[[^\]]*"mfa"', text)
    return text


def _register_on_first_sign_in(
    server: Any, page: Any, username: str = "alice", name: str = "This laptop"
) -> None:
    t = words(page)
    start_sign_in(server, page, username)
    page.wait_for_url("**/mfa/register*")
    page.get_by_label(t("Passkey name")).fill(name)
    page.get_by_role("button", name=t("Add a passkey")).click()
    _signed_in_with_passkey(server, page, username)


def _from(page: Any, ip: str) -> None:
    """The same browser (and authenticator), signed out, now coming from `ip`."""
    page.context.clear_cookies()
    page.context.set_extra_http_headers({"X-Forwarded-For": ip})


def _passkey_count(server: Any) -> int:
    import sqlalchemy as sa

    from idp.extensions import db
    from idp.models import WebAuthnCredential

    with server.app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(WebAuthnCredential))
        db.session.remove()
        return int(count or 0)


def test_register_a_passkey_then_step_up_with_it(serve, risky_settings, page_from):
    server = serve(risky_settings, host_name="localhost")
    Provider(server.app).user("alice")
    page = page_from(LONDON)
    cdp, authenticator = _authenticator(page)
    _register_on_first_sign_in(server, page)
    [credential] = _credentials(cdp, authenticator)
    assert credential["rpId"] == "localhost" and credential["isResidentCredential"]
    assert _passkey_count(server) == 1
    # A risky sign-in (Tor exit) in the same browser: the passkey answers the challenge.
    _from(page, TOR)
    start_sign_in(server, page)
    page.wait_for_url("**/mfa/verify*")
    t = words(page)
    assert page.get_by_role("button", name=t("Use a passkey")).is_visible()
    page.get_by_role("button", name=t("Use a passkey")).click()
    text = _signed_in_with_passkey(server, page)
    assert "urn:idp:acr:phishing-resistant" in text
    assert _credentials(cdp, authenticator)[0]["signCount"] >= 2


def test_phishing_resistant_strength_refuses_totp_only(serve, risky_settings, page_from):
    policies = replace(
        risky_settings.policies,
        sign_in_risk=replace(
            risky_settings.policies.sign_in_risk, mfa_strength="phishing-resistant"
        ),
    )
    server = serve(replace(risky_settings, policies=policies), host_name="localhost")
    Provider(server.app).user("alice")
    Provider(server.app).user("bob")
    add_totp(server, "alice")
    add_totp(server, "bob")
    page = page_from(TOR)
    t = words(page)
    start_sign_in(server, page, blocked=True)
    text = page.locator("main").inner_text()
    needs_a_passkey = t(
        "This sign-in needs a passkey, and your account has none. An authenticator app code "
        "is not enough here, and for your protection this sign-in cannot be used to add a "
        "passkey."
    )
    assert "53004" in text and needs_a_passkey in text
    assert page.get_by_label(t("Verification code")).count() == 0


def test_passkey_of_one_user_refused_for_another(serve, risky_settings, page_from):
    server = serve(risky_settings, host_name="localhost")
    Provider(server.app).user("alice")
    Provider(server.app).user("bob")
    alice_page = page_from(LONDON)
    alice_cdp, alice_auth = _authenticator(alice_page)
    _register_on_first_sign_in(server, alice_page, "alice")
    bob_page = page_from(LONDON)
    bob_cdp, bob_auth = _authenticator(bob_page)
    _register_on_first_sign_in(server, bob_page, "bob", name="Bob's laptop")
    # Bob's authenticator now holds Alice's passkey instead of his own.
    [bobs] = _credentials(bob_cdp, bob_auth)
    bob_cdp.send(
        "WebAuthn.removeCredential",
        {"authenticatorId": bob_auth, "credentialId": bobs["credentialId"]},
    )
    [alices] = _credentials(alice_cdp, alice_auth)
    bob_cdp.send("WebAuthn.addCredential", {"authenticatorId": bob_auth, "credential": alices})
    _from(bob_page, TOR)
    start_sign_in(server, bob_page, "bob")
    bob_page.wait_for_url("**/mfa/verify*")
    t = words(bob_page)
    bob_page.get_by_role("button", name=t("Use a passkey")).click()
    bob_page.wait_for_url("**/mfa/verify*")
    assert (
        t("That passkey was not accepted. Use a passkey registered to your account.")
        in bob_page.get_by_role("alert").first.inner_text()
    )
    assert "/demo/callback" not in bob_page.url
    assert _last_mfa_failure(server) == "passkey refused (credential of another user)"


def _last_mfa_failure(server: Any) -> str | None:
    import sqlalchemy as sa

    from idp.extensions import db
    from idp.models import SignIn

    with server.app.app_context():
        reason = db.session.scalar(
            sa.select(SignIn.reason)
            .filter_by(kind="mfa", outcome="failure")
            .order_by(SignIn.created_at.desc())
            .limit(1)
        )
        db.session.remove()
        return reason


def test_risky_session_cannot_register_a_passkey(serve, risky_settings, page_from):
    server = serve(risky_settings, host_name="localhost")
    Provider(server.app).user("alice")
    page = page_from(TOR)
    cdp, authenticator = _authenticator(page)
    start_sign_in(server, page, blocked=True)
    assert "53004" in page.locator("main").inner_text()
    assert page.get_by_role("button", name=words(page)("Add a passkey")).count() == 0
    assert _credentials(cdp, authenticator) == []
    assert _passkey_count(server) == 0


def test_account_page_adds_and_lists_a_passkey(serve, settings, page_from):
    """A user with no second factor adds the first passkey on /account (no risky session:
    a clean sign-in from a usual place, registration policy off)."""
    server = serve(settings, host_name="localhost")
    Provider(server.app).user("alice")
    page = page_from(LONDON)
    cdp, authenticator = _authenticator(page)
    t = words(page)
    page.goto(f"{server.url}/account/login")
    page.get_by_label(t("Username")).fill("alice")
    page.get_by_label(t("Password")).fill(PASSWORD)
    page.get_by_role("button", name=t("Sign in")).click()
    page.wait_for_url(f"{server.url}/account")
    no_passkeys = t(
        "You have no passkeys. A passkey signs you in with this device's screen lock or a "
        "security key, and cannot be phished."
    )
    assert no_passkeys in page.locator("main").inner_text()
    page.get_by_label(t("Passkey name")).fill("Desk key")
    page.get_by_role("button", name=t("Add a passkey")).click()
    page.locator("#passkeys").get_by_text("Desk key").wait_for()
    added = t("Passkey \u201c%(name)s\u201d added.", name="Desk key")
    assert added in page.get_by_role("status").inner_text()
    assert len(_credentials(cdp, authenticator)) == 1 and _passkey_count(server) == 1
