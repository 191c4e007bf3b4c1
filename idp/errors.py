"""Typed errors of the provider; what a client sees is kept apart from what is only logged."""

from __future__ import annotations


class IdpError(Exception):
    """Base class for the provider's own errors."""


class ConfigError(IdpError):
    """The configuration is unusable; the message is one line naming the key."""


class InvalidCredentials(IdpError):
    """The user name or password is wrong (Entra 50126); which one is never said."""

    code = 50126


class PasswordPolicyError(IdpError):
    """A new password breaks the password rules; the message is safe to show."""
