"""Passkeys of users: registration and authentication against stored credentials.

The ceremonies are `mfa.passkey`'s; here they meet the database and the issuer. The RP ID
is the issuer's host name and the expected origin the issuer's origin (SPEC "Passkeys").
A challenge is the caller's to keep in its server-side flow and to clear before it checks
the answer, so every challenge is used at most once and only by the flow that asked.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

import sqlalchemy as sa
from flask import g
from sqlalchemy.exc import IntegrityError
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from mfa import passkey
from mfa.errors import MalformedPasskeyResponse, PasskeyError, PasskeyRejected, SignCountRegressed
from risk.vocabulary import RiskDetail

from . import backchannel, user_risk
from .extensions import db
from .i18n import gettext, ngettext
from .models import User, WebAuthnCredential
from .services import services
from .sessions import clock_now, revoke_sessions

log = logging.getLogger("idp.passkeys")

NAME_MAX = 64
MAX_PER_USER = 20


def relying_party() -> passkey.RelyingParty:
    """This provider as a WebAuthn relying party, from its issuer."""
    settings = services().settings
    return passkey.RelyingParty.from_issuer(settings.issuer, settings.mfa.totp_issuer)


def available() -> bool:
    """Whether browsers can use passkeys here: never with an IP address as the RP ID."""
    host = relying_party().id
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def user_handle(user: User) -> bytes:
    """The WebAuthn user handle: the user's random id, which holds nothing personal."""
    return user.id.encode()


def encode_challenge(challenge: bytes) -> str:
    return bytes_to_base64url(challenge)


def _decode_challenge(stored: object) -> bytes:
    if not isinstance(stored, str) or not stored:
        raise PasskeyRejected("no challenge pending (used already, or from another page)")
    return base64url_to_bytes(stored)


@dataclass(frozen=True)
class Ceremony:
    """Options for the browser (JSON) and the challenge to keep in the flow (base64url)."""

    options: str
    challenge: str


def begin_registration(user: User) -> Ceremony:
    """Options to create a passkey for `user`, excluding the ones already registered."""
    challenge = passkey.new_challenge()
    exclude = [(base64url_to_bytes(p.credential_id), p.transports or []) for p in user.passkeys]
    options = passkey.registration_options(
        relying_party(),
        user_handle=user_handle(user),
        user_name=user.username,
        display_name=user.display_name or user.username,
        challenge=challenge,
        exclude=exclude,
    )
    return Ceremony(options, encode_challenge(challenge))


def begin_authentication() -> Ceremony:
    """Options to ask the browser for any of this provider's passkeys."""
    challenge = passkey.new_challenge()
    return Ceremony(
        passkey.authentication_options(relying_party(), challenge=challenge),
        encode_challenge(challenge),
    )


def name_problem(name: str) -> str | None:
    """Why a passkey name is refused, in words for the user; None when it is fine."""
    if not name.strip():
        return gettext("Give the passkey a name, such as the device it is on.")
    if len(name) > NAME_MAX or any(not c.isprintable() for c in name):
        return gettext("Use at most %(max)d printable characters for the name.", max=NAME_MAX)
    return None


def register(user: User, response: str, challenge: object, name: str) -> WebAuthnCredential:
    """Verify a new credential against the flow's challenge and store it as the user's
    passkey; raise a PasskeyError when refused."""
    expected = _decode_challenge(challenge)
    credential = passkey.parse_registration(response)
    try:
        new = passkey.verify_registration(relying_party(), credential, challenge=expected)
    except PasskeyRejected as exc:
        log.info("passkey registration refused", extra={"user_id": user.id, "check": exc.check})
        raise
    if len(user.passkeys) >= MAX_PER_USER:
        raise PasskeyRejected("too many passkeys")
    row = WebAuthnCredential(
        credential_id=passkey.encode_id(new.credential_id),
        user_id=user.id,
        public_key=new.public_key,
        sign_count=new.sign_count,
        transports=list(new.transports),
        name=name.strip()[:NAME_MAX],
        aaguid=new.aaguid,
        backup_eligible=new.backup_eligible,
        backed_up=new.backed_up,
        created_at=clock_now(),
    )
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:
        # The credential id is registered already (to this user or another): never twice.
        db.session.rollback()
        log.warning(
            "passkey registration refused: credential id already registered",
            extra={"user_id": user.id},
        )
        raise PasskeyRejected("credential already registered") from None
    db.session.refresh(user)
    log.info("passkey registered", extra={"user_id": user.id, "passkey_id": row.id})
    return row


def authenticate(response: str, challenge: object, *, user_id: str) -> WebAuthnCredential:
    """Verify an assertion against the flow's challenge by a passkey of `user_id`, and move
    its signature counter on; raise a PasskeyError when refused."""
    expected = _decode_challenge(challenge)
    credential = passkey.parse_assertion(response)
    row: WebAuthnCredential | None = db.session.scalar(
        sa.select(WebAuthnCredential).filter_by(credential_id=passkey.encode_id(credential.raw_id))
    )
    if row is None:
        raise PasskeyRejected("unknown credential")
    if row.user_id != user_id:
        log.warning(
            "passkey of another user presented",
            extra={"user_id": user_id, "owner_id": row.user_id, "passkey_id": row.id},
        )
        raise PasskeyRejected("credential of another user")
    stored = passkey.StoredPasskey(
        credential_id=base64url_to_bytes(row.credential_id),
        public_key=row.public_key,
        sign_count=row.sign_count,
        user_handle=row.user_id.encode(),
    )
    try:
        assertion = passkey.verify_assertion(
            relying_party(), credential, challenge=expected, stored=stored
        )
    except SignCountRegressed as exc:
        log.warning(
            "passkey sign count went back: possible cloned authenticator",
            extra={
                "user_id": user_id,
                "passkey_id": row.id,
                "stored_count": exc.stored,
                "received_count": exc.received,
            },
        )
        raise
    except PasskeyRejected as exc:
        log.info(
            "passkey assertion refused",
            extra={"user_id": user_id, "passkey_id": row.id, "check": exc.check},
        )
        raise
    # Conditional on the counter read: of two racing uses of one assertion, one wins.
    moved = db.session.execute(
        sa.update(WebAuthnCredential)
        .where(WebAuthnCredential.id == row.id, WebAuthnCredential.sign_count == row.sign_count)
        .values(
            sign_count=assertion.sign_count, last_used_at=clock_now(), backed_up=assertion.backed_up
        )
    )
    db.session.commit()
    if getattr(moved, "rowcount", 0) != 1:
        raise PasskeyRejected("credential used concurrently")
    db.session.refresh(row)
    return row


def remove(user_id: str, passkey_id: str) -> WebAuthnCredential | None:
    """Delete one of the user's passkeys; None when the user has no such passkey."""
    row = db.session.get(WebAuthnCredential, passkey_id)
    if row is None or row.user_id != user_id:
        return None
    db.session.delete(row)
    db.session.commit()
    log.info("passkey removed", extra={"user_id": user_id, "passkey_id": passkey_id})
    return row


def factors(user: User) -> list[str]:
    """The user's second factors in words, e.g. ["TOTP", "2 passkeys"]."""
    found = ["TOTP"] if user.has_totp else []
    count = len(user.passkeys)
    if count:
        found.append(ngettext("%(num)d passkey", "%(num)d passkeys", count))
    return found


def reason(exc: PasskeyError) -> str:
    """The refused check in a few words, for the sign-in log (no challenge, no response)."""
    if isinstance(exc, MalformedPasskeyResponse):
        return "malformed response"
    if isinstance(exc, SignCountRegressed):
        return "sign count went back: possible cloned authenticator"
    return exc.check if isinstance(exc, PasskeyRejected) else "refused"


def use_script() -> None:
    """This page runs the passkey script (idp/static/passkey.js): the Content-Security-Policy
    allows scripts from this origin, and still no inline ones."""
    g.scripts = True


def remediate_user_risk(user: User, *, keep_sid: str, correlation_id: str) -> None:
    """A passkey sign-in remediates user risk without a password (Entra's "require risk
    remediation" for passwordless users): the user's other sessions and refresh tokens end,
    as after a secure password change, and the risk is remediated in its history."""
    revoke_sessions(user.id, except_sid=keep_sid, reason=backchannel.RISK_REMEDIATION)
    user_risk.remediate(
        user.id, RiskDetail.USER_PASSED_MFA_DRIVEN_BY_RISK_BASED_POLICY, initiated_by=user.username
    )
    log.info(
        "user risk remediated by a passkey sign-in",
        extra={"user_id": user.id, "correlation_id": correlation_id},
    )


def user_message(exc: PasskeyError) -> str:
    """What the person is told about a refused passkey."""
    if isinstance(exc, MalformedPasskeyResponse):
        return gettext("The browser's passkey answer could not be read. Try again.")
    if isinstance(exc, SignCountRegressed):
        return gettext(
            "That passkey was refused because it may have been copied. Use another "
            "passkey or your authenticator app, and tell your administrator."
        )
    if isinstance(exc, PasskeyRejected) and exc.check.startswith("no challenge"):
        return gettext("That passkey request has expired or was already used. Try again.")
    return gettext("That passkey was not accepted. Use a passkey registered to your account.")


__all__ = [
    "Ceremony",
    "PasskeyError",
    "authenticate",
    "begin_authentication",
    "begin_registration",
    "factors",
    "register",
    "remove",
]
