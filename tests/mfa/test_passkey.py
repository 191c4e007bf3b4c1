"""Passkey ceremonies (mfa.passkey) on genuine WebAuthn data from a software authenticator:
each check of registration and authentication refuses the one thing it guards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mfa import passkey
from mfa.errors import MalformedPasskeyResponse, PasskeyRejected, SignCountRegressed
from tests.softkey import AT, BE, BS, UP, UV, SoftKey, b64

RP = passkey.RelyingParty.from_issuer("https://id.example.com", "Example")
HANDLE = b"3d4c1f6e-0000-4000-8000-000000000001"


def _key() -> SoftKey:
    return SoftKey(rp_id="id.example.com", origin="https://id.example.com", user_handle=HANDLE)


def _registered(key: SoftKey) -> passkey.StoredPasskey:
    challenge = passkey.new_challenge()
    new = passkey.verify_registration(
        RP, passkey.parse_registration(key.register(challenge)), challenge=challenge
    )
    return passkey.StoredPasskey(
        credential_id=new.credential_id,
        public_key=new.public_key,
        sign_count=new.sign_count,
        user_handle=HANDLE,
    )


def test_pure_library_without_flask():
    import mfa.passkey as module

    source = Path(module.__file__).read_text(encoding="utf-8")
    assert "flask" not in source and "sqlalchemy" not in source and "authlib" not in source


def test_relying_party_from_issuer():
    rp = passkey.RelyingParty.from_issuer("http://localhost:5000", "IdP")
    assert (rp.id, rp.origin) == ("localhost", "http://localhost:5000")
    with pytest.raises(ValueError):
        passkey.RelyingParty.from_issuer("not a url", "IdP")


def test_registration_options_demand_a_discoverable_credential_with_user_verification():
    challenge = passkey.new_challenge()
    options = json.loads(
        passkey.registration_options(
            RP,
            user_handle=HANDLE,
            user_name="alice",
            display_name="Alice",
            challenge=challenge,
            exclude=[(b"\x01\x02", ["internal", "bogus"])],
        )
    )
    assert options["rp"] == {"id": "id.example.com", "name": "Example"}
    assert options["challenge"] == b64(challenge)
    assert options["user"]["id"] == b64(HANDLE)
    selection = options["authenticatorSelection"]
    assert selection["residentKey"] == "required" and selection["userVerification"] == "required"
    assert options["excludeCredentials"] == [
        {"id": b64(b"\x01\x02"), "type": "public-key", "transports": ["internal"]}
    ]
    assert options["attestation"] == "none"
    get = json.loads(passkey.authentication_options(RP, challenge=challenge))
    assert get["rpId"] == "id.example.com" and get["userVerification"] == "required"
    assert get["allowCredentials"] == []


def test_registration_accepted_and_its_fields_kept():
    key = _key()
    challenge = passkey.new_challenge()
    new = passkey.verify_registration(
        RP, passkey.parse_registration(key.register(challenge)), challenge=challenge
    )
    assert new.credential_id == key.credential_id
    assert new.transports == ("internal",)
    assert new.sign_count == 0 and new.backup_eligible and new.backed_up


@pytest.mark.parametrize(
    ("change", "check"),
    [
        ({"origin": "https://evil.example"}, "origin"),
        ({"rp_id": "evil.example"}, "rp id hash"),
        ({"flags": UP | AT}, "user verification"),
        ({"flags": UV | AT}, "user presence"),
    ],
    ids=["origin", "rp-id-hash", "no-user-verification", "no-user-presence"],
)
def test_registration_refused(change, check):
    key = _key()
    challenge = passkey.new_challenge()
    credential = passkey.parse_registration(key.register(challenge, **change))
    with pytest.raises(PasskeyRejected) as refused:
        passkey.verify_registration(RP, credential, challenge=challenge)
    assert refused.value.check == check


def test_registration_with_another_challenge_refused():
    key = _key()
    credential = passkey.parse_registration(key.register(passkey.new_challenge()))
    with pytest.raises(PasskeyRejected) as refused:
        passkey.verify_registration(RP, credential, challenge=passkey.new_challenge())
    assert refused.value.check == "challenge"


def test_assertion_accepted_and_counter_moves_on():
    key = _key()
    stored = _registered(key)
    challenge = passkey.new_challenge()
    result = passkey.verify_assertion(
        RP, passkey.parse_assertion(key.assert_(challenge)), challenge=challenge, stored=stored
    )
    assert (result.credential_id, result.sign_count) == (key.credential_id, 1)


@pytest.mark.parametrize(
    ("change", "check"),
    [
        ({"origin": "https://id.example.com.evil.example"}, "origin"),
        ({"origin": "http://id.example.com"}, "origin"),
        ({"rp_id": "example.com"}, "rp id hash"),
        ({"flags": UP | BE | BS}, "user verification"),
        ({"kind": "webauthn.create"}, "client data type"),
    ],
    ids=["origin-lookalike", "origin-http", "rp-id-hash", "uv-missing", "wrong-type"],
)
def test_assertion_refused(change, check):
    key = _key()
    stored = _registered(key)
    challenge = passkey.new_challenge()
    with pytest.raises(PasskeyRejected) as refused:
        passkey.verify_assertion(
            RP,
            passkey.parse_assertion(key.assert_(challenge, **change)),
            challenge=challenge,
            stored=stored,
        )
    assert refused.value.check == check


def test_assertion_for_another_challenge_refused():
    """A replayed assertion carries the challenge it was made for, not the current one."""
    key = _key()
    stored = _registered(key)
    old = passkey.new_challenge()
    replayed = passkey.parse_assertion(key.assert_(old))
    with pytest.raises(PasskeyRejected) as refused:
        passkey.verify_assertion(RP, replayed, challenge=passkey.new_challenge(), stored=stored)
    assert refused.value.check == "challenge"


def test_signature_by_another_key_refused():
    key, impostor = _key(), _key()
    stored = _registered(key)
    impostor.credential_id = key.credential_id
    challenge = passkey.new_challenge()
    with pytest.raises(PasskeyRejected) as refused:
        passkey.verify_assertion(
            RP,
            passkey.parse_assertion(impostor.assert_(challenge)),
            challenge=challenge,
            stored=stored,
        )
    assert refused.value.check == "signature"


@pytest.mark.parametrize(
    ("stored_count", "received"),
    [(5, 5), (5, 4), (5, 0)],
    ids=["same", "lower", "zero-after-counting"],
)
def test_sign_count_regression_refused(stored_count, received):
    key = _key()
    stored = _registered(key)
    stored = passkey.StoredPasskey(stored.credential_id, stored.public_key, stored_count, HANDLE)
    challenge = passkey.new_challenge()
    with pytest.raises(SignCountRegressed) as refused:
        passkey.verify_assertion(
            RP,
            passkey.parse_assertion(key.assert_(challenge, count=received)),
            challenge=challenge,
            stored=stored,
        )
    assert (refused.value.stored, refused.value.received) == (stored_count, received)


def test_sign_count_zero_for_authenticators_without_a_counter():
    """Synced passkeys often report 0 every time: 0 after 0 is not a regression."""
    key = _key()
    stored = _registered(key)
    challenge = passkey.new_challenge()
    result = passkey.verify_assertion(
        RP,
        passkey.parse_assertion(key.assert_(challenge, count=0)),
        challenge=challenge,
        stored=stored,
    )
    assert result.sign_count == 0


def test_sign_count_one_above_accepted():
    key = _key()
    stored = _registered(key)
    stored = passkey.StoredPasskey(stored.credential_id, stored.public_key, 5, HANDLE)
    challenge = passkey.new_challenge()
    result = passkey.verify_assertion(
        RP,
        passkey.parse_assertion(key.assert_(challenge, count=6)),
        challenge=challenge,
        stored=stored,
    )
    assert result.sign_count == 6


def test_user_handle_of_another_user_refused():
    key = _key()
    stored = _registered(key)
    challenge = passkey.new_challenge()
    with pytest.raises(PasskeyRejected) as refused:
        passkey.verify_assertion(
            RP,
            passkey.parse_assertion(key.assert_(challenge, user_handle=b"another-user")),
            challenge=challenge,
            stored=stored,
        )
    assert "user handle" in refused.value.check


def test_credential_of_another_user_refused():
    """The stored credential looked up is another one than the assertion names."""
    key, other = _key(), _key()
    stored_other = _registered(other)
    challenge = passkey.new_challenge()
    with pytest.raises(PasskeyRejected) as refused:
        passkey.verify_assertion(
            RP,
            passkey.parse_assertion(key.assert_(challenge)),
            challenge=challenge,
            stored=stored_other,
        )
    assert "credential id" in refused.value.check


def test_missing_user_handle_is_allowed():
    """A user handle is optional in an assertion; the credential id still binds the user."""
    key = _key()
    stored = _registered(key)
    challenge = passkey.new_challenge()
    result = passkey.verify_assertion(
        RP,
        passkey.parse_assertion(key.assert_(challenge, user_handle=None)),
        challenge=challenge,
        stored=stored,
    )
    assert result.sign_count == 1


@pytest.mark.parametrize(
    "body",
    [
        "",
        "null",
        "[]",
        "{}",
        "not json",
        '{"id": "a", "rawId": "b"}',
        '{"id": "AA", "rawId": "AA", "type": "public-key", "response": {}}',
        "x" * (passkey.MAX_RESPONSE_CHARS + 1),
    ],
    ids=[
        "empty",
        "null",
        "list",
        "empty-object",
        "not-json",
        "id-mismatch",
        "no-fields",
        "too-long",
    ],
)
def test_garbage_is_malformed(body):
    with pytest.raises(MalformedPasskeyResponse):
        passkey.parse_assertion(body)
    with pytest.raises(MalformedPasskeyResponse):
        passkey.parse_registration(body)


def test_undecodable_fields_refused():
    key = _key()
    stored = _registered(key)
    body = (
        '{"id": "AA", "rawId": "AA", "type": "public-key", "response": {"clientDataJSON": '
        '"!!", "authenticatorData": "@@", "signature": "##"}}'
    )
    stored = passkey.StoredPasskey(b"\x00", stored.public_key, 0, HANDLE)
    with pytest.raises((MalformedPasskeyResponse, PasskeyRejected)):
        passkey.verify_assertion(
            RP, passkey.parse_assertion(body), challenge=passkey.new_challenge(), stored=stored
        )


def test_corrupt_attestation_is_malformed_or_rejected():
    key = _key()
    challenge = passkey.new_challenge()
    data = json.loads(key.register(challenge))
    data["response"]["attestationObject"] = b64(b"\xa1\x00")
    with pytest.raises((MalformedPasskeyResponse, PasskeyRejected)):
        passkey.verify_registration(
            RP, passkey.parse_registration(json.dumps(data)), challenge=challenge
        )
