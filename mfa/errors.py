"""Typed errors raised by mfa checks; messages never carry codes or secrets."""

from __future__ import annotations


class MfaError(Exception):
    """Base class for every failed second-factor check."""


class InvalidCode(MfaError):
    """The TOTP code is malformed or matches no step in the accepted window."""

    def __init__(self) -> None:
        super().__init__("invalid verification code")


class ReplayedCode(MfaError):
    """The TOTP code matches a time step at or before the last accepted one."""

    def __init__(self) -> None:
        super().__init__("verification code already used")


class Throttled(MfaError):
    """Too many recent failures; the caller must wait ``retry_after_seconds``."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"too many failed attempts; retry after {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


class InvalidRecoveryCode(MfaError):
    """The recovery code is malformed or matches none of the stored hashes."""

    def __init__(self) -> None:
        super().__init__("invalid recovery code")


class PasskeyError(MfaError):
    """Base class for every refused passkey (WebAuthn) ceremony."""


class MalformedPasskeyResponse(PasskeyError):
    """The browser's response is not a WebAuthn credential we can read (garbage, not JSON)."""

    def __init__(self) -> None:
        super().__init__("malformed passkey response")


class PasskeyRejected(PasskeyError):
    """A well-formed response failed a ceremony check; ``check`` names which, for the log."""

    def __init__(self, check: str) -> None:
        super().__init__(f"passkey refused: {check}")
        self.check = check


class SignCountRegressed(PasskeyError):
    """The authenticator's signature counter went backwards: a possible cloned authenticator."""

    def __init__(self, stored: int, received: int) -> None:
        super().__init__(f"sign count {received} not above stored {stored}")
        self.stored = stored
        self.received = received
