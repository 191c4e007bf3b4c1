"""Recommendations: each on both sides of its condition, and the admin API's shape."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from tests.idp.conftest import T0, StepUp, with_policy
from tests.idp.test_api_support import AdminApi

SPEC_IDS = {
    "usersWithoutSecondFactor",
    "adminsWithoutPhishingResistantFactor",
    "policyNotEnforced",
    "feedMissingOrStale",
    "compromisedNotRemediated",
}


def recommendation(stepup: StepUp, rid: str) -> Any:
    from idp.posture import recommendations

    return stepup.with_app(lambda: {r.id: r for r in recommendations()}[rid])


def add_passkey(stepup: StepUp, username: str) -> None:
    from idp.extensions import db
    from idp.models import WebAuthnCredential
    from idp.users import find_user

    def add() -> None:
        user = find_user(username)
        db.session.add(
            WebAuthnCredential(
                credential_id=f"cred-{username}",
                user_id=user.id,
                public_key=b"\x01",
                name="laptop",
                created_at=stepup.clock.now(),
            )
        )
        db.session.commit()

    stepup.with_app(add)


def set_user(stepup: StepUp, username: str, **values: Any) -> None:
    from idp.extensions import db
    from idp.users import find_user

    def change() -> None:
        user = find_user(username)
        for key, value in values.items():
            setattr(user, key, value)
        db.session.commit()

    stepup.with_app(change)


# --- users and admins without a second factor -------------------------------------------------


def _no_factor(stepup: StepUp) -> None:
    stepup.user("alice")


def _totp(stepup: StepUp) -> None:
    stepup.user("alice")
    stepup.register_totp("alice")


def _passkey_only(stepup: StepUp) -> None:
    stepup.user("alice")
    add_passkey(stepup, "alice")


def _disabled(stepup: StepUp) -> None:
    stepup.user("alice")
    set_user(stepup, "alice", disabled=True)


@pytest.mark.parametrize(
    ("arrange", "count"),
    [
        (_no_factor, 1),
        (_totp, 0),
        (_passkey_only, 0),
        (_disabled, 0),
    ],
    ids=["password-only", "totp", "passkey-only", "disabled-not-counted"],
)
def test_users_without_second_factor(stepup, arrange, count):
    arrange(stepup)
    found = recommendation(stepup, "usersWithoutSecondFactor")
    assert found.impacted_count == count
    assert found.status == ("active" if count else "completed")


def test_users_without_second_factor_counts_the_grace_period_from_both_sides(stepup):
    # Grace is 14 days; "near" its end means within 3 days.
    for name, started_days_ago in (
        ("past", 14),
        ("just-before-end", 13),
        ("near", 11),
        ("not-near", 10),
        ("never-signed-in", None),
    ):
        stepup.user(name)
        if started_days_ago is not None:
            set_user(stepup, name, mfa_grace_started_at=T0 - timedelta(days=started_days_ago))
    found = recommendation(stepup, "usersWithoutSecondFactor")
    assert found.impacted_count == 5
    assert (
        "1 of them are past the end of their registration grace period and 2 are "
        "within 3 days of it" in found.description
    )


def _admin(stepup: StepUp, *, totp: bool, passkey: bool, groups=("admins",)) -> None:
    stepup.user("root", groups=list(groups))
    if totp:
        stepup.register_totp("root")
    if passkey:
        add_passkey(stepup, "root")


@pytest.mark.parametrize(
    ("totp", "passkey", "groups", "phishing_resistant", "any_factor"),
    [
        (False, False, ("admins",), 1, 1),
        (True, False, ("admins",), 1, 0),
        (True, True, ("admins",), 0, 0),
        (False, True, ("admins",), 0, 0),
        (False, False, ("staff", "admins2"), 0, 0),
    ],
    ids=[
        "admin-password-only",
        "admin-totp",
        "admin-totp-and-passkey",
        "admin-passkey",
        "not-an-admin",
    ],
)
def test_admins_without_factors(stepup, totp, passkey, groups, phishing_resistant, any_factor):
    _admin(stepup, totp=totp, passkey=passkey, groups=groups)
    assert (
        recommendation(stepup, "adminsWithoutPhishingResistantFactor").impacted_count
        == phishing_resistant
    )
    assert recommendation(stepup, "adminsWithoutSecondFactor").impacted_count == any_factor


# --- policies, proxies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sign_in", "user", "count"),
    [
        ("on", "on", 0),
        ("report-only", "on", 1),
        ("on", "off", 1),
        ("off", "report-only", 2),
    ],
    ids=["both-on", "sign-in-report-only", "user-risk-off", "both-weak"],
)
def test_policy_not_enforced(stepup_with, sign_in, user, count):
    stepup = stepup_with(
        lambda s: with_policy(
            with_policy(s, "sign_in_risk", state=sign_in), "user_risk", state=user
        )
    )
    found = recommendation(stepup, "policyNotEnforced")
    assert found.impacted_count == count
    assert found.action_path.startswith("/admin/whatif")
    assert ("candidate=" in found.action_path) == bool(count)


@pytest.mark.parametrize(
    ("proxies", "count"),
    [
        (("127.0.0.1/32",), 0),
        (("10.0.0.0/8",), 0),
        (("0.0.0.0/7",), 1),
        (("0.0.0.0/0", "::/16", "10.0.0.0/8"), 2),
        (("2001:db8::/32",), 0),
    ],
    ids=["loopback", "slash-8-is-the-limit", "slash-7", "two-too-wide", "ipv6-slash-32"],
)
def test_trusted_proxies_too_wide(stepup_with, proxies, count):
    stepup = stepup_with(lambda s: replace(s, trusted_proxies=proxies))
    found = recommendation(stepup, "trustedProxiesTooWide")
    assert found.impacted_count == count
    assert set(found.impacted) == {p for p in proxies if p in ("0.0.0.0/7", "0.0.0.0/0", "::/16")}


# --- feeds --------------------------------------------------------------------------------------


@pytest.fixture
def own_feeds(feed_files, tmp_path):
    """Copies of the feed files whose modification times a test may change."""
    folder = tmp_path / "own-feeds"
    folder.mkdir()
    copies = {}
    for key, path in feed_files.items():
        copies[key] = str(shutil.copy(path, folder / os.path.basename(path)))
    return copies


def _aged(path: str, days: float) -> None:
    stamp = (T0 - timedelta(days=days)).timestamp()
    os.utime(path, (stamp, stamp))


@pytest.mark.parametrize(
    ("key", "days", "stale"),
    [
        ("geoip_city_db", 29, False),
        ("geoip_city_db", 31, True),
        ("geoip_asn_db", 31, True),
        ("anonymous_ip_db", 31, True),
        ("leaked_passwords", 182, False),
        ("leaked_passwords", 184, True),
        ("malicious_ip_list", 6, False),
        ("malicious_ip_list", 8, True),
    ],
    ids=[
        "city-29-days",
        "city-31-days",
        "asn-31-days",
        "anonymous-31-days",
        "leaked-182-days",
        "leaked-184-days",
        "malicious-6-days",
        "malicious-8-days",
    ],
)
def test_feed_age_from_both_sides(stepup_with, own_feeds, key, days, stale):
    stepup = stepup_with(lambda s: replace(s, risk=dict(own_feeds)))
    _aged(own_feeds[key], days)
    found = recommendation(stepup, "feedMissingOrStale")
    assert found.impacted_count == (1 if stale else 0)
    if stale:
        assert f"(risk.{key}): {days} days old" in found.impacted[0]


@pytest.mark.parametrize(
    ("dropped", "count"),
    [
        ((), 0),
        (("leaked_passwords",), 1),
        (("anonymous_ip_db",), 0),
        (("anonymous_ip_db", "anonymous_ip_list"), 1),
        (("geoip_city_db", "geoip_asn_db"), 2),
    ],
    ids=[
        "all-configured",
        "no-leaked-passwords",
        "one-anonymizer-source-is-enough",
        "no-anonymizer-source",
        "no-geoip",
    ],
)
def test_feed_not_configured(stepup_with, feed_files, dropped, count):
    risk = {k: v for k, v in feed_files.items() if k not in dropped}
    stepup = stepup_with(lambda s: replace(s, risk=risk))
    found = recommendation(stepup, "feedMissingOrStale")
    assert found.impacted_count == count
    assert all("not configured" in line for line in found.impacted)


# --- clients ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("public", "age_days", "count"),
    [
        (False, 179, 0),
        (False, 181, 1),
        (True, 400, 0),
    ],
    ids=["confidential-179-days", "confidential-181-days", "public-has-no-secret"],
)
def test_client_secrets_not_rotated(stepup, public, age_days, count):
    from idp.extensions import db
    from idp.models import Client

    rp = stepup.rp(public=public)

    def age() -> None:
        client = db.session.query(Client).filter_by(client_id=rp.client_id).one()
        client.client_id_issued_at = int((T0 - timedelta(days=age_days)).timestamp())
        db.session.commit()

    stepup.with_app(age)
    assert recommendation(stepup, "clientSecretsNotRotated").impacted_count == count


def test_rotating_the_secret_completes_it(stepup):
    from idp.clients import find_client, rotate_secret
    from idp.extensions import db

    rp = stepup.rp()

    def age() -> None:
        client = find_client(rp.client_id)
        client.client_id_issued_at = int((T0 - timedelta(days=400)).timestamp())
        db.session.commit()

    stepup.with_app(age)
    assert recommendation(stepup, "clientSecretsNotRotated").status == "active"
    stepup.with_app(lambda: rotate_secret(find_client(rp.client_id)))
    assert recommendation(stepup, "clientSecretsNotRotated").status == "completed"


# --- compromised users --------------------------------------------------------------------------


def test_compromised_not_remediated_from_both_sides(stepup):
    from idp import admin_actions

    bob = stepup.user("bob")
    assert recommendation(stepup, "compromisedNotRemediated").impacted_count == 0
    stepup.with_app(lambda: admin_actions.confirm_compromised(bob, "root"))
    found = recommendation(stepup, "compromisedNotRemediated")
    assert (found.impacted_count, found.impacted) == (1, ("bob",))
    assert found.action_path == "/admin/users?state=confirmedCompromised"
    # An administrator's temporary password remediates the user.
    stepup.with_app(lambda: admin_actions.temporary_password(bob, "root"))
    assert recommendation(stepup, "compromisedNotRemediated").impacted_count == 0


# --- the API ------------------------------------------------------------------------------------


def test_api_lists_every_recommendation_in_the_spec_shape(stepup):
    stepup.user("alice")
    api = AdminApi(stepup)
    response = api.get("/identityProtection/recommendations")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    value = response.get_json()["value"]
    assert SPEC_IDS <= {item["id"] for item in value}
    for item in value:
        assert set(item) == {"id", "title", "description", "impactedCount", "status", "actionUrl"}
        assert item["status"] == ("active" if item["impactedCount"] else "completed")
        assert item["actionUrl"].startswith("http://idp.test/admin")
    statuses = [item["status"] for item in value]
    assert statuses == sorted(statuses)  # active before completed
    by_id = {item["id"]: item for item in value}
    assert by_id["usersWithoutSecondFactor"]["impactedCount"] == 1
    assert by_id["compromisedNotRemediated"]["status"] == "completed"
    assert api.get("/identityProtection/recommendations", {"status": "active"}).status_code == 400
    assert api.http.get("/api/v1/identityProtection/recommendations").status_code == 401


def test_recommendations_page_lists_the_affected(stepup):
    from tests.idp.test_admin_dashboard import _admin as admin_browser
    from tests.idp.test_admin_dashboard import _admin_sign_in

    stepup.user("alice")
    browser, secret = admin_browser(stepup)
    _admin_sign_in(stepup, browser, secret=secret)
    html = browser.get("/admin/recommendations").get_data(as_text=True)
    assert '<section id="usersWithoutSecondFactor" data-status="active">' in html
    assert "<li>alice</li>" in html
    assert '<section id="compromisedNotRemediated" data-status="completed">' in html
    overview = browser.get("/admin").get_data(as_text=True)
    assert 'data-id="usersWithoutSecondFactor"' in overview
    assert 'href="/admin/recommendations"' in overview
