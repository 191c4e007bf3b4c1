"""Detections: a stable riskEventType, a level, and the evidence that made it fire."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from risk.levels import Level
from risk.vocabulary import RiskEventType, Scope, scope_of

EvidenceValue = str | int | float | bool | None | tuple[str, ...]
"""Evidence holds plain JSON-able values only, so idp/ can store and show it as is."""

_PLAIN = (str, int, float, bool, type(None))


@dataclass(frozen=True, slots=True)
class Detection:
    """One fired detection; `evidence` is a tuple of `(name, value)` pairs."""

    risk_event_type: RiskEventType
    level: Level
    evidence: tuple[tuple[str, EvidenceValue], ...] = ()

    def __post_init__(self) -> None:
        for name, value in self.evidence:
            plain = isinstance(value, _PLAIN) or (
                isinstance(value, tuple) and all(isinstance(item, str) for item in value)
            )
            if not plain:
                raise TypeError(f"evidence {name!r} must be a plain JSON value, got {value!r}")

    @classmethod
    def of(cls, event_type: RiskEventType, level: Level, **evidence: EvidenceValue) -> Detection:
        """A detection with keyword evidence, kept in the given order."""
        return cls(event_type, level, tuple(evidence.items()))

    @property
    def scope(self) -> Scope:
        """Whether this detection counts towards sign-in risk or user risk."""
        return scope_of(self.risk_event_type)

    @property
    def evidence_dict(self) -> dict[str, object]:
        """The evidence as a JSON-ready dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.evidence}

    def describe(self) -> str:
        """Plain-language evidence for admins, e.g. "London, GB to Changchun, CN, 8,200 km ..."."""
        evidence = dict(self.evidence)
        describe = _DESCRIBERS.get(self.risk_event_type)
        return describe(evidence) if describe else self.risk_event_type.value


def anomalous_token(*, client_id: str, token_family: str, level: Level = Level.HIGH) -> Detection:
    """The detection idp/ raises when a rotated refresh token is presented again."""
    return Detection.of(
        RiskEventType.ANOMALOUS_TOKEN, level, client_id=client_id, token_family=token_family
    )


def admin_confirmed_compromised(*, admin: str, level: Level = Level.HIGH) -> Detection:
    """The detection idp/ records when an administrator confirms a user compromised."""
    return Detection.of(RiskEventType.ADMIN_CONFIRMED_USER_COMPROMISED, level, admin=admin)


def user_reported(*, event: str, level: Level = Level.HIGH) -> Detection:
    """The detection idp/ records when a user answers "this wasn't me" to an email."""
    return Detection.of(RiskEventType.USER_REPORTED_SUSPICIOUS_ACTIVITY, level, event=event)


def _num(value: object, decimals: int = 0) -> str:
    return f"{value:,.{decimals}f}" if isinstance(value, int | float) else str(value)


def _listed(e: Mapping[str, EvidenceValue]) -> str:
    return f"{e.get('ip')} is listed in {e.get('list')} as {e.get('entry')}"


def _anonymized(e: Mapping[str, EvidenceValue]) -> str:
    if e.get("source") == "anonymous_ip_db":
        flags = e.get("flags") or ()
        shown = ", ".join(flags) if isinstance(flags, tuple) else str(flags)
        return f"{e.get('ip')} is an anonymizing service ({shown}) per the Anonymous-IP database"
    return _listed(e)


def _duration(minutes: object) -> str:
    """'40 minutes', '1 minute', or under a minute in seconds."""
    if not isinstance(minutes, int | float):
        return "an unknown time"
    if minutes < 1:
        seconds = max(1, round(minutes * 60))
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    whole = round(minutes)
    return f"{_num(whole)} minute{'s' if whole != 1 else ''}"


def _travel(e: Mapping[str, EvidenceValue]) -> str:
    allowance = e.get("allowance_km")
    note = (
        f" after allowing {_num(allowance)} km for location accuracy"
        if isinstance(allowance, int | float) and allowance > 0
        else ""
    )
    return (
        f"{e.get('from_place')} to {e.get('to_place')}, {_num(e.get('distance_km'))} km "
        f"in {_duration(e.get('minutes'))} ({_num(e.get('speed_kmh'))} km/h{note})"
    )


def _unfamiliar(e: Mapping[str, EvidenceValue]) -> str:
    new = e.get("new_features") or ()
    shown = "; ".join(new) if isinstance(new, tuple) else str(new)
    bars = ", ".join(
        f"{level} at {_num(e.get(f'{level}_bits'), 1)}"
        for level in ("low", "medium", "high")
        if e.get(f"{level}_bits") is not None
    )
    return (
        f"About 1 in {_num(e.get('one_in'))} sign-ins look this new "
        f"({_num(e.get('bits'), 1)} bits; {bars or 'no level reachable yet'}): {shown}"
    )


_DESCRIBERS: dict[RiskEventType, Callable[[Mapping[str, EvidenceValue]], str]] = {
    RiskEventType.LEAKED_CREDENTIALS: lambda e: (
        "The password just typed is in the leaked-password corpus "
        f"(seen {_num(e.get('times_seen'))} times)"
    ),
    RiskEventType.ANONYMIZED_IP_ADDRESS: _anonymized,
    RiskEventType.MALICIOUS_IP_ADDRESS: _listed,
    RiskEventType.MALWARE_INFECTED_IP_ADDRESS: _listed,
    RiskEventType.SUSPICIOUS_IP_ADDRESS: lambda e: (
        f"{e.get('ip')} typed {_num(e.get('failed_passwords_for_account'))} wrong passwords "
        f"for this account in the last {_num(e.get('window_minutes'))} minutes before the "
        "right one"
        if "failed_passwords_for_account" in e
        else f"{e.get('ip')} failed sign-ins for {_num(e.get('failed_accounts'))} accounts "
        f"in the last {_num(e.get('window_minutes'))} minutes"
    ),
    RiskEventType.PASSWORD_SPRAY: lambda e: (
        f"Correct password from {e.get('ip')}, which failed sign-ins for "
        f"{_num(e.get('failed_accounts'))} accounts in the last "
        f"{_num(e.get('window_minutes'))} minutes"
    ),
    RiskEventType.UNLIKELY_TRAVEL: _travel,
    RiskEventType.UNFAMILIAR_FEATURES: _unfamiliar,
    RiskEventType.NEW_COUNTRY: lambda e: (
        f"First sign-in from {e.get('country')} for this user and for the organisation"
    ),
    RiskEventType.MFA_FRAUD: lambda e: (
        f"{_num(e.get('failed_codes'))} wrong verification codes after a correct password "
        f"in {_num(e.get('window_minutes'))} minutes"
    ),
    RiskEventType.ANOMALOUS_TOKEN: lambda e: (
        f"A rotated refresh token of client {e.get('client_id')} was presented again"
    ),
    RiskEventType.ADMIN_CONFIRMED_USER_COMPROMISED: lambda e: (
        f"Administrator {e.get('admin')} confirmed this user compromised"
    ),
    RiskEventType.USER_REPORTED_SUSPICIOUS_ACTIVITY: lambda e: (
        f"The user reported that {e.get('event')} was not them"
    ),
}
