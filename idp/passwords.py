"""Password hashing with argon2id through passlib's CryptContext; checks raise on failure."""

from __future__ import annotations

from dataclasses import dataclass

from passlib.context import CryptContext

from .config import PasswordSettings
from .errors import InvalidCredentials, PasswordPolicyError

MAX_PASSWORD_BYTES = 4096


@dataclass(frozen=True)
class Verified:
    """A successful check; `new_hash` is set when the stored hash should be upgraded."""

    new_hash: str | None


class PasswordHasher:
    """Hashes and verifies passwords with the configured argon2id cost."""

    def __init__(self, settings: PasswordSettings) -> None:
        self.settings = settings
        self.context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__memory_cost=settings.argon2_memory_kib,
            argon2__rounds=settings.argon2_time_cost,
            argon2__parallelism=settings.argon2_parallelism,
        )
        # Hashed once so an unknown user name costs the same time as a wrong password.
        self._decoy = self.context.hash("decoy password for unknown users")

    def hash(self, password: str) -> str:
        """Return an argon2id hash of the password."""
        hashed: str = self.context.hash(password)  # passlib is untyped; hash() returns str
        return hashed

    def verify(self, password: str, stored_hash: str | None) -> Verified:
        """Return Verified when the password matches, else raise InvalidCredentials."""
        if len(password.encode("utf-8", "replace")) > MAX_PASSWORD_BYTES:
            # Longer than any password we let be set (and than passlib takes): simply wrong.
            raise InvalidCredentials()
        if stored_hash is None:
            self.context.verify(password, self._decoy)
            raise InvalidCredentials()
        ok, new_hash = self.context.verify_and_update(password, stored_hash)
        if not ok:
            raise InvalidCredentials()
        return Verified(new_hash=new_hash)

    def check_policy(self, password: str) -> None:
        """Raise PasswordPolicyError when a new password is unacceptable."""
        if len(password) < self.settings.min_length:
            raise PasswordPolicyError(f"Use at least {self.settings.min_length} characters.")
        if len(password) > 1024:
            raise PasswordPolicyError("Use at most 1024 characters.")
