"""One-time recovery codes: generation, hashing for storage, and verification."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError

from mfa.errors import InvalidRecoveryCode

# Crockford's base32: no i, l, o or u, so nothing reads as another character.
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
GROUPS = 3
GROUP_LENGTH = 4  # 3 x 4 characters x 5 bits = 60 bits per code
_CODE_LENGTH = GROUPS * GROUP_LENGTH
_CODE_RE = re.compile(f"[{ALPHABET}]{{{_CODE_LENGTH}}}")
# Crockford's decoding rules: letters people type for the digits they resemble.
_LOOKALIKES = str.maketrans({"o": "0", "i": "1", "l": "1"})

# argon2id, not a fast hash: 60 bits is within reach of a GPU farm against salted
# SHA-256 if the table leaks; OWASP's minimum argon2id profile costs ~tens of ms.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def new_recovery_codes(n: int = 10) -> list[str]:
    """Return ``n`` distinct random recovery codes formatted like ``k7tq-9m2x-pv4c``."""
    if n < 1:
        raise ValueError("n must be at least 1")
    codes: dict[str, None] = {}  # a dict keeps generation order while refusing duplicates
    while len(codes) < n:
        raw = "".join(secrets.choice(ALPHABET) for _ in range(_CODE_LENGTH))
        groups = (raw[i : i + GROUP_LENGTH] for i in range(0, _CODE_LENGTH, GROUP_LENGTH))
        codes["-".join(groups)] = None
    return list(codes)


def _normalise(code: str) -> str | None:
    """Return the canonical form of a typed code, or None if it cannot be one."""
    canonical = "".join(code.split()).replace("-", "").lower().translate(_LOOKALIKES)
    return canonical if _CODE_RE.fullmatch(canonical) else None


def hash_recovery_code(code: str) -> str:
    """Return a salted argon2id hash of ``code`` for storage."""
    canonical = _normalise(code)
    if canonical is None:
        raise ValueError("not a recovery code")
    return _HASHER.hash(canonical)


def verify_recovery_code(code: str, hashes: Sequence[str]) -> int:
    """Return the index in ``hashes`` that ``code`` matches, or raise InvalidRecoveryCode."""
    canonical = _normalise(code)
    if canonical is not None:
        for index, stored in enumerate(hashes):
            try:
                _HASHER.verify(stored, canonical)
            except VerifyMismatchError:
                continue
            return index
    raise InvalidRecoveryCode()
