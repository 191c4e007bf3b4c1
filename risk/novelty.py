"""Weighted novelty: how surprising a sign-in's new properties are, in bits.

Counting new properties treats a new IP /24 (most legitimate sign-ins bring one now and
then) like a new network operator (rare for a legitimate user, present in nearly every
targeted takeover). Here each new property weighs what it tells, learned without labels:

- **The population.** Over the sign-ins of users past their learning period, how often a
  property of this kind was new, counted apart for when its coarser parent was new too
  (a new city is expected in a new country, a new network in a new city, a new /24 on a new
  network). A kind new in a fraction `r` of sign-ins weighs `-log2(r)` bits: a new /24 on
  a familiar network (r of about 10%) is 3.3 bits, a new network in a familiar city (r of
  a few per thousand) about 8.
- **The user.** How often this user's own sign-ins brought a new value of the kind while
  its parent was familiar (new values beyond one per new parent value, over sign-ins,
  shrunk towards the population's familiar-parent rate with `novelty_user_weight`) scales
  `r`: someone who keeps trying new networks in their own city is less surprised by one
  more than someone on the same few networks for 300 sign-ins, while a traveller whose
  networks came with new cities is not. Once a user has `novelty_settle_days` behind them,
  only values first used after those days count, over the sign-ins since (estimated from
  the share of the user's time they cover): the home line, office, carrier and corporate
  VPN all arrive in the first days, and are a stable history rather than a habit of
  novelty. The scale makes a property at most `novelty_user_max_bits` more and
  `novelty_user_min_bits` less surprising than the population says. It applies only where
  the kind's parent is familiar: with the parent new, a new value is expected anyway.
- **The habit, borne out.** That estimate rests on a handful of events and is too sure of
  itself, so counted sign-ins are also kept by its bin (`habit_bin`), and what users in the
  same bin actually showed replaces it (`_calibrated`).
- **Time.** A value unused for `novelty_forget_days` counts as new again.

Until enough sign-ins are counted, prior rates (`PRIOR_RATES`, worth `novelty_prior_weight`
sign-ins) stand in. Summing bits treats the kinds as independent given their parents,
in the spirit of Freeman et al. (NDSS 2016), so 2**bits reads as "about one in that many
sign-ins looks this new". The score then adds the other side of the likelihood ratio: log2
of how often takeovers show the sign-in's pattern of new and familiar kinds (`ATTACKERS`,
the threat model), against a quarter of them (`TYPICAL_TAKEOVER_SHARE`), so that a trip
abroad with the user's own browser or a new phone on the home network, rare for takeovers,
does not outrank a new network in the user's own city, which every targeted takeover
brings. `novelty_takeover_weight` scales that part (0: off; 2 by default, since summing
the bits of new properties that come together, as on a trip, overstates how rare the
sign-in is). `novelty_weights` in config fixes a kind's weight instead.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from risk.features import Feature, FeatureKind

if TYPE_CHECKING:
    from risk.repository import UserProfile

K = FeatureKind

PARENT: Mapping[str, str | None] = {
    K.COUNTRY.value: None,
    K.CITY.value: K.COUNTRY.value,
    K.ASN.value: K.CITY.value,
    K.SUBNET.value: K.ASN.value,
    K.BROWSER.value: None,
    K.OS.value: K.BROWSER.value,
    K.DEVICE.value: K.BROWSER.value,
}
"""Each kind's coarser parent: its novelty is counted apart when the parent is new too. The
device cookie lives in one browser, so a new browser brings a new cookie as a rule."""

KINDS = tuple(PARENT)

LABELS: Mapping[str, str] = {
    K.ASN.value: "network",
    K.COUNTRY.value: "country",
    K.CITY.value: "city",
    K.SUBNET.value: "address block",
    K.BROWSER.value: "browser",
    K.OS.value: "OS",
    K.DEVICE.value: "device",
}

PRIOR_RATES: Mapping[tuple[str, bool], float] = {
    (K.COUNTRY.value, False): 0.005,
    (K.CITY.value, False): 0.02,
    (K.CITY.value, True): 0.95,
    (K.ASN.value, False): 0.005,
    (K.ASN.value, True): 0.6,
    (K.SUBNET.value, False): 0.1,
    (K.SUBNET.value, True): 0.95,
    (K.BROWSER.value, False): 0.01,
    (K.OS.value, False): 0.005,
    (K.OS.value, True): 0.5,
    (K.DEVICE.value, False): 0.05,
    (K.DEVICE.value, True): 0.95,
}
"""Rates assumed before any sign-in is counted: `(kind, parent new)` -> share of sign-ins
showing that kind new. Learned counts outweigh them once they pass `novelty_prior_weight`."""


@dataclass(frozen=True, slots=True)
class Attacker:
    """One kind of account takeover in the threat model: its share of takeovers and, for each
    kind, the chance it brings a new value while the kind's parent is familiar."""

    name: str
    share: float
    new: Mapping[str, float]


ATTACKERS: tuple[Attacker, ...] = (
    # A random country, network and browser (the victim's, now and then, by chance).
    Attacker(
        "naive",
        1 / 3,
        {"country": 0.9, "city": 0.9, "asn": 1.0, "browser": 0.7, "os": 0.5, "device": 1.0},
    ),
    # An exit in the victim's country, mostly in another city; half copy the browser.
    Attacker(
        "VPN",
        1 / 3,
        {"country": 0.05, "city": 0.8, "asn": 1.0, "browser": 0.5, "os": 0.1, "device": 1.0},
    ),
    # The victim's city, browser and OS, from a network of the attacker's own.
    Attacker(
        "targeted",
        1 / 3,
        {"country": 0.02, "city": 0.05, "asn": 0.9, "browser": 0.05, "os": 0.05, "device": 1.0},
    ),
)
"""The three attackers of Wiefling et al. in equal parts: the other side of the likelihood
ratio. None has the victim's device cookie: a user-agent string can be copied from a victim's
profile, a cookie only from the victim's own browser, so a sign-in that keeps the user's
cookie is rarely a takeover. A kind not named (the /24) tells takeovers nothing here; a kind
the sign-in lacks (no cookie ever set, as in a log without one) is left out; and a kind
whose parent is new is new for takeovers as for everyone (a new country brings a new city)."""

ATTACKER_FLOOR = 0.02
"""No attacker is held to match or miss a kind more surely than this: a guess about people
may be wrong, so one kind costs a pattern at most log2(50), 5.6 bits, per attacker."""


def takeover_share(is_new: Mapping[str, bool]) -> float:
    """The share of takeovers, by the threat model, showing this pattern of new and
    familiar kinds."""
    total = 0.0
    for attacker in ATTACKERS:
        chance = attacker.share
        for kind, new in attacker.new.items():
            parent = PARENT[kind]
            if kind not in is_new or (
                parent is not None and is_new.get(parent, False) and is_new[kind]
            ):
                # A new parent brings a new value for takeovers as for everyone; a value
                # kept all the same (the home network in a new city) is as telling as ever.
                continue
            chance *= max(new if is_new[kind] else 1 - new, ATTACKER_FLOOR)
        total += chance
    return total


TYPICAL_TAKEOVER_SHARE = 0.25
"""A pattern at least this common among takeovers loses no bits: about what one attacker of
the three shows on most of its sign-ins (the targeted attacker's new network alone: 28%)."""


ORG_KINDS = frozenset({K.COUNTRY.value, K.CITY.value, K.ASN.value, K.BROWSER.value, K.OS.value})
"""Kinds whose new values are told apart by whether other users here have them: a
legitimate user's new network is mostly one colleagues use too (the office, a big ISP, a
carrier); a rented server's is not."""

KEPT_KINDS = frozenset({K.ASN.value})
"""Kinds another user counts as having only once they kept the value, using it again
`org_network_kept_days` after its first use. An attacker who got into several accounts
signs in to each from their own network for minutes or hours: counted as colleagues, those
victims would make the network common here, and the next takeover from it look like a
colleague's office. (One-off visits do make a city or a browser common: colleagues travel
to the same places, and nobody needs to keep a city to make it an ordinary destination.)"""

ORG_USERS_COUNTED = 100
"""How far users having a value are counted: past a few (`novelty_org_common_users`) a
value is common here, and counting the 100,000 users of one browser would cost a query
over all of them on every sign-in that brings it new."""

RARE_PRIOR_SHARE = 0.2
"""Before counts exist, the share of new values assumed rare in the organisation."""

LEARNING_PRIOR_FACTOR = 5.0
"""Before counts exist, learning users are assumed to bring new properties this much more."""

NO_DEVICE_COOKIE = "(no device cookie)"

HABIT_MARK = "~"
"""Separates a familiar-parent cell's name from the user-habit bin it was counted in
("learned.asn.f~-2"): what sign-ins of users with such a habit actually showed."""

BIN_BITS = 0.25
"""Width of one bin of the score histogram the level thresholds are read from."""
TOP_BIN = 160
"""Scores of 40 bits and more share the last bin."""


class Stage(StrEnum):
    """Users still learning (few sign-ins or days) are compared with their own kind."""

    LEARNING = "learning"
    LEARNED = "learned"


class Seen(StrEnum):
    """A property's value for this user: familiar, new, or new and rare in the organisation."""

    FAMILIAR = "familiar"
    NEW = "new"
    RARE = "rare"


def _parent_key(parent_new: bool) -> str:
    return "n" if parent_new else "f"


def cell_counter(stage: Stage, kind: str, parent_new: bool, habit: int | None = None) -> str:
    """The population counter of sign-ins of `stage` that had `kind` with its parent new or
    familiar (and a user habit in bin `habit`); with ".new" and ".rare" after it, those that
    showed `kind` new with a value other users have, or with one rare here."""
    key = f"{stage.value}.{kind}.{_parent_key(parent_new)}"
    return key if habit is None else f"{key}{HABIT_MARK}{habit}"


def bits_counter(stage: Stage, index: int) -> str:
    """The population counter of sign-ins of `stage` whose score fell in bin `index`."""
    return f"{stage.value}.bits.{index}"


def score_bin(bits: float) -> int:
    """The histogram bin of a score."""
    return min(int(bits / BIN_BITS), TOP_BIN)


@dataclass(frozen=True, slots=True)
class NoveltyCounts:
    """Population counters by name (see `counter_names`): what counted sign-ins showed."""

    counters: Mapping[str, int] = field(default_factory=dict)
    _histograms: dict[str, list[int]] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _cells: dict[str, int] | None = field(default=None, init=False, repr=False, compare=False)

    def _split(self) -> dict[str, list[int]]:
        # Read up to four times per evaluation: split the counters into histograms once.
        if self._histograms is None:
            histograms: dict[str, list[int]] = {}
            cells: dict[str, int] = {}
            for name, count in self.counters.items():
                stage, kind, rest = name.split(".", 2)
                if kind == "bits":
                    bins = histograms.setdefault(stage, [0] * (TOP_BIN + 1))
                    bins[int(rest)] += count
                    continue
                cells[name] = cells.get(name, 0) + count
                head, mark, tail = rest.partition(HABIT_MARK)
                if mark:
                    # A habit bin's counts add to its cell's too.
                    _, dot, seen = tail.partition(".")
                    base = f"{stage}.{kind}.{head}{dot}{seen}"
                    cells[base] = cells.get(base, 0) + count
            object.__setattr__(self, "_histograms", histograms)
            object.__setattr__(self, "_cells", cells)
            return histograms
        return self._histograms

    def cell(
        self, stage: Stage, kind: str, parent_new: bool, habit: int | None = None
    ) -> tuple[int, int, int]:
        """`(sign_ins, new, rare)`: sign-ins of `stage` that had `kind` with its parent new
        or familiar (and, given `habit`, a user habit in that bin); how many showed `kind`
        new with a value other users here have; how many with a value rare here."""
        key = cell_counter(stage, kind, parent_new, habit)
        self._split()
        assert self._cells is not None
        get = self._cells.get
        return get(key, 0), get(key + ".new", 0), get(key + ".rare", 0)

    def _bins(self, stage: Stage) -> list[int]:
        return self._split().get(stage.value) or [0] * (TOP_BIN + 1)

    def histogram(self, stage: Stage) -> list[int]:
        """Counted sign-ins of `stage` per score bin."""
        return list(self._bins(stage))

    def counted(self, stage: Stage) -> int:
        """How many sign-ins of `stage` are counted."""
        return sum(self._bins(stage))

    def threshold(self, stage: Stage, share: float) -> tuple[float | None, int]:
        """The lowest score reached by at most `share` of the counted sign-ins of `stage`,
        and how many sign-ins that is judged on; None while too few are counted for that
        share to hold even one sign-in."""
        bins = self._bins(stage)
        total = sum(bins)
        if total * share < 1:
            return None, total
        above = 0
        # Above every score seen, nothing is counted: that is among the newest of any share.
        lowest = max(index for index, count in enumerate(bins) if count) + 1
        for index in range(TOP_BIN, -1, -1):
            if not bins[index]:
                continue  # the bar sits on a score some sign-in reached, not in a gap
            if (above + bins[index]) / total > share:
                break
            above += bins[index]
            lowest = index
        return lowest * BIN_BITS, total

    def share_at_or_above(self, stage: Stage, bits: float) -> float | None:
        """The share of counted sign-ins of `stage` that scored at least `bits`' bin."""
        bins = self._bins(stage)
        total = sum(bins)
        return sum(bins[score_bin(bits) :]) / total if total else None

    @classmethod
    def summed(cls, rows: Iterable[tuple[str, int]]) -> NoveltyCounts:
        """Counts from `(name, count)` rows, duplicates added up."""
        counters: dict[str, int] = {}
        for name, count in rows:
            counters[name] = counters.get(name, 0) + count
        return cls(counters)


@dataclass(frozen=True, slots=True)
class NewProperty:
    """One property new for the user, with the numbers behind its weight."""

    kind: str
    value: str
    bits: float
    rate: float
    """Share of counted sign-ins that showed this kind new (in this parent context)."""
    parent_new: bool
    user_factor: float
    configured: bool
    """True when `novelty_weights` fixed the weight."""
    last_seen_days: float | None
    """Days since the user last used the value, when it was forgotten rather than never seen."""
    org_users: int | None = None
    """How many other users here have the value (for `ORG_KINDS`)."""
    org_kept_days: float = 0.0
    """Counted in `org_users` are only users who kept the value this many days (`KEPT_KINDS`)."""
    org_unconfirmed_days: float = 0.0
    """... or this many, where their first use was a step-up not known to be answered."""
    org_users_capped: bool = False
    """True when counting stopped at `org_users` (see `NoveltyModel.org_users_counted`)."""
    rare: bool = False
    """True when so few others have the value that it was weighed as rare here."""
    habit: UserHabit | None = None
    """The user's own count behind `user_factor`."""

    def explain(self, sign_ins: int) -> str:
        """E.g. "network 64500: never used by this user in 44 sign-ins, by 120 other users
        here; new in 0.3% of sign-ins from a familiar city: 8.4 bits"."""
        value = self.value
        if self.kind == K.DEVICE.value and len(value) > 12:
            value = value[:8] + "..."  # enough to tell devices apart in one list
        if self.last_seen_days is not None:
            history = f"not used by this user for {self.last_seen_days:,.0f} days"
        else:
            history = f"never used by this user in {plural(sign_ins, 'sign-in')}"
        if self.org_users is not None:
            others = "no other user" if not self.org_users else plural(self.org_users, "other user")
            if self.org_users_capped:
                others = f"{self.org_users:,} or more other users"
            history += f", by {others} here"
            if self.org_kept_days:
                history += f" for {_days(self.org_kept_days)} or more"
            if self.org_unconfirmed_days:
                history += (
                    f" ({_days(self.org_unconfirmed_days)} if first used at a step-up"
                    " not known to be answered)"
                )
        head = f"{LABELS[self.kind]} {value}: {history}"
        if self.configured:
            return f"{head}; weight set in config: {self.bits:.1f} bits"
        parent = PARENT[self.kind]
        context = ""
        if parent is not None:
            context = f" from a {'new' if self.parent_new else 'familiar'} {LABELS[parent]}"
        habit = ""
        if self.user_factor >= 1.5 or self.user_factor <= 0.67:
            habit = f", {how_often(self.user_factor)} for this user"
        if habit and self.habit is not None:
            habit += f" ({self.habit.describe(LABELS[self.kind], parent)})"
        how = "new and as rare here" if self.rare else "new"
        return (
            f"{head}; {how} in {_percent(self.rate)} of sign-ins{context}{habit}: "
            f"{self.bits:.1f} bits"
        )


def _days(days: float) -> str:
    """A span in words: "a day", "7 days", "0.5 days"."""
    return "a day" if days == 1 else f"{days:g} days"


def _plural_label(label: str) -> str:
    """A label's plural: "cities" for "city", "OSes" for "OS", "networks" for "network"."""
    if label.endswith("y"):
        return label[:-1] + "ies"
    return label + ("es" if label.endswith("S") else "s")


def plural(count: int, noun: str) -> str:
    """E.g. "1 sign-in", "1,204 sign-ins"."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class UserHabit:
    """How often the user's own sign-ins brought a new value of a kind with its parent
    familiar: `novel` such values over about `sign_ins` sign-ins, counted since `since_days`
    days after the user's first sign-in (None: over the whole history). `borne_out`: the
    share of counted sign-ins by users with a habit in the same bin that showed the kind
    new (see `_calibrated`); `estimate`: the factor the user's history alone gave."""

    novel: int
    sign_ins: float
    since_days: int | None
    estimate: float | None = None
    borne_out: float | None = None

    def describe(self, label: str, parent: str | None) -> str:
        """E.g. "no new networks from a familiar city in about 120 sign-ins after the first
        14 days"."""
        count = f"{self.novel:,}" if self.novel else "no"
        where = f" from a familiar {LABELS[parent]}" if parent is not None else ""
        since = (
            f" after the first {plural(self.since_days, 'day')}"
            if self.since_days is not None
            else ""
        )
        text = (
            f"{count} new {label if self.novel == 1 else _plural_label(label)}{where} in about "
            f"{plural(round(self.sign_ins), 'sign-in')}{since}"
        )
        if self.borne_out is not None and self.estimate is not None:
            text += (
                f": {how_often(self.estimate)} by that alone; users with such a history: "
                f"new in {_percent(self.borne_out)} of sign-ins"
            )
        return text


def how_often(factor: float) -> str:
    """E.g. "4.0x less often" for 0.25, "2.0x as often" for 2."""
    if factor >= 1:
        return f"{factor:.1f}x as often"
    return f"{1 / factor:.1f}x less often"


@dataclass(frozen=True, slots=True)
class Novelty:
    """How new one sign-in is for its user."""

    stage: Stage
    observed: tuple[tuple[str, bool, Seen, int | None], ...]
    """`(kind, parent new, seen, habit bin)` for every kind this sign-in has: what the counts
    learn. The habit bin (`habit_bin`) is the user's own factor for the kind, for kinds
    whose parent was familiar."""
    new: tuple[NewProperty, ...]
    bits: float
    """The score: the new properties' bits plus `takeover_bits`, at least 0."""
    takeover_bits: float = 0.0
    """log2 of `takeover_share` over `TYPICAL_TAKEOVER_SHARE`, scaled by the model's
    `takeover_weight` (at most 0)."""
    takeover_share: float | None = None
    """The share of takeovers showing this pattern of new and familiar kinds."""

    @property
    def newness(self) -> float:
        """The new properties' bits alone: 2**newness reads "one in that many sign-ins"."""
        return sum(p.bits for p in self.new)

    def explain_takeovers(self) -> str | None:
        """E.g. "takeovers rarely look like this (1.4% of them; the most typical attacker's
        pattern: 25%): -4.2 bits"; None when it took nothing off."""
        if self.takeover_share is None or self.takeover_bits >= 0:
            return None
        return (
            f"takeovers rarely look like this ({_percent(self.takeover_share)} of them; the "
            f"most typical attacker's pattern: {_percent(TYPICAL_TAKEOVER_SHARE)}): "
            f"{self.takeover_bits:.1f} bits"
        )

    def counter_names(self) -> tuple[str, ...]:
        """The population counters this sign-in adds one to once it succeeds."""
        names = [bits_counter(self.stage, score_bin(self.bits))]
        for kind, parent_new, seen, habit in self.observed:
            key = cell_counter(self.stage, kind, parent_new, habit)
            names += [key] if seen is Seen.FAMILIAR else [key, f"{key}.{seen.value}"]
        return tuple(sorted(names))


@dataclass(frozen=True, slots=True)
class NoveltyModel:
    """The tunables of the weighting (see RiskSettings for their config keys)."""

    prior_weight: float = 500.0
    user_weight: float = 10.0
    forget_days: int = 365
    org_common_users: int = 3
    org_network_kept_days: float = 1.0
    weights: Mapping[str, float] = field(default_factory=dict)
    settle_days: int = 14
    user_max_bits: float = 4.0
    user_min_bits: float = 4.0
    takeover_weight: float = 2.0

    @property
    def org_users_counted(self) -> int:
        """How far other users having a value are counted: `ORG_USERS_COUNTED`, or as far
        as `org_common_users` needs."""
        return max(ORG_USERS_COUNTED, self.org_common_users)


def _percent(rate: float) -> str:
    if rate >= 0.1:
        return f"{rate:.0%}"
    if rate >= 0.001:
        return f"{rate:.1%}"
    return f"{rate:.2%}"


def _prior(stage: Stage, kind: str, parent_new: bool) -> float:
    prior = PRIOR_RATES.get((kind, parent_new), PRIOR_RATES[(kind, False)])
    # Users still learning bring new properties far more often.
    return min(prior * LEARNING_PRIOR_FACTOR, 0.95) if stage is Stage.LEARNING else prior


def _rate(
    counts: NoveltyCounts,
    stage: Stage,
    kind: str,
    parent_new: bool,
    seen: Seen | None,
    prior_weight: float,
) -> float:
    """The share of sign-ins showing `kind` new; for `seen` NEW or RARE, new and common or
    new and rare here (None: not told apart)."""
    sign_ins, new, rare = counts.cell(stage, kind, parent_new)
    prior = _prior(stage, kind, parent_new)
    if seen is None or kind not in ORG_KINDS:
        found = new + rare
    elif seen is Seen.RARE:
        found, prior = rare, prior * RARE_PRIOR_SHARE
    else:
        found, prior = new, prior * (1 - RARE_PRIOR_SHARE)
    return (found + prior * prior_weight) / (sign_ins + prior_weight)


def _familiar_parent_rate(
    counts: NoveltyCounts, stage: Stage, kind: str, prior_weight: float
) -> float:
    """The share of sign-ins showing `kind` new while its parent (if any) was familiar."""
    return _rate(counts, stage, kind, False, None, prior_weight)


class _History:
    """The user's own counts the user factor reads, worked out once per sign-in.

    Once the user has `settle_days` behind them and first-use times are known, only values
    first used after that count: the home line, the office, the phone's carrier and the
    corporate VPN all arrive in a user's first days, and counting them would make someone
    who has used the same three networks for a year look as changeable as a cafe-hopper.
    The sign-ins since then are estimated from the share of the user's time they cover.
    Before that (or without first-use times), every value beyond the first of its kind
    counts, over every sign-in.
    """

    __slots__ = ("values", "sign_ins", "since_days")

    def __init__(self, profile: UserProfile, model: NoveltyModel, now: datetime) -> None:
        earlier = max(profile.successful_sign_ins - 1, 0)
        first = profile.first_seen
        settled = None
        if first is not None and profile.first_used:
            settled = first + timedelta(days=model.settle_days)
        if settled is None or first is None or now <= settled:
            self.values = Counter(k for k, _ in profile.features)
            for kind in KINDS:
                self.values[kind] = max(self.values[kind] - 1, 0)
            self.sign_ins: float = earlier
            self.since_days: int | None = None
            return
        span = (now - first).total_seconds()
        share = (now - settled).total_seconds() / span if span > 0 else 0.0
        self.values = Counter(
            feature[0]
            for feature in profile.features
            if profile.first_used.get(feature, first) >= settled
        )
        self.sign_ins = earlier * share
        self.since_days = model.settle_days


def _user_factor(
    history: _History, kind: str, population: float, model: NoveltyModel
) -> tuple[float, UserHabit]:
    """This user's own rate of new `kind` values with a familiar parent over the
    population's, shrunk and kept within `model.user_max_bits` more and
    `model.user_min_bits` less surprising.

    Each new parent value (a trip's city, a new browser) brings a new value of the kind as
    a rule, and that is weighed by the parent-new rate already; counting it here too would
    make a traveller's home network look as changeable as a café-hopper's. So the user's
    own count is the kind's new values beyond one per new parent value.
    """
    novel = history.values.get(kind, 0)
    parent = PARENT[kind]
    if parent is not None:
        novel = max(novel - history.values.get(parent, 0), 0)
    weight = model.user_weight
    own = (novel + weight * population) / (history.sign_ins + weight)
    habit = UserHabit(novel, history.sign_ins, history.since_days)
    return _bounded(own / population, model), habit


def _bounded(factor: float, model: NoveltyModel) -> float:
    low: float = 2.0**-model.user_max_bits
    high: float = 2.0**model.user_min_bits
    return min(max(factor, low), high)


def habit_bin(factor: float) -> int:
    """The bin a user's own factor is counted in: its log2, rounded."""
    return round(math.log2(factor))


def _calibrated(
    counts: NoveltyCounts,
    stage: Stage,
    kind: str,
    factor: float,
    population: float,
    model: NoveltyModel,
) -> tuple[float, float | None]:
    """The user factor as sign-ins of users with a habit in the same bin bore it out, and
    that bin's rate (None while nothing is counted in it).

    A user's own history is a handful of events: two new networks in 100 sign-ins read as
    six times the population's rate, while users with such a history may bring new
    networks only twice as often, or no more often at all. So what counted sign-ins of
    users in the same `habit_bin` showed replaces the estimate, which stands in (worth
    `model.prior_weight` sign-ins) while that bin has few.
    """
    sign_ins, new, rare = counts.cell(stage, kind, False, habit_bin(factor))
    if not sign_ins:
        return factor, None
    weight = model.prior_weight
    rate = (new + rare + weight * population * factor) / (sign_ins + weight)
    return _bounded(rate / population, model), (new + rare) / sign_ins


def unused_days(profile: UserProfile, feature: Feature, now: datetime) -> float | None:
    """Days since the user last used `feature`; None if never. A property in the profile
    without a last use counts as used now. Past `NoveltyModel.forget_days` it counts as new
    again."""
    if feature not in profile.features:
        return None
    last = profile.last_seen.get(feature)
    return (now - last).total_seconds() / 86_400 if last is not None else 0.0


def weigh(
    features: frozenset[Feature],
    profile: UserProfile,
    counts: NoveltyCounts,
    model: NoveltyModel,
    now: datetime,
    *,
    stage: Stage = Stage.LEARNED,
    device_missing: bool = False,
    org_users: Callable[[Feature, float], int] | None = None,
    org_unconfirmed_days: float = 0.0,
) -> Novelty:
    """The sign-in's new properties for this user and their weights.

    `device_missing` marks a sign-in without the device cookie by a user who has had one:
    the device then counts as new. `org_users(feature, kept_days)` answers how many users,
    up to `model.org_users_counted`, have a property in their profile (of `KEPT_KINDS`:
    kept it at least `kept_days`, here `model.org_network_kept_days`); a new value of an
    `ORG_KINDS` kind that fewer than `model.org_common_users` others have counts as rare.
    `org_unconfirmed_days`: the keep `org_users` wants instead where a user's first use was
    a step-up not known to be answered (see `HistoryRepository.unconfirmed_kept_days`).
    """
    by_kind = dict(features)
    if device_missing:
        by_kind[K.DEVICE.value] = NO_DEVICE_COOKIE
    is_new: dict[str, bool] = {}
    forgotten: dict[str, float] = {}
    for kind, value in by_kind.items():
        days = unused_days(profile, (kind, value), now)
        if value == NO_DEVICE_COOKIE or days is None:
            is_new[kind] = True
            continue
        is_new[kind] = days >= model.forget_days
        if is_new[kind]:
            forgotten[kind] = days
    # The user's own counts: worked out at the first kind with a familiar parent.
    history: _History | None = None
    observed: list[tuple[str, bool, Seen, int | None]] = []
    new = []
    for kind in KINDS:
        if kind not in by_kind:
            continue
        parent = PARENT[kind]
        parent_new = parent is not None and is_new.get(parent, False)
        factor, habit, bin_ = 1.0, None, None
        if not parent_new:
            # The user's habit is of new values with the parent familiar; with the parent
            # new (a trip's city and network) a new value is expected whatever the habit.
            if history is None:
                history = _History(profile, model, now)
            population = _familiar_parent_rate(counts, stage, kind, model.prior_weight)
            factor, habit = _user_factor(history, kind, population, model)
            bin_ = habit_bin(factor)
            if is_new[kind]:
                estimate = factor
                factor, borne_out = _calibrated(counts, stage, kind, factor, population, model)
                habit = replace(habit, estimate=estimate, borne_out=borne_out)
        others = None
        if not is_new[kind]:
            observed.append((kind, parent_new, Seen.FAMILIAR, bin_))
            continue
        kept_days = model.org_network_kept_days if kind in KEPT_KINDS else 0.0
        if kind in ORG_KINDS and org_users is not None:
            others = org_users((kind, by_kind[kind]), kept_days)
        seen = Seen.RARE if others is not None and others < model.org_common_users else Seen.NEW
        observed.append((kind, parent_new, seen, bin_))
        told_apart = seen if others is not None else None
        rate = _rate(counts, stage, kind, parent_new, told_apart, model.prior_weight)
        configured = kind in model.weights
        bits = model.weights[kind] if configured else max(-math.log2(min(rate * factor, 1.0)), 0.0)
        new.append(
            NewProperty(
                kind=kind,
                value=by_kind[kind],
                bits=bits,
                rate=rate,
                parent_new=parent_new,
                user_factor=factor,
                configured=configured,
                last_seen_days=forgotten.get(kind),
                org_users=others,
                org_kept_days=kept_days if others is not None else 0.0,
                org_unconfirmed_days=(
                    org_unconfirmed_days
                    if others is not None and kept_days and org_unconfirmed_days > kept_days
                    else 0.0
                ),
                org_users_capped=others is not None and others >= model.org_users_counted,
                rare=seen is Seen.RARE,
                habit=habit,
            )
        )
    newness = sum(p.bits for p in new)
    if not new or not model.takeover_weight:
        return Novelty(stage, tuple(observed), tuple(new), newness)
    share = takeover_share(is_new)
    offset = model.takeover_weight * min(math.log2(share / TYPICAL_TAKEOVER_SHARE), 0.0)
    return Novelty(stage, tuple(observed), tuple(new), max(newness + offset, 0.0), offset, share)
