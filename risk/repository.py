"""Sign-in history behind a small, query-shaped protocol, plus an in-memory implementation.

idp/ implements `HistoryRepository` over SQL; each read method is meant to be one indexed
query. `InMemoryHistoryRepository` serves tests, the benchmark and replay.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import TYPE_CHECKING, Protocol

from risk.context import IpInfo, SignInContext, SignInKind
from risk.features import Feature, FeatureKind
from risk.novelty import ORG_USERS_COUNTED, NoveltyCounts

if TYPE_CHECKING:
    from risk.assessment import Assessment


@dataclass(frozen=True, slots=True)
class PastSignIn:
    """Where and when a user last signed in successfully, as travel checks need it."""

    time: datetime
    ip: str
    latitude: float | None
    longitude: float | None
    accuracy_radius_km: float | None
    country: str | None
    city: str | None
    trusted_location: bool

    @property
    def place(self) -> str:
        """A short human label such as "London, GB" (or the IP when nothing is known)."""
        parts = [p for p in (self.city, self.country) if p]
        return ", ".join(parts) if parts else self.ip

    @classmethod
    def from_sign_in(cls, time: datetime, ip_info: IpInfo, trusted_location: bool) -> PastSignIn:
        """The row to store for a successful sign-in."""
        return cls(
            time=time,
            ip=ip_info.ip,
            latitude=ip_info.latitude,
            longitude=ip_info.longitude,
            accuracy_radius_km=ip_info.accuracy_radius_km,
            country=ip_info.country,
            city=ip_info.city,
            trusted_location=trusted_location,
        )


@dataclass(frozen=True, slots=True)
class UserProfile:
    """What a user's successful sign-ins taught: since when, how many, and which properties."""

    first_seen: datetime | None = None
    successful_sign_ins: int = 0
    features: frozenset[Feature] = frozenset()
    last_seen: Mapping[Feature, datetime] = field(default_factory=dict)
    """When each feature was last part of a successful sign-in (where known)."""
    first_used: Mapping[Feature, datetime] = field(default_factory=dict)
    """When each feature was first part of a successful sign-in (where known)."""

    @property
    def countries(self) -> frozenset[str]:
        """The countries this user has signed in from."""
        kind = FeatureKind.COUNTRY.value
        return frozenset(value for k, value in self.features if k == kind)


PROFILE_VALUES_PER_KIND = 50
"""A profile keeps at most this many values of each kind, the most recently seen. A client
that never keeps the device cookie (a script signing in), or a carrier that hands out a new
address block every day, would otherwise add a value with every sign-in, and every sign-in
reads the whole profile. A value dropped is new again if it comes back, as one unused for
`novelty_forget_days` is."""


_LONG_AGO = datetime.min.replace(tzinfo=UTC)


def beyond_limit(held: Collection[Feature], last_seen: Mapping[Feature, datetime]) -> list[Feature]:
    """What a profile holding `held` (last used at `last_seen`, where known) drops: per kind,
    the least recently seen values beyond PROFILE_VALUES_PER_KIND, those of unknown last
    use first."""
    dropped: list[Feature] = []
    if len(held) <= PROFILE_VALUES_PER_KIND:
        return dropped  # most profiles: no kind can be over, nothing to count
    for kind, count in Counter(kind for kind, _ in held).items():
        if count > PROFILE_VALUES_PER_KIND:
            oldest = sorted(
                (feature for feature in held if feature[0] == kind),
                key=lambda feature: (last_seen.get(feature, _LONG_AGO), feature),
            )
            dropped += oldest[: count - PROFILE_VALUES_PER_KIND]
    return dropped


class HistoryRepository(Protocol):
    """The history the detectors read, and the one write that keeps it up to date."""

    def last_successful_sign_in(self, user_id: str, before: datetime) -> PastSignIn | None:
        """The user's latest successful sign-in strictly before `before`, if any."""
        ...

    def user_profile(self, user_id: str) -> UserProfile:
        """The user's learned profile (an empty one for a user never seen)."""
        ...

    def org_has_seen_country(self, country: str) -> bool:
        """True when any user has signed in successfully from `country` (ISO code)."""
        ...

    def failed_accounts_from_ip(self, ip: str, since: datetime) -> int:
        """How many distinct existing accounts had a wrong password from `ip` at or after
        `since` (made-up user names do not count: anyone can type them)."""
        ...

    def novelty_counts(self) -> NoveltyCounts:
        """How often counted sign-ins showed each kind of property new (may lag a little)."""
        ...

    def users_with_feature(
        self, feature: Feature, kept_days: float = 0.0, at_most: int = ORG_USERS_COUNTED
    ) -> int:
        """How many users, counting no further than `at_most`, have `feature` in their
        profile and kept it: used it again at least `kept_days` days after they first did
        (0: every user who has it)."""
        ...

    @property
    def unconfirmed_kept_days(self) -> float:
        """How long, instead of `kept_days`, `users_with_feature` wants a user to have kept
        a feature they first used at a step-up nobody is known to have answered; 0 when no
        such sign-in was learned (the server always knows the answer)."""
        ...

    def failed_passwords(self, user_id: str, ip: str, since: datetime) -> int:
        """How many wrong passwords the account had from `ip` at or after `since`."""
        ...

    def failed_mfa_count(self, user_id: str, since: datetime) -> int:
        """How many wrong second-factor codes the user entered at or after `since`."""
        ...

    def record(
        self, ctx: SignInContext, ip_info: IpInfo, assessment: Assessment, succeeded: bool
    ) -> None:
        """Store one attempt after it was decided; call it once per evaluated context.

        `succeeded` means the user ended up signed in (password and any step-up passed):
        only then do the sign-in, its features (`assessment.features`) and its country
        become history, and a sign-in weighed for novelty (`assessment.novelty`) adds to
        `novelty_counts`. A wrong password (`kind` password, `password_valid` False) for an
        existing account (`user_id` set) counts towards `failed_accounts_from_ip` and
        `failed_passwords`; a `mfa_failed` context counts towards `failed_mfa_count`.
        """
        ...


def _ts(moment: datetime) -> float:
    return moment.timestamp()


@dataclass(slots=True)
class _Profile:
    first_seen: datetime
    successful_sign_ins: int = 0
    last_seen: dict[Feature, datetime] = field(default_factory=dict)
    first_used: dict[Feature, datetime] = field(default_factory=dict)
    unconfirmed: set[Feature] = field(default_factory=set)
    """Features first learned from a sign-in whose step-up nobody is known to have answered."""


@dataclass(slots=True)
class _Timeline:
    """Parallel lists kept sorted by time so that windows are two bisects."""

    times: list[float] = field(default_factory=list)
    values: list[object] = field(default_factory=list)

    def add(self, when: float, value: object) -> None:
        if not self.times or when >= self.times[-1]:
            self.times.append(when)
            self.values.append(value)
        else:
            index = bisect_right(self.times, when)
            self.times.insert(index, when)
            self.values.insert(index, value)

    def since(self, when: float) -> list[object]:
        return self.values[bisect_left(self.times, when) :]

    def last_before(self, when: float) -> object | None:
        index = bisect_left(self.times, when)
        return self.values[index - 1] if index else None


class InMemoryHistoryRepository:
    """A HistoryRepository in dicts, for tests, the benchmark and replay (not shared by workers).

    `unconfirmed_kept_days`: how long a user must keep a feature first learned from an
    unconfirmed sign-in (see `record`) before `users_with_feature` counts them as keeping it.
    """

    def __init__(self, unconfirmed_kept_days: float = 0.0) -> None:
        self._unconfirmed_kept = timedelta(days=unconfirmed_kept_days)
        self._any_unconfirmed = False
        self._sign_ins: dict[str, _Timeline] = {}
        self._profiles: dict[str, _Profile] = {}
        self._countries: set[str] = set()
        self._failed_passwords: dict[str, _Timeline] = {}
        self._failed_mfa: dict[str, list[float]] = {}
        self._novelty: dict[str, int] = {}
        self._novelty_copy: NoveltyCounts | None = None
        self._feature_users: dict[Feature, set[str]] = {}
        """Who has each feature in their profile."""

    def last_successful_sign_in(self, user_id: str, before: datetime) -> PastSignIn | None:
        """The user's latest successful sign-in strictly before `before`, if any."""
        timeline = self._sign_ins.get(user_id)
        if timeline is None:
            return None
        found = timeline.last_before(_ts(before))
        return found if isinstance(found, PastSignIn) else None

    def user_profile(self, user_id: str) -> UserProfile:
        """The user's learned profile (an empty one for a user never seen)."""
        profile = self._profiles.get(user_id)
        if profile is None:
            return UserProfile()
        return UserProfile(
            profile.first_seen,
            profile.successful_sign_ins,
            frozenset(profile.last_seen),
            dict(profile.last_seen),
            dict(profile.first_used),
        )

    def org_has_seen_country(self, country: str) -> bool:
        """True when any user has signed in successfully from `country` (ISO code)."""
        return country in self._countries

    def failed_accounts_from_ip(self, ip: str, since: datetime) -> int:
        """How many distinct existing accounts had a wrong password from `ip` since `since`."""
        timeline = self._failed_passwords.get(ip)
        return len(set(timeline.since(_ts(since)))) if timeline else 0

    def novelty_counts(self) -> NoveltyCounts:
        """How often counted sign-ins showed each kind of property new."""
        if self._novelty_copy is None:
            self._novelty_copy = NoveltyCounts(dict(self._novelty))
        return self._novelty_copy

    @property
    def unconfirmed_kept_days(self) -> float:
        """`unconfirmed_kept_days` once an unconfirmed sign-in taught anything, else 0."""
        return self._unconfirmed_kept.total_seconds() / 86_400 if self._any_unconfirmed else 0.0

    def users_with_feature(
        self, feature: Feature, kept_days: float = 0.0, at_most: int = ORG_USERS_COUNTED
    ) -> int:
        """How many users (up to `at_most`) have `feature` and kept it `kept_days`."""
        holders = self._feature_users.get(feature, ())
        if not kept_days:
            return min(len(holders), at_most)
        kept = timedelta(days=kept_days)
        longer = max(kept, self._unconfirmed_kept)
        profiles = self._profiles

        def keeps(profile: _Profile) -> bool:
            needed = longer if feature in profile.unconfirmed else kept
            return profile.last_seen[feature] - profile.first_used[feature] >= needed

        keeping = (user_id for user_id in holders if keeps(profiles[user_id]))
        return sum(1 for _ in islice(keeping, at_most))

    def failed_passwords(self, user_id: str, ip: str, since: datetime) -> int:
        """How many wrong passwords the account had from `ip` at or after `since`."""
        timeline = self._failed_passwords.get(ip)
        return sum(1 for who in timeline.since(_ts(since)) if who == user_id) if timeline else 0

    def failed_mfa_count(self, user_id: str, since: datetime) -> int:
        """How many wrong second-factor codes the user entered at or after `since`."""
        times = self._failed_mfa.get(user_id, [])
        return len(times) - bisect_left(times, _ts(since))

    def record(
        self,
        ctx: SignInContext,
        ip_info: IpInfo,
        assessment: Assessment,
        succeeded: bool,
        *,
        confirmed: bool = True,
    ) -> None:
        """Store one attempt after it was decided (see HistoryRepository.record).

        `confirmed` False: the sign-in was stepped up and nobody knows whether its second
        factor was answered (a replayed log that does not say). It teaches its user all the
        same, but the features it brings new count as kept, for other users' sign-ins, only
        after `unconfirmed_kept_days`.
        """
        when = _ts(ctx.time)
        if (
            ctx.kind == SignInKind.PASSWORD
            and ctx.password_valid is False
            and ctx.user_id is not None
        ):
            timeline = self._failed_passwords.setdefault(ip_info.ip, _Timeline())
            timeline.add(when, ctx.user_id)
        if ctx.kind == SignInKind.MFA_FAILED and ctx.user_id is not None:
            insort(self._failed_mfa.setdefault(ctx.user_id, []), when)
        if not succeeded or ctx.user_id is None:
            return
        past = PastSignIn.from_sign_in(ctx.time, ip_info, assessment.trusted_location)
        self._sign_ins.setdefault(ctx.user_id, _Timeline()).add(when, past)
        profile = self._profiles.get(ctx.user_id)
        if profile is None:
            profile = self._profiles[ctx.user_id] = _Profile(first_seen=ctx.time)
        profile.first_seen = min(profile.first_seen, ctx.time)
        profile.successful_sign_ins += 1
        for feature in assessment.features:
            seen = profile.last_seen.get(feature)
            if seen is None:
                self._feature_users.setdefault(feature, set()).add(ctx.user_id)
                if not confirmed:
                    profile.unconfirmed.add(feature)
                    self._any_unconfirmed = True
            profile.last_seen[feature] = ctx.time if seen is None else max(seen, ctx.time)
            used = profile.first_used.get(feature)
            profile.first_used[feature] = ctx.time if used is None else min(used, ctx.time)
        for feature in beyond_limit(profile.last_seen.keys(), profile.last_seen):
            del profile.last_seen[feature], profile.first_used[feature]
            profile.unconfirmed.discard(feature)
            self._feature_users[feature].discard(ctx.user_id)
        counters = assessment.novelty_counters
        if counters:
            for name in counters:
                self._novelty[name] = self._novelty.get(name, 0) + 1
            self._novelty_copy = None
        if ip_info.country:
            self._countries.add(ip_info.country)
