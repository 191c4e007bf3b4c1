"""Encryption at rest for TOTP secrets, keyed from the configured secret_key.

A leaked database dump then does not hand out every user's second factor. Changing
secret_key makes stored secrets unreadable: those users register TOTP again.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from .errors import IdpError

_PREFIX = "v1:"


class SecretUnreadable(IdpError):
    """A sealed secret could not be opened (secret_key changed, or the value was altered)."""


def _box() -> Fernet:
    box = current_app.extensions.get("idp.secretbox")
    if box is None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"idp totp secrets").derive(current_app.config["SECRET_KEY"].encode())
        box = current_app.extensions["idp.secretbox"] = Fernet(base64.urlsafe_b64encode(key))
    return box


def seal(secret: str) -> str:
    """The secret encrypted and authenticated for storage."""
    return _PREFIX + _box().encrypt(secret.encode()).decode()


def unseal(stored: str) -> str:
    """The stored secret in clear; values from before sealing are returned as they are."""
    if not stored.startswith(_PREFIX):
        return stored
    try:
        return _box().decrypt(stored[len(_PREFIX):].encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("a stored TOTP secret cannot be decrypted with the current "
                               "secret_key") from None
