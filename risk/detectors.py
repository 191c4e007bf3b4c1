"""The real-time detectors; each returns a Detection, NotEvaluated, or None (nothing found)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from functools import partial
from typing import Protocol

from risk.assessment import NotEvaluated
from risk.context import IpInfo, SignInContext, SignInKind
from risk.detections import Detection
from risk.features import Feature, FeatureKind
from risk.feeds import ANONYMOUS_IP_LIST, INFECTED_IP_LIST, MALICIOUS_IP_LIST, Feeds
from risk.geo import MIN_ELAPSED_MINUTES, distance_km, speed_kmh
from risk.levels import Level
from risk.novelty import Novelty, NoveltyCounts, Stage, unused_days, weigh
from risk.repository import HistoryRepository, UserProfile
from risk.settings import RiskSettings
from risk.vocabulary import RiskEventType


class DetectorEnv:
    """What detectors share for one evaluation: settings, feeds, history and the resolved IP."""

    __slots__ = (
        "settings",
        "feeds",
        "repository",
        "ip_info",
        "trusted_location",
        "features",
        "novelty",
        "_profile",
        "_failed_accounts",
    )

    def __init__(
        self,
        settings: RiskSettings,
        feeds: Feeds,
        repository: HistoryRepository,
        ip_info: IpInfo,
        trusted_location: bool,
        features: frozenset[Feature],
    ) -> None:
        self.settings = settings
        self.feeds = feeds
        self.repository = repository
        self.ip_info = ip_info
        self.trusted_location = trusted_location
        self.features = features
        self.novelty: Novelty | None = None
        """Set by unfamiliarFeatures once the user is past learning; counted by record()."""
        self._profile: dict[str, UserProfile] = {}
        self._failed_accounts: dict[tuple[str, datetime], int] = {}

    def profile(self, user_id: str) -> UserProfile:
        """The user's profile, read from the repository at most once per evaluation."""
        if user_id not in self._profile:
            self._profile[user_id] = self.repository.user_profile(user_id)
        return self._profile[user_id]

    def failed_accounts(self, ip: str, since: datetime) -> int:
        """Distinct accounts with wrong passwords from `ip`, asked at most once per evaluation."""
        key = (ip, since)
        if key not in self._failed_accounts:
            self._failed_accounts[key] = self.repository.failed_accounts_from_ip(ip, since)
        return self._failed_accounts[key]


Result = Detection | NotEvaluated | None


class Detector(Protocol):
    """The protocol every detector follows: a stable name and one evaluate method."""

    name: str

    def evaluate(self, ctx: SignInContext, env: DetectorEnv) -> Result:
        """A Detection when it fires, NotEvaluated when it lacks data, None otherwise."""
        ...


class LeakedCredentials:
    """The correct password just typed is in the Pwned Passwords file (user risk)."""

    name = RiskEventType.LEAKED_CREDENTIALS.value

    def evaluate(self, ctx: SignInContext, env: DetectorEnv) -> Result:
        """Fires when the valid password typed has been seen in a breach."""
        # Wrong guesses are not the user's password, so they must not flag the user.
        corpus = env.feeds.leaked_passwords
        if ctx.password is None or ctx.password_valid is not True:
            return None
        if corpus is None:
            return NotEvaluated(self.name, "leaked_passwords is not configured")
        seen = corpus.count(ctx.password)
        if not seen:
            return None
        level = env.settings.level_for(RiskEventType.LEAKED_CREDENTIALS)
        return Detection.of(RiskEventType.LEAKED_CREDENTIALS, level, times_seen=seen)


_ANONYMOUS_FLAGS = (
    ("is_tor_exit_node", "Tor exit node"),
    ("is_anonymous_vpn", "anonymous VPN"),
    ("is_public_proxy", "public proxy"),
    ("is_residential_proxy", "residential proxy"),
)


class AnonymizedIpAddress:
    """The IP is an anonymizer per the Anonymous-IP database or the plain anonymous list.

    A hosting provider (the database's `is_hosting_provider`, which also sets its
    `is_anonymous`: where unnamed VPN exits and attack tools run, but also company cloud
    proxies) fires at `hosting_provider_level` instead, unless a stronger flag or the
    anonymous list says more.
    """

    name = RiskEventType.ANONYMIZED_IP_ADDRESS.value

    def evaluate(self, ctx: SignInContext, env: DetectorEnv) -> Result:
        """Fires on Tor exits, anonymous VPNs, public and residential proxies, hosting."""
        info = env.ip_info
        level = env.settings.level_for(RiskEventType.ANONYMIZED_IP_ADDRESS)
        flags = tuple(label for attr, label in _ANONYMOUS_FLAGS if getattr(info, attr))
        if info.is_anonymous and (flags or not info.is_hosting_provider):
            flags += ("anonymous",)
        if flags:
            return Detection.of(
                RiskEventType.ANONYMIZED_IP_ADDRESS,
                level,
                ip=info.ip,
                source="anonymous_ip_db",
                flags=flags,
            )
        entry = env.feeds.match_list(ANONYMOUS_IP_LIST, info.ip)
        if entry is not None:
            return Detection.of(
                RiskEventType.ANONYMIZED_IP_ADDRESS,
                level,
                ip=info.ip,
                source=ANONYMOUS_IP_LIST,
                list=ANONYMOUS_IP_LIST,
                entry=entry,
            )
        hosting = env.settings.hosting_provider_level
        if info.is_hosting_provider and hosting is not Level.NONE:
            return Detection.of(
                RiskEventType.ANONYMIZED_IP_ADDRESS,
                hosting,
                ip=info.ip,
                source="anonymous_ip_db",
                flags=("hosting provider",),
            )
        return None


class IpListDetector:
    """The IP is in one configured list file (malicious or malware-infected hosts)."""

    def __init__(self, event_type: RiskEventType, list_key: str) -> None:
        self.event_type = event_type
        self.list_key = list_key
        self.name = event_type.value

    def evaluate(self, ctx: SignInContext, env: DetectorEnv) -> Result:
        """Fires when the list has an entry containing the IP."""
        entry = env.feeds.match_list(self.list_key, env.ip_info.ip)
        if entry is None:
            return None
        level = env.settings.level_for(self.event_type)
        return Detection.of(
            self.event_type, level, ip=env.ip_info.ip, list=self.list_key, entry=entry
        )


def malicious_ip_address() -> IpListDetector:
    """The maliciousIPAddress detector over `malicious_ip_list`."""
    return IpListDetector(RiskEventType.MALICIOUS_IP_ADDRESS, MALICIOUS_IP_LIST)


def malware_infected_ip_address() -> IpListDetector:
    """The malwareInfectedIPAddress detector over `infected_ip_list`."""
    return IpListDetector(RiskEventType.MALWARE_INFECTED_IP_ADDRESS, INFECTED_IP_LIST)


class SuspiciousIpAddress:
    """The IP recently failed sign-ins for many distinct accounts, or guessed at this
    account until its right password came (our own telemetry)."""

    name = RiskEventType.SUSPICIOUS_IP_ADDRESS.value

    def evaluate(self, ctx: SignInContext, env: DetectorEnv) -> Result:
        """Fires when earlier wrong passwords from this IP reach the account threshold, or
        when a right password follows a run of wrong ones for the same account."""
        settings = env.settings
        window = settings.suspicious_ip_window_minutes
        since = ctx.time - timedelta(minutes=window)
        failed = env.failed_accounts(env.ip_info.ip, since)
        if failed < settings.suspicious_ip_min_accounts:
            # No account failed from this IP: then neither did this one (the usual case,
            # and a query fewer).
            return self._guessed(ctx, env, since) if failed else None
        return Detection.of(
            RiskEventType.SUSPICIOUS_IP_ADDRESS,
            settings.level_for(RiskEventType.SUSPICIOUS_IP_ADDRESS),
            ip=env.ip_info.ip,
            failed_accounts=failed,
            window_minutes=window,
        )

    @staticmethod
    def _guessed(ctx: SignInContext, env: DetectorEnv, since: datetime) -> Result:
        if ctx.kind != SignInKind.PASSWORD or ctx.password_valid is not True or ctx.user_id is None:
            return None
        settings = env.settings
        guesses = env.repository.failed_passwords(ctx.user_id, env.ip_info.ip, since)
        if guesses < settings.brute_force_min_failures:
            return None
        return Detection.of(
            RiskEventType.SUSPICIOUS_IP_ADDRESS,
            settings.level_for(RiskEventType.SUSPICIOUS_IP_ADDRESS),
            ip=env.ip_info.ip,
            failed_passwords_for_account=guesses,
            window_minutes=settings.suspicious_ip_window_minutes,
        )


class PasswordSpray:
    """A correct password arrives from an IP that is failing for many accounts right now."""

    name = RiskEventType.PASSWORD_SPRAY.value

    def evaluate(self, ctx: SignInContext, env: DetectorEnv) -> Result:
        """Fires on a valid password from an IP at or over the spray threshold."""
        if ctx.kind != SignInKind.PASSWORD or ctx.password_valid is not True:
            return None
        settings = env.settings
        window = settings.password_spray_window_minutes
        since = ctx.time - timedelta(minutes=window)
        failed = env.failed_accounts(env.ip_info.ip, since)
        if failed < settings.password_spray_min_accounts:
            return None
        return Detection.of(
            RiskEventType.PASSWORD_SPRAY,
            settings.level_for(RiskEventType.PASSWORD_SPRAY),
            ip=env.ip_info.ip,
            failed_accounts=failed,
            window_minutes=window,
        )


def _no_location_reason(info: IpInfo) -> str:
    return "private IP address" if info.is_private else "no location for this IP"


class UnlikelyTravel:
    """Speed from the previous successful sign-in exceeds `impossible_travel_kmh`.

    The distance is first reduced by both locations' accuracy radii, so that GeoIP's
    uncertainty never counts as travel. Medium above the limit; high at or beyond
    `impossible_travel_high_factor` times it. With `impossible_travel_skip_familiar`, a
    sign-in from a network and a city both in the user's profile is not judged: the user
    is known at both ends, and an office VPN, a carrier's gateway or a line GeoIP puts in
    another city flips between them faster than anyone flies.
    """

    name = RiskEventType.UNLIKELY_TRAVEL.value

    def evaluate(self, ctx: SignInContext, env: DetectorEnv) -> Result:
        """Compares this sign-in with the user's last successful one."""
        settings, here = env.settings, env.ip_info
        if ctx.user_id is None:
            return NotEvaluated(self.name, "no such user")
        if env.trusted_location:
            return NotEvaluated(self.name, "sign-in from a trusted location")
        if here.latitude is None or here.longitude is None:
            return NotEvaluated(self.name, _no_location_reason(here))
        before = env.repository.last_successful_sign_in(ctx.user_id, ctx.time)
        if before is None:
            return NotEvaluated(self.name, "no previous successful sign-in")
        if before.trusted_location:
            return NotEvaluated(self.name, "previous sign-in from a trusted location")
        if before.latitude is None or before.longitude is None:
            return NotEvaluated(self.name, "no location for the previous sign-in")
        raw_km = distance_km(before.latitude, before.longitude, here.latitude, here.longitude)
        allowance_km = (before.accuracy_radius_km or 0) + (here.accuracy_radius_km or 0)
        net_km = max(raw_km - allowance_km, 0.0)
        if net_km < settings.impossible_travel_min_distance_km:
            return None
        minutes = (ctx.time - before.time).total_seconds() / 60.0
        speed = speed_kmh(net_km, minutes)
        limit = settings.impossible_travel_kmh
        if speed <= limit:
            return None
        if settings.impossible_travel_skip_familiar and _familiar_place(ctx, env):
            return NotEvaluated(
                self.name,
                f"{speed:,.0f} km/h from {before.place or before.ip}, but to a network and "
                "city this user already signs in from",
            )
        high = speed >= limit * settings.impossible_travel_high_factor
        return Detection.of(
            RiskEventType.UNLIKELY_TRAVEL,
            Level.HIGH if high else Level.MEDIUM,
            from_ip=before.ip,
            from_place=before.place,
            to_ip=here.ip,
            to_place=here.place,
            distance_km=round(raw_km, 1),
            allowance_km=round(allowance_km, 1),
            minutes=round(max(minutes, MIN_ELAPSED_MINUTES), 1),
            speed_kmh=round(speed, 1),
            max_speed_kmh=limit,
        )


def _familiar_place(ctx: SignInContext, env: DetectorEnv) -> bool:
    """Whether the sign-in's network and city are both in the user's profile, used within
    `novelty_forget_days` (as unfamiliarFeatures counts them familiar)."""
    assert ctx.user_id is not None
    kinds = (FeatureKind.ASN.value, FeatureKind.CITY.value)
    here = [feature for feature in env.features if feature[0] in kinds]
    if len(here) < len(kinds):
        return False
    profile = env.profile(ctx.user_id)
    for feature in here:
        days = unused_days(profile, feature, ctx.time)
        if days is None or days >= env.settings.novelty_forget_days:
            return False
    return True


class UnfamiliarFeatures:
    """New properties for this user, weighed by how rarely sign-ins show them new.

    Each new property of the sign-in (ASN, country, city, IP /24 or /48, browser family,
    OS family, device cookie) weighs `-log2` of how often counted sign-ins show that kind
    new, scaled by the user's own habits (risk/novelty.py). A level is reached when the
    sum of bits is among the newest `unfamiliar_<level>_share` of counted sign-ins and at
    least `unfamiliar_<level>_bits`; until `novelty_min_counted` sign-ins are counted, the
    bits alone decide. Users within the learning period are compared with other learning
    users, at `unfamiliar_learning_share_scale` times the shares. A missing device cookie
    counts as a new device only for users who have had one.
    """

    name = RiskEventType.UNFAMILIAR_FEATURES.value

    def evaluate(self, ctx: SignInContext, env: DetectorEnv) -> Result:
        """Weighs this sign-in's properties absent from the user's profile."""
        settings = env.settings
        if ctx.user_id is None:
            return NotEvaluated(self.name, "no such user")
        profile = env.profile(ctx.user_id)
        if profile.first_seen is None or not profile.successful_sign_ins:
            return NotEvaluated(self.name, "no previous successful sign-in")
        learned_days = (ctx.time - profile.first_seen).total_seconds() / 86_400
        learning = (
            learned_days < settings.learning_period_days
            or profile.successful_sign_ins < settings.learning_min_sign_ins
        )
        stage = Stage.LEARNING if learning else Stage.LEARNED
        device = FeatureKind.DEVICE.value
        counts = env.repository.novelty_counts()
        # In a young organisation every value is rare: rarity counts once sign-ins do.
        enough = counts.counted(stage) >= settings.novelty_min_counted
        model = settings.novelty_model
        # Counting other users stops where the answer no longer changes.
        org_users = partial(env.repository.users_with_feature, at_most=model.org_users_counted)
        novelty = env.novelty = weigh(
            env.features,
            profile,
            counts,
            model,
            ctx.time,
            stage=stage,
            device_missing=ctx.device_id is None
            and any(kind == device for kind, _ in profile.features),
            org_users=org_users if enough else None,
            org_unconfirmed_days=env.repository.unconfirmed_kept_days,
        )
        if not novelty.new:
            return None
        thresholds = _novelty_thresholds(counts, stage, settings, enough=enough)
        level = next((lvl for lvl, at in thresholds if novelty.bits >= at), None)
        if level is None:
            return None
        share = counts.share_at_or_above(stage, novelty.bits)
        return Detection.of(
            RiskEventType.UNFAMILIAR_FEATURES,
            level,
            ip=env.ip_info.ip,
            bits=round(novelty.bits, 1),
            one_in=_one_in(novelty.newness),
            share_this_new=None if share is None else round(share, 6),
            stage=stage.value,
            new_count=len(novelty.new),
            new_features=tuple(
                p.explain(profile.successful_sign_ins)
                for p in sorted(novelty.new, key=lambda p: -p.bits)
            )
            + tuple(filter(None, [novelty.explain_takeovers()])),
            takeover_bits=round(novelty.takeover_bits, 1),
            learned_sign_ins=profile.successful_sign_ins,
            # None: the level cannot be reached yet (learning users, too few counted).
            **{
                f"{lvl.value}_bits": round(at, 2) if math.isfinite(at) else None
                for lvl, at in reversed(thresholds)
            },
        )


def _novelty_thresholds(
    counts: NoveltyCounts, stage: Stage, settings: RiskSettings, *, enough: bool
) -> tuple[tuple[Level, float], ...]:
    """(level, bits to reach it), highest level first; `enough`: at least
    `novelty_min_counted` sign-ins of `stage` are counted."""
    out = []
    for level in (Level.HIGH, Level.MEDIUM, Level.LOW):
        floor, share = settings.unfamiliar_threshold(level)
        if stage is Stage.LEARNING:
            share = min(1.0, share * settings.unfamiliar_learning_share_scale)
        at, _ = counts.threshold(stage, share)
        if at is not None and enough:
            floor = max(floor, at)
        elif stage is Stage.LEARNING:
            # New users bring new properties all the time: until the organisation's own
            # learning sign-ins say what is unusual for them, none is judged unusual.
            floor = math.inf
        out.append((level, floor))
    return tuple(out)


def _one_in(bits: float) -> int:
    """2**bits, rounded and capped so evidence stays a plain, readable number."""
    return round(2 ** min(bits, 40))


class NewCountry:
    """First sign-in from a country for this user and for the whole organisation."""

    name = RiskEventType.NEW_COUNTRY.value

    def evaluate(self, ctx: SignInContext, env: DetectorEnv) -> Result:
        """Fires when neither the user nor anyone else has signed in from here."""
        country = env.ip_info.country
        if ctx.user_id is None:
            return NotEvaluated(self.name, "no such user")
        if not country:
            return NotEvaluated(self.name, _no_location_reason(env.ip_info))
        profile = env.profile(ctx.user_id)
        if profile.successful_sign_ins == 0:
            return NotEvaluated(self.name, "no previous successful sign-in")
        if country in profile.countries or env.repository.org_has_seen_country(country):
            return None
        level = env.settings.level_for(RiskEventType.NEW_COUNTRY)
        return Detection.of(RiskEventType.NEW_COUNTRY, level, ip=env.ip_info.ip, country=country)


class MfaFraud:
    """Repeated wrong second-factor codes after a correct password (user risk)."""

    name = RiskEventType.MFA_FRAUD.value

    def evaluate(self, ctx: SignInContext, env: DetectorEnv) -> Result:
        """Fires on a wrong code that brings the window's count to `mfa_fraud_min_failures`."""
        if ctx.kind != SignInKind.MFA_FAILED or ctx.user_id is None:
            return None
        settings = env.settings
        window = settings.mfa_fraud_window_minutes
        since = ctx.time - timedelta(minutes=window)
        # The attempt being evaluated is not recorded yet, so it adds one.
        failed = env.repository.failed_mfa_count(ctx.user_id, since) + 1
        if failed < settings.mfa_fraud_min_failures:
            return None
        return Detection.of(
            RiskEventType.MFA_FRAUD,
            settings.level_for(RiskEventType.MFA_FRAUD),
            ip=env.ip_info.ip,
            failed_codes=failed,
            window_minutes=window,
        )


def default_detectors(settings: RiskSettings, feeds: Feeds) -> tuple[Detector, ...]:
    """Every built-in detector that is enabled and whose feed is configured."""
    candidates: list[tuple[Detector, bool]] = [
        (LeakedCredentials(), feeds.leaked_passwords is not None),
        (AnonymizedIpAddress(), True),
        (malicious_ip_address(), MALICIOUS_IP_LIST in feeds.ip_lists),
        (malware_infected_ip_address(), INFECTED_IP_LIST in feeds.ip_lists),
        (SuspiciousIpAddress(), True),
        (PasswordSpray(), True),
        (UnlikelyTravel(), True),
        (UnfamiliarFeatures(), True),
        (NewCountry(), True),
        (MfaFraud(), True),
    ]
    return tuple(
        detector
        for detector, available in candidates
        if available and settings.is_enabled(RiskEventType(detector.name))
    )
