"""The one place where the authorize flow decides what happens after the user is identified."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from .models import SsoSession, User

ACR_PASSWORD = "urn:idp:acr:password"
ACR_MFA = "urn:idp:acr:mfa"


class Interaction(enum.Enum):
    """A step the user must take in the browser before the code is issued."""

    CHANGE_PASSWORD = "signin.change_password"


@dataclass(frozen=True)
class Outcome:
    """What the authorization endpoint does next, and why (codes follow Entra's)."""

    interaction: Interaction | None = None
    blocked: bool = False
    error_code: int | None = None
    reason: str | None = None
    acr: str = ACR_PASSWORD

    @property
    def endpoint(self) -> str:
        assert self.interaction is not None
        return self.interaction.value


def acr_for(sso: SsoSession) -> str:
    return ACR_MFA if {"otp", "mfa"} & set(sso.amr) else ACR_PASSWORD


def decide(*, user: User, client: Any, sso: SsoSession, kind: str, acr_values: str) -> Outcome:
    """Decide whether to issue a code now or send the user through a step first."""
    if user.password_must_change:
        return Outcome(
            interaction=Interaction.CHANGE_PASSWORD,
            error_code=50055,
            reason="The password was set by an administrator and must be changed.",
            acr=acr_for(sso),
        )
    return Outcome(acr=acr_for(sso))
