"""Standard claims (OpenID Connect Core 5.1, 5.4): released per scope, checked when set."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from idp.claims import CLAIMS, ClaimError, requested_claims, set_claims
from idp.clock import FrozenClock
from idp.models import User
from tests.conftest import PASSWORD
from tests.idp.test_api_support import rows

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

PROFILE = {
    "name": "Ada King",
    "given_name": "Ada",
    "family_name": "King",
    "middle_name": "Augusta",
    "nickname": "Ada",
    "profile": "https://example.org/ada",
    "picture": "https://example.org/ada.png",
    "website": "http://ada.example",
    "gender": "female",
    "birthdate": "1815-12-10",
    "zoneinfo": "Europe/London",
    "locale": "en-GB",
}
ADDRESS = {
    "formatted": "12 St James's Square\nLondon SW1Y 4JH",
    "street_address": "12 St James's Square",
    "locality": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
    "region": "Greater London",
}
FULL = {
    **PROFILE,
    "email": "ada@example.org",
    "email_verified": True,
    "address": ADDRESS,
    "phone_number": "+442079460000",
    "phone_number_verified": False,
}
PROFILE_CLAIMS = {*PROFILE, "preferred_username", "updated_at"}


@pytest.fixture
def clocked(make_app):
    """An app on a frozen clock (updated_at comes from the app's clock)."""
    from tests.conftest import Provider

    clock = FrozenClock(T0)
    return Provider(make_app(clock=clock)), clock


def set_profile(provider, username: str, changes: dict) -> list[str]:
    from idp.users import find_user

    with provider.app.app_context():
        return set_claims(find_user(username), changes)


@pytest.fixture
def ada(clocked):
    provider, clock = clocked
    user_id = provider.user("ada")
    clock.advance(hours=1)
    set_profile(provider, "ada", FULL)
    return provider, user_id


def _released(provider, scope: str, password: str = PASSWORD) -> tuple[dict, dict]:
    """(userinfo, ID token claims) for a code flow with `scope`."""
    rp = provider.rp()
    tokens = rp.tokens("ada", password, scope=scope)
    info = provider.app.test_client().get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert info.status_code == 200, info.get_data(as_text=True)
    return info.get_json(), rp.verify_id_token(tokens["id_token"])


ID_TOKEN_ONLY = {"iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash"}


def test_oidcc_scope_profile(ada):
    provider, user_id = ada
    info, id_claims = _released(provider, "openid profile")
    assert set(info) == {"sub", *PROFILE_CLAIMS}
    assert info["sub"] == user_id
    assert {k: info[k] for k in PROFILE} == PROFILE
    assert info["preferred_username"] == "ada"
    # updated_at is when the profile changed, not the password.
    assert info["updated_at"] == int(T0.timestamp()) + 3600
    assert set(id_claims) - ID_TOKEN_ONLY == set(info)


def test_oidcc_scope_email(ada):
    provider, _ = ada
    info, _ = _released(provider, "openid email")
    assert info == {"sub": info["sub"], "email": "ada@example.org", "email_verified": True}


def test_oidcc_scope_address(ada):
    provider, _ = ada
    info, _ = _released(provider, "openid address")
    assert info == {"sub": info["sub"], "address": ADDRESS}


def test_oidcc_scope_phone(ada):
    provider, _ = ada
    info, _ = _released(provider, "openid phone")
    assert info == {
        "sub": info["sub"],
        "phone_number": "+442079460000",
        "phone_number_verified": False,
    }


def test_oidcc_scope_all(ada):
    provider, _ = ada
    info, id_claims = _released(provider, "openid profile email address phone")
    assert set(info) == {
        "sub",
        *PROFILE_CLAIMS,
        "email",
        "email_verified",
        "address",
        "phone_number",
        "phone_number_verified",
    }
    assert {k: info[k] for k in FULL} == FULL
    assert id_claims["address"] == ADDRESS


def test_openid_scope_alone_releases_only_sub(ada):
    provider, user_id = ada
    info, _ = _released(provider, "openid")
    assert info == {"sub": user_id}


def test_groups_scope_works_as_before(provider):
    provider.user("ada", groups=["staff", "admins"])
    rp = provider.rp(scopes=["openid", "groups"])
    access = rp.tokens("ada", scope="openid groups")["access_token"]
    info = (
        provider.app.test_client()
        .get("/userinfo", headers={"Authorization": f"Bearer {access}"})
        .get_json()
    )
    assert info["groups"] == ["admins", "staff"]


def test_scope_the_client_was_not_registered_for_releases_nothing(ada):
    provider, _ = ada
    rp = provider.rp(scopes=["openid", "profile"])
    access = rp.tokens("ada", scope="openid profile address phone")["access_token"]
    info = (
        provider.app.test_client()
        .get("/userinfo", headers={"Authorization": f"Bearer {access}"})
        .get_json()
    )
    assert "address" not in info and "phone_number" not in info and "name" in info


def test_unset_claims_are_left_out_and_flags_need_their_value(clocked):
    provider, _ = clocked
    provider.user("ada")
    set_profile(provider, "ada", {"phone_number_verified": True})
    info, _ = _released(provider, "openid profile email address phone")
    # No email, no phone number: neither verified flag means anything on its own.
    assert set(info) == {"sub", "preferred_username", "updated_at"}


def test_updated_at_falls_back_to_created_at_and_ignores_password_changes(clocked):
    provider, clock = clocked
    provider.user("ada")
    clock.advance(days=3)
    from idp.users import find_user, set_password

    with provider.app.app_context():
        set_password(provider.app, find_user("ada"), "another good password")
    info, _ = _released(provider, "openid profile", "another good password")
    assert info["updated_at"] == int(T0.timestamp())


def test_setting_a_claim_bumps_updated_at_through_the_clock(clocked):
    provider, clock = clocked
    provider.user("ada")
    clock.advance(minutes=5)
    assert set_profile(provider, "ada", {"given_name": "Ada"}) == ["given_name"]
    assert rows(provider, User, username="ada")[0].profile_updated_at == T0.replace(minute=5)
    clock.advance(minutes=5)
    # The same value again changes nothing, so updated_at stays.
    assert set_profile(provider, "ada", {"given_name": "Ada"}) == []
    assert rows(provider, User, username="ada")[0].profile_updated_at == T0.replace(minute=5)


def test_new_email_is_not_verified(clocked):
    provider, _ = clocked
    provider.user("ada")
    set_profile(provider, "ada", {"email": "ada@example.org", "email_verified": True})
    set_profile(provider, "ada", {"email": "ada@elsewhere.example"})
    user = rows(provider, User, username="ada")[0]
    assert (user.email, user.email_verified) == ("ada@elsewhere.example", False)


def test_address_by_field_merges_and_unsets(clocked):
    provider, _ = clocked
    provider.user("ada")
    set_profile(provider, "ada", {"address.locality": "Berlin", "address.country": "DE"})
    set_profile(provider, "ada", {"address.locality": None, "address.postal_code": "10115"})
    assert rows(provider, User, username="ada")[0].claims["address"] == {
        "country": "DE",
        "postal_code": "10115",
    }
    set_profile(provider, "ada", {"address": None})
    assert "address" not in rows(provider, User, username="ada")[0].claims


def test_invalid_value_changes_nothing(clocked):
    provider, _ = clocked
    provider.user("ada")
    with pytest.raises(ClaimError, match="website"):
        set_profile(provider, "ada", {"given_name": "Ada", "website": "javascript:alert(1)"})
    user = rows(provider, User, username="ada")[0]
    assert user.claims in ({}, None) and user.profile_updated_at is None


@pytest.mark.parametrize(
    "name",
    ["sub", "preferred_username", "updated_at", "groups", "unknown", "address.planet"],
    ids=["sub", "preferred_username", "updated_at", "groups", "unknown", "unknown-address-field"],
)
def test_read_only_and_unknown_claims_cannot_be_set(clocked, name):
    provider, _ = clocked
    provider.user("ada")
    with pytest.raises(ClaimError):
        set_profile(provider, "ada", {name: "x"})


VALID = [
    ("name", "José Ñúñez-O'Brien"),
    ("given_name", "Zoë"),
    ("nickname", "李"),
    ("website", "https://example.org/path?q=1"),
    ("picture", "http://127.0.0.1:8080/p.png"),
    ("birthdate", "1990-02-28"),
    ("birthdate", "1990"),
    ("birthdate", "0000-02-29"),
    ("zoneinfo", "America/Argentina/Buenos_Aires"),
    ("zoneinfo", "UTC"),
    ("locale", "en-US"),
    ("locale", "fr"),
    ("locale", "zh-Hant-TW"),
    ("phone_number", "+14155550100"),
    ("phone_number", "+1 415 555 0100"),
    ("phone_number", "+14155550100;ext=12"),
    ("email", "a.b+c@example.org"),
    ("email_verified", True),
    ("phone_number_verified", False),
    ("address", {"formatted": "line 1\nline 2"}),
]
INVALID = [
    ("name", "x" * 201, "too-long"),
    ("given_name", "Ada\x00", "nul"),
    ("given_name", "Ada\nKing", "newline"),
    ("given_name", "Ada\u202eKing", "bidi-override"),
    ("given_name", "\ud800", "lone-surrogate"),
    ("given_name", " Ada", "leading-space"),
    ("given_name", 42, "number"),
    ("website", "javascript:alert(1)", "javascript-url"),
    ("website", "/relative", "relative-url"),
    ("picture", "ftp://example.org/p.png", "ftp-url"),
    ("profile", "https://", "no-host"),
    ("website", "https://[::1", "unclosed-ipv6"),
    ("picture", "https://ex\uff03ample@rp.example/p.png", "nfkc-host"),
    ("birthdate", "1990-02-30", "no-such-day"),
    ("birthdate", "1990-2-3", "short-fields"),
    ("birthdate", "0000", "year-zero"),
    ("birthdate", "yesterday", "words"),
    ("zoneinfo", "Mars/Olympus", "unknown-zone"),
    ("zoneinfo", "../../etc/passwd", "path"),
    ("zoneinfo", "/usr/share/zoneinfo/UTC", "absolute-path"),
    ("locale", "english", "word-locale"),
    ("locale", "en_US", "underscore-locale"),
    ("phone_number", "4155550100", "no-plus"),
    ("phone_number", "+1415555010012345", "too-long-phone"),
    ("phone_number", "+1 (415) 555", "letters-and-parens"),
    ("email", "not-an-email", "no-at"),
    ("email", "a@b c.org", "space-in-email"),
    ("email_verified", "true", "string-boolean"),
    ("email_verified", 1, "int-boolean"),
    ("address", "Berlin", "address-string"),
    ("address", {"planet": "Mars"}, "address-unknown-field"),
    ("address", {"locality": "Ber\x00lin"}, "address-nul"),
    ("address", {"locality": ["Berlin"]}, "address-list-field"),
]


@pytest.mark.parametrize(
    ("name", "value"), VALID, ids=[f"{n}-{i}" for i, (n, _) in enumerate(VALID)]
)
def test_valid_values_are_accepted(name, value):
    check = CLAIMS[name].check
    assert check is not None
    stored = check(name, value)
    if name == "phone_number":
        assert stored.startswith("+1415") and " " not in stored
    elif name != "address":
        assert stored == value


@pytest.mark.parametrize(
    ("name", "value"), [(n, v) for n, v, _ in INVALID], ids=[i for _, _, i in INVALID]
)
def test_invalid_values_are_refused(name, value):
    check = CLAIMS[name].check
    assert check is not None
    with pytest.raises(ClaimError, match=name):
        check(name, value)


def test_discovery_advertises_scopes_claims_and_the_claims_parameter(client):
    doc = client.get("/.well-known/openid-configuration").get_json()
    assert {"openid", "profile", "email", "address", "phone", "groups"} <= set(
        doc["scopes_supported"]
    )
    assert set(CLAIMS) <= set(doc["claims_supported"])
    assert doc["claims_parameter_supported"] is True


@pytest.mark.parametrize(
    ("scope", "request_", "expected"),
    [
        ("openid", None, []),
        ("openid email", None, ["email", "email_verified"]),
        ("openid", {"userinfo": {"name": {"essential": True}}}, ["name"]),
        (
            "openid",
            {"id_token": {"phone_number": None, "acr": None}, "userinfo": {"x": None}},
            ["phone_number"],
        ),
        ("openid email", {"userinfo": {"email": None}}, ["email", "email_verified"]),
    ],
    ids=["none", "scope", "userinfo-member", "id-token-member-ignores-unknown", "no-duplicates"],
)
def test_requested_claims(scope, request_, expected):
    assert requested_claims(scope, request_) == expected


def test_requested_claims_respects_the_clients_registered_scope():
    assert requested_claims(
        "openid", {"userinfo": {"address": None, "name": None}}, allowed_scope="openid profile"
    ) == ["name"]
