"""Passkeys (WebAuthn): registration and authentication ceremonies, with py_webauthn.

Pure like the rest of `mfa`: the caller keeps the challenge (bound to its own flow, used
once), looks up the stored credential, and stores what a ceremony returns. Every check of
WebAuthn's section 7 is made by py_webauthn; this module adds what it leaves to the relying
party: user verification always required, the user handle matched, and a signature counter
that must grow (a counter that goes back is refused as a possible cloned authenticator).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url, parse_authenticator_data
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidRegistrationResponse,
)
from webauthn.helpers.parse_authentication_credential_json import (
    parse_authentication_credential_json,
)
from webauthn.helpers.parse_registration_credential_json import (
    parse_registration_credential_json,
)
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from .errors import MalformedPasskeyResponse, PasskeyRejected, SignCountRegressed

CHALLENGE_BYTES = 32
TIMEOUT_MS = 120_000
# Longer than any real browser response; a bigger one is refused before parsing.
MAX_RESPONSE_CHARS = 16_384


@dataclass(frozen=True)
class RelyingParty:
    """Who asks: the RP ID (a host name), the name people see, and the exact origin."""

    id: str
    name: str
    origin: str

    @classmethod
    def from_issuer(cls, issuer: str, name: str) -> RelyingParty:
        """The relying party of an issuer URL: its host is the RP ID, its origin the origin."""
        parts = urlsplit(issuer)
        if not parts.hostname:
            raise ValueError(f"issuer {issuer!r} has no host name")
        return cls(id=parts.hostname, name=name, origin=f"{parts.scheme}://{parts.netloc}")


@dataclass(frozen=True)
class NewPasskey:
    """A verified registration: what the caller stores."""

    credential_id: bytes
    public_key: bytes
    sign_count: int
    aaguid: str
    transports: tuple[str, ...]
    backup_eligible: bool
    backed_up: bool


@dataclass(frozen=True)
class StoredPasskey:
    """A registered credential as the caller keeps it."""

    credential_id: bytes
    public_key: bytes
    sign_count: int
    user_handle: bytes


@dataclass(frozen=True)
class Assertion:
    """A verified authentication: the credential used and its new signature counter."""

    credential_id: bytes
    sign_count: int
    backed_up: bool


def new_challenge() -> bytes:
    """A fresh random challenge (the caller stores it with its flow and uses it once)."""
    return secrets.token_bytes(CHALLENGE_BYTES)


def _descriptors(ids: Iterable[tuple[bytes, Sequence[str]]]) -> list[PublicKeyCredentialDescriptor]:
    known = {t.value for t in AuthenticatorTransport}
    return [
        PublicKeyCredentialDescriptor(
            id=cred_id, transports=[AuthenticatorTransport(t) for t in transports if t in known]
        )
        for cred_id, transports in ids
    ]


def registration_options(
    rp: RelyingParty,
    *,
    user_handle: bytes,
    user_name: str,
    display_name: str,
    challenge: bytes,
    exclude: Iterable[tuple[bytes, Sequence[str]]] = (),
) -> str:
    """The JSON for navigator.credentials.create(): a discoverable credential with user
    verification, none of the user's registered ones again."""
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_name=user_name,
        user_id=user_handle,
        user_display_name=display_name,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=_descriptors(exclude),
    )
    return options_to_json(options)


def authentication_options(rp: RelyingParty, *, challenge: bytes) -> str:
    """The JSON for navigator.credentials.get(): any discoverable credential of this RP, with
    user verification; which user it belongs to is checked on the way back."""
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json(options)


def _load(response: str) -> dict[str, Any]:
    if not isinstance(response, str) or not response or len(response) > MAX_RESPONSE_CHARS:
        raise MalformedPasskeyResponse()
    # Nesting deeper than the parser can follow is as malformed as a syntax error.
    try:
        data = json.loads(response)
    except (ValueError, RecursionError):
        raise MalformedPasskeyResponse() from None
    if not isinstance(data, dict) or data.get("id") != data.get("rawId"):
        raise MalformedPasskeyResponse()
    return data


def parse_registration(response: str) -> RegistrationCredential:
    """The browser's JSON of a new credential, parsed (MalformedPasskeyResponse if not)."""
    data = _load(response)
    try:
        return parse_registration_credential_json(data)
    # A crafted body can fail deep inside base64 or CBOR decoding: all of it is malformed.
    except Exception:
        raise MalformedPasskeyResponse() from None


def parse_assertion(response: str) -> AuthenticationCredential:
    """The browser's JSON of an assertion, parsed (MalformedPasskeyResponse if not)."""
    data = _load(response)
    try:
        return parse_authentication_credential_json(data)
    except Exception:
        raise MalformedPasskeyResponse() from None


def verify_registration(
    rp: RelyingParty, credential: RegistrationCredential, *, challenge: bytes
) -> NewPasskey:
    """Check a new credential against the challenge, origin and RP ID, with user
    verification; raise PasskeyRejected or MalformedPasskeyResponse."""
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            require_user_verification=True,
        )
    except InvalidRegistrationResponse as exc:
        raise PasskeyRejected(_check_name(exc)) from None
    except Exception:
        raise MalformedPasskeyResponse() from None
    transports = tuple(t.value for t in credential.response.transports or ())
    return NewPasskey(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
        transports=transports,
        backup_eligible=verified.credential_device_type.value == "multi_device",
        backed_up=verified.credential_backed_up,
    )


def verify_assertion(
    rp: RelyingParty,
    credential: AuthenticationCredential,
    *,
    challenge: bytes,
    stored: StoredPasskey,
) -> Assertion:
    """Check an assertion by the stored credential: signature, challenge, origin, RP ID,
    user verification, user handle and signature counter; raise a PasskeyError if any fails."""
    if credential.raw_id != stored.credential_id:
        raise PasskeyRejected("credential id does not match the stored credential")
    handle = credential.response.user_handle
    if handle is not None and handle != stored.user_handle:
        raise PasskeyRejected("user handle does not match the credential's user")
    try:
        # The counter is compared below, after the signature proved the data is genuine, so
        # a forged low counter cannot make a real authenticator look cloned.
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=stored.public_key,
            credential_current_sign_count=0,
            require_user_verification=True,
        )
    except InvalidAuthenticationResponse as exc:
        raise PasskeyRejected(_check_name(exc)) from None
    except Exception:
        raise MalformedPasskeyResponse() from None
    received = verified.new_sign_count
    if (received > 0 or stored.sign_count > 0) and received <= stored.sign_count:
        raise SignCountRegressed(stored.sign_count, received)
    return Assertion(
        credential_id=verified.credential_id,
        sign_count=received,
        backed_up=verified.credential_backed_up,
    )


def sign_count_of(credential: AuthenticationCredential) -> int:
    """The counter an assertion claims (unverified: for a log line, never a decision)."""
    try:
        return parse_authenticator_data(credential.response.authenticator_data).sign_count
    except Exception:
        return -1


def encode_id(credential_id: bytes) -> str:
    """A credential id as base64url text (how it is stored and shown)."""
    return bytes_to_base64url(credential_id)


# py_webauthn's messages name the failed check; a few carry the values received (an
# origin), which are the client's own and harmless. Only the check's kind is kept.
_CHECKS = (
    ("challenge", "challenge"),
    ("origin", "origin"),
    ("RP ID", "rp id hash"),
    ("verified", "user verification"),
    ("present", "user presence"),
    ("signature", "signature"),
    ("type", "client data type"),
)


def _check_name(exc: Exception) -> str:
    text = str(exc)
    for marker, name in _CHECKS:
        if marker in text:
            return name
    return "other"
