"""The frozen values a caller hands to the engine: the sign-in and what is known about its IP."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from risk.netutil import parse_ip


class SignInKind(StrEnum):
    """What happened at this step of a sign-in."""

    PASSWORD = "password"
    """A password was typed; `password_valid` says whether it was right."""
    SSO = "sso"
    """An existing session was reused (no password typed, e.g. prompt=none)."""
    MFA_FAILED = "mfa_failed"
    """A wrong second-factor code was entered after a correct password."""
    MFA_PASSED = "mfa_passed"
    """A correct second-factor code was entered."""


def check_utc(name: str, value: datetime) -> None:
    """Raise ValueError unless `value` is a timezone-aware datetime at UTC offset zero."""
    if value.tzinfo is None or value.utcoffset() != timedelta(0):
        raise ValueError(f"{name} must be a timezone-aware UTC datetime, got {value!r}")


@dataclass(frozen=True, slots=True)
class IpInfo:
    """What the feeds (or a replayed log) say about one IP address; None where unknown."""

    ip: str
    country: str | None = None
    region: str | None = None
    city: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    accuracy_radius_km: float | None = None
    asn: int | None = None
    asn_org: str | None = None
    is_anonymous: bool = False
    is_anonymous_vpn: bool = False
    is_tor_exit_node: bool = False
    is_public_proxy: bool = False
    is_residential_proxy: bool = False
    is_hosting_provider: bool = False
    is_private: bool = False

    @property
    def has_location(self) -> bool:
        """True when latitude and longitude are both known."""
        return self.latitude is not None and self.longitude is not None

    @property
    def place(self) -> str:
        """A short human label such as "London, GB" (or the IP when nothing is known)."""
        parts = [p for p in (self.city, self.country) if p]
        return ", ".join(parts) if parts else self.ip


@dataclass(frozen=True, slots=True)
class SignInContext:
    """One sign-in attempt as idp/ saw it; the password never appears in repr."""

    correlation_id: str
    time: datetime
    ip: str
    user_agent: str
    client_id: str
    username: str
    user_id: str | None
    kind: SignInKind = SignInKind.PASSWORD
    password_valid: bool | None = None
    device_id: str | None = None
    password: str | None = field(default=None, repr=False)
    ip_info: IpInfo | None = None

    def __post_init__(self) -> None:
        check_utc("SignInContext.time", self.time)
        try:
            parse_ip(self.ip)
        except ValueError:
            raise ValueError(f"SignInContext.ip must be an IP address, got {self.ip!r}") from None
        if self.password is not None and self.password_valid is None:
            raise ValueError("SignInContext.password_valid must be set when a password is given")
