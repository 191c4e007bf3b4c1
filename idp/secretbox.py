"""Encryption at rest for TOTP secrets and signing keys, keyed from the secret_key.

A leaked database dump then hands out neither second factors nor the means to forge
tokens. To change secret_key, list the old one in `old_secret_keys`: values sealed with
it still open, and `idp keys reseal` seals everything again under the new key.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import IdpError
from .services import services

_PREFIX = "v1:"


class SecretUnreadable(IdpError):
    """A sealed secret could not be opened (secret_key changed, or the value was altered)."""


def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"idp totp secrets").derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def make_box(secret_key: str, old_secret_keys: Iterable[str] = ()) -> MultiFernet:
    """Seals with the current secret_key; opens with it or any of `old_secret_keys`."""
    return MultiFernet([_fernet(key) for key in (secret_key, *old_secret_keys)])


def _box() -> MultiFernet:
    return services().box


def is_sealed(stored: str) -> bool:
    """Whether a stored value was sealed (older versions stored some in clear)."""
    return stored.startswith(_PREFIX)


def seal(secret: str) -> str:
    """The secret encrypted and authenticated for storage."""
    return _PREFIX + _box().encrypt(secret.encode()).decode()


def _open(stored: str, how: Callable[[bytes], bytes]) -> bytes:
    """Apply `how` (decrypt, or rotate) to a sealed value's token."""
    try:
        return how(stored[len(_PREFIX) :].encode())
    except InvalidToken:
        raise SecretUnreadable(
            "a stored secret cannot be decrypted with secret_key or any of old_secret_keys"
        ) from None


def unseal(stored: str) -> str:
    """The stored secret in clear; values from before sealing are returned as they are."""
    return _open(stored, _box().decrypt).decode() if is_sealed(stored) else stored


def reseal(stored: str) -> str:
    """The value sealed again under the current secret_key (sealed first if it was not)."""
    if not is_sealed(stored):
        return seal(stored)
    return _PREFIX + _open(stored, _box().rotate).decode()
