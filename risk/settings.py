"""Every tunable of the risk engine, validated once at start-up."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from risk.errors import RiskConfigError
from risk.levels import Level
from risk.novelty import KINDS, NoveltyModel
from risk.vocabulary import RiskEventType

DEFAULT_LEVELS: Mapping[RiskEventType, Level] = {
    RiskEventType.LEAKED_CREDENTIALS: Level.HIGH,
    RiskEventType.ANONYMIZED_IP_ADDRESS: Level.MEDIUM,
    RiskEventType.MALICIOUS_IP_ADDRESS: Level.MEDIUM,
    RiskEventType.MALWARE_INFECTED_IP_ADDRESS: Level.LOW,
    RiskEventType.SUSPICIOUS_IP_ADDRESS: Level.MEDIUM,
    RiskEventType.PASSWORD_SPRAY: Level.HIGH,
    RiskEventType.NEW_COUNTRY: Level.LOW,
    RiskEventType.MFA_FRAUD: Level.MEDIUM,
    RiskEventType.ANOMALOUS_TOKEN: Level.HIGH,
    RiskEventType.ADMIN_CONFIRMED_USER_COMPROMISED: Level.HIGH,
    RiskEventType.USER_REPORTED_SUSPICIOUS_ACTIVITY: Level.HIGH,
}
"""Levels of the detections that have one fixed level; `levels` in config overrides them.

unlikelyTravel and unfamiliarFeatures are graded by their own thresholds instead.
"""

_SEEN_LEVELS = (Level.LOW, Level.MEDIUM, Level.HIGH)


@dataclass(frozen=True, slots=True)
class RiskSettings:
    """The `[risk]` table: feed paths, thresholds and the aggregation rule, with defaults."""

    geoip_city_db: str = ""
    geoip_asn_db: str = ""
    anonymous_ip_db: str = ""
    anonymous_ip_list: str = ""
    malicious_ip_list: str = ""
    infected_ip_list: str = ""
    leaked_passwords: str = ""
    trusted_locations: tuple[str, ...] = ()
    geoip_cache_size: int = 65_536
    # How often feed files are checked for a newer version (seconds).
    feed_check_seconds: int = 5

    impossible_travel_kmh: float = 900.0
    impossible_travel_high_factor: float = 3.0
    impossible_travel_min_distance_km: float = 100.0
    # Too fast, but to a network and city the user already signs in from: not flagged. The
    # user is known at both places, and a corporate VPN, a carrier's gateway or GeoIP
    # placing one line in two cities flips between them faster than anyone flies.
    impossible_travel_skip_familiar: bool = True

    learning_period_days: int = 14
    learning_min_sign_ins: int = 10
    # unfamiliarFeatures (risk/novelty.py): a level needs both a score among the newest
    # `_share` of counted sign-ins and at least `_bits` of surprise (2**bits reads "about
    # one in that many sign-ins looks this new"); shares apply once `novelty_min_counted`
    # sign-ins are counted. At medium the bits are what binds in a calm organisation: a
    # targeted takeover's one new thing, a network in the user's own city, weighs 7 to 10
    # bits, and a bar of 8 left half of them out; the share caps what a busy one pays.
    unfamiliar_low_share: float = 0.01
    unfamiliar_medium_share: float = 0.006
    unfamiliar_high_share: float = 0.0002
    unfamiliar_low_bits: float = 5.0
    unfamiliar_medium_bits: float = 7.0
    unfamiliar_high_bits: float = 12.0
    # Users still learning are judged among the newest `_share` times this of the learning
    # users' counted sign-ins: a takeover of a new account brings what a new user's own
    # sign-ins bring, so their newest sign-ins are a bar few takeovers clear.
    unfamiliar_learning_share_scale: float = 2.0
    novelty_min_counted: int = 1_000
    novelty_prior_weight: float = 500.0
    novelty_user_weight: float = 10.0
    novelty_forget_days: int = 365
    novelty_org_common_users: int = 3
    # Another user counts as having a network only once they kept it: used it again this
    # many days or more after its first use (0: any use counts). An attacker's network,
    # used once by each account they got into, must not become "one colleagues use".
    novelty_org_network_kept_days: float = 1.0
    novelty_weights: tuple[tuple[str, float], ...] = ()
    # The user's own history (risk/novelty.py): counted from this many days after their first
    # sign-in, and scaling a property's weight by at most this many bits up / down.
    novelty_settle_days: int = 14
    novelty_user_max_bits: float = 4.0
    novelty_user_min_bits: float = 4.0
    # How much the threat model's takeover side counts (risk.novelty.ATTACKERS): 0 not at
    # all (the score is then the new properties' bits alone), up to 4. The default counts it
    # twice: summing the new properties' bits as if independent overstates how rare a
    # sign-in with several new properties that come together (a trip) is.
    novelty_takeover_weight: float = 2.0
    # anonymizedIPAddress for an IP the Anonymous-IP database marks as a hosting provider
    # (where VPN exits and attack tooling run); "none" ignores the flag.
    hosting_provider_level: Level = Level.LOW

    suspicious_ip_window_minutes: int = 60
    suspicious_ip_min_accounts: int = 10
    # Wrong passwords for one account from one IP before its right password counts as a
    # guessed one (the smart lockout's default threshold).
    brute_force_min_failures: int = 10
    password_spray_window_minutes: int = 60
    password_spray_min_accounts: int = 5

    mfa_fraud_window_minutes: int = 15
    mfa_fraud_min_failures: int = 5

    low_risk_age_out_days: int = 180

    aggregate_raise_min_count: int = 2
    aggregate_raise_min_level: Level = Level.MEDIUM
    trusted_location_lower_steps: int = 1
    detector_error_level: Level = Level.MEDIUM

    levels: tuple[tuple[RiskEventType, Level], ...] = ()
    disabled_detections: tuple[RiskEventType, ...] = ()

    def __post_init__(self) -> None:
        low, medium, high = (
            self.unfamiliar_low_bits,
            self.unfamiliar_medium_bits,
            self.unfamiliar_high_bits,
        )
        if not low <= medium <= high:
            raise RiskConfigError(
                "risk.unfamiliar_medium_bits: unfamiliar_low_bits <= unfamiliar_medium_bits "
                f"<= unfamiliar_high_bits must hold, got {low:g}, {medium:g}, {high:g}"
            )
        low, medium, high = (
            self.unfamiliar_low_share,
            self.unfamiliar_medium_share,
            self.unfamiliar_high_share,
        )
        if not low >= medium >= high:
            raise RiskConfigError(
                "risk.unfamiliar_medium_share: unfamiliar_low_share >= unfamiliar_medium_share "
                f">= unfamiliar_high_share must hold, got {low:g}, {medium:g}, {high:g}"
            )

    def unfamiliar_threshold(self, level: Level) -> tuple[float, float]:
        """`(bits, share)` for reaching `level` in unfamiliarFeatures."""
        return {
            Level.LOW: (self.unfamiliar_low_bits, self.unfamiliar_low_share),
            Level.MEDIUM: (self.unfamiliar_medium_bits, self.unfamiliar_medium_share),
            Level.HIGH: (self.unfamiliar_high_bits, self.unfamiliar_high_share),
        }[level]

    @property
    def novelty_model(self) -> NoveltyModel:
        """The weighting tunables for risk.novelty."""
        return NoveltyModel(
            prior_weight=self.novelty_prior_weight,
            user_weight=self.novelty_user_weight,
            forget_days=self.novelty_forget_days,
            org_common_users=self.novelty_org_common_users,
            org_network_kept_days=self.novelty_org_network_kept_days,
            weights=dict(self.novelty_weights),
            settle_days=self.novelty_settle_days,
            user_max_bits=self.novelty_user_max_bits,
            user_min_bits=self.novelty_user_min_bits,
            takeover_weight=self.novelty_takeover_weight,
        )

    def level_for(self, event_type: RiskEventType) -> Level:
        """The configured level of a fixed-level detection."""
        for configured_type, level in self.levels:
            if configured_type == event_type:
                return level
        return DEFAULT_LEVELS[event_type]

    def is_enabled(self, event_type: RiskEventType) -> bool:
        """False when `disabled_detections` turns this detection off."""
        return event_type not in self.disabled_detections

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> RiskSettings:
        """Validated settings from the `[risk]` table; RiskConfigError names the first bad key.

        Strings are accepted where they parse (numbers, comma-separated lists), because
        environment overrides arrive as text.
        """
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in data.items():
            if key in _RENAMED:
                raise RiskConfigError(f"risk.{key}: {_RENAMED[key]}")
            if key not in known:
                raise RiskConfigError(
                    f"risk.{key}: unknown key; allowed keys are {', '.join(sorted(known))}"
                )
            values[key] = _PARSERS[key](key, raw)
        return cls(**values)


def _fail(key: str, allowed: str, raw: object) -> RiskConfigError:
    shown = repr(raw)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return RiskConfigError(f"risk.{key}: {allowed}, got {shown}")


def _path(key: str, raw: object) -> str:
    if not isinstance(raw, str) or "\n" in raw:
        raise _fail(key, 'must be a file path string ("" = not configured)', raw)
    return raw.strip()


def _as_number(raw: object) -> float | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw.strip())
        except ValueError:
            return None
    return None


def _boolean(key: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = raw.strip().lower() if isinstance(raw, str) else None
    if text in ("true", "false"):
        return text == "true"
    raise _fail(key, "must be true or false", raw)


def _number(low: float, high: float) -> Callable[[str, object], float]:
    def parse(key: str, raw: object) -> float:
        value = _as_number(raw)
        if value is None or not math.isfinite(value) or not low <= value <= high:
            raise _fail(key, f"must be a number between {low:g} and {high:g}", raw)
        return value

    return parse


def _whole(low: int, high: int) -> Callable[[str, object], int]:
    def parse(key: str, raw: object) -> int:
        value = _as_number(raw)
        if value is None or not value.is_integer() or not low <= value <= high:
            raise _fail(key, f"must be a whole number between {low} and {high}", raw)
        return int(value)

    return parse


def _string_list(raw: object) -> list[object] | None:
    if isinstance(raw, str):
        return [part.strip() for part in raw.split(",") if part.strip()]
    if isinstance(raw, list | tuple):
        return list(raw)
    return None


def _cidrs(key: str, raw: object) -> tuple[str, ...]:
    allowed = 'must be a list of CIDR strings such as "203.0.113.0/24"'
    items = _string_list(raw)
    if items is None:
        raise _fail(key, allowed, raw)
    out = []
    for item in items:
        try:
            if not isinstance(item, str):
                raise ValueError
            out.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError:
            raise _fail(key, allowed, item) from None
    return tuple(out)


def _level(choices: tuple[Level, ...]) -> Callable[[str, object], Level]:
    def parse(key: str, raw: object) -> Level:
        allowed = f"must be one of {', '.join(c.value for c in choices)}"
        if not isinstance(raw, str | Level):
            raise _fail(key, allowed, raw)
        try:
            level = raw if isinstance(raw, Level) else Level.parse(raw)
        except ValueError:
            raise _fail(key, allowed, raw) from None
        if level not in choices:
            raise _fail(key, allowed, raw)
        return level

    return parse


def _levels(key: str, raw: object) -> tuple[tuple[RiskEventType, Level], ...]:
    if not isinstance(raw, Mapping):
        raise _fail(key, "must be a table of riskEventType = level", raw)
    parse_level = _level(_SEEN_LEVELS)
    out = []
    for name, value in raw.items():
        event_type = _event_type(f"{key}.{name}", name, DEFAULT_LEVELS)
        out.append((event_type, parse_level(f"{key}.{name}", value)))
    return tuple(sorted(out))


def _weights(key: str, raw: object) -> tuple[tuple[str, float], ...]:
    allowed = f"must be a table of kind = bits (0 to 64) with kinds among {', '.join(KINDS)}"
    if not isinstance(raw, Mapping):
        raise _fail(key, allowed, raw)
    parse_bits = _number(0, 64)
    out = []
    for name, value in raw.items():
        kind = str(name).strip().casefold()
        if kind not in KINDS:
            raise _fail(f"{key}.{name}", allowed, name)
        out.append((kind, parse_bits(f"{key}.{name}", value)))
    return tuple(sorted(out))


_RENAMED = {
    name: (
        "unfamiliarFeatures now weighs new properties in bits instead of counting them; "
        f"use unfamiliar_{name.split('_')[1]}_bits"
    )
    for name in ("unfamiliar_low_at", "unfamiliar_medium_at", "unfamiliar_high_at")
}


def _event_type(key: str, raw: object, among: Mapping[RiskEventType, Level]) -> RiskEventType:
    # Case-insensitive, since environment variable names arrive lower-cased.
    by_name = {t.value.casefold(): t for t in among}
    if not isinstance(raw, str) or raw.strip().casefold() not in by_name:
        names = ", ".join(sorted(t.value for t in among))
        raise _fail(key, f"must be one of {names}", raw)
    return by_name[raw.strip().casefold()]


def _event_types(key: str, raw: object) -> tuple[RiskEventType, ...]:
    items = _string_list(raw)
    if items is None:
        raise _fail(key, "must be a list of riskEventType names", raw)
    every = dict.fromkeys(RiskEventType, Level.NONE)
    return tuple(_event_type(key, item, every) for item in items)


_PARSERS: dict[str, Callable[[str, object], object]] = {
    "geoip_city_db": _path,
    "geoip_asn_db": _path,
    "anonymous_ip_db": _path,
    "anonymous_ip_list": _path,
    "malicious_ip_list": _path,
    "infected_ip_list": _path,
    "leaked_passwords": _path,
    "trusted_locations": _cidrs,
    "geoip_cache_size": _whole(0, 10_000_000),
    "feed_check_seconds": _whole(1, 86_400),
    "impossible_travel_kmh": _number(100, 20_000),
    "impossible_travel_high_factor": _number(1, 100),
    "impossible_travel_min_distance_km": _number(0, 20_000),
    "impossible_travel_skip_familiar": _boolean,
    "learning_period_days": _whole(0, 365),
    "learning_min_sign_ins": _whole(0, 10_000),
    "unfamiliar_low_bits": _number(0, 64),
    "unfamiliar_medium_bits": _number(0, 64),
    "unfamiliar_high_bits": _number(0, 64),
    "unfamiliar_low_share": _number(0, 1),
    "unfamiliar_medium_share": _number(0, 1),
    "unfamiliar_high_share": _number(0, 1),
    "unfamiliar_learning_share_scale": _number(0, 100),
    "novelty_min_counted": _whole(0, 1_000_000_000),
    "novelty_prior_weight": _number(1, 1_000_000),
    "novelty_user_weight": _number(0, 10_000),
    "novelty_forget_days": _whole(1, 3_650),
    "novelty_org_common_users": _whole(0, 1_000_000),
    "novelty_org_network_kept_days": _number(0, 365),
    "novelty_weights": _weights,
    "novelty_settle_days": _whole(0, 3_650),
    "novelty_user_max_bits": _number(0, 16),
    "novelty_user_min_bits": _number(0, 16),
    "novelty_takeover_weight": _number(0, 4),
    "hosting_provider_level": _level((Level.NONE, *_SEEN_LEVELS)),
    "suspicious_ip_window_minutes": _whole(1, 10_080),
    "suspicious_ip_min_accounts": _whole(2, 1_000_000),
    "brute_force_min_failures": _whole(2, 1_000_000),
    "password_spray_window_minutes": _whole(1, 10_080),
    "password_spray_min_accounts": _whole(2, 1_000_000),
    "mfa_fraud_window_minutes": _whole(1, 1_440),
    "mfa_fraud_min_failures": _whole(1, 1_000),
    "low_risk_age_out_days": _whole(1, 3_650),
    "aggregate_raise_min_count": _whole(0, 12),
    "aggregate_raise_min_level": _level(_SEEN_LEVELS),
    "trusted_location_lower_steps": _whole(0, 3),
    "detector_error_level": _level((Level.NONE, *_SEEN_LEVELS)),
    "levels": _levels,
    "disabled_detections": _event_types,
}
