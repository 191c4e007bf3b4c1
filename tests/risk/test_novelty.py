"""Weighted novelty: each new property weighs what the population and the user say it tells."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from risk.features import Feature
from risk.novelty import (
    LABELS,
    ORG_USERS_COUNTED,
    PARENT,
    NoveltyCounts,
    NoveltyModel,
    Seen,
    Stage,
    UserHabit,
    how_often,
    takeover_share,
    weigh,
)
from risk.repository import UserProfile

NOW = datetime(2026, 6, 1, tzinfo=UTC)
HOME: frozenset[Feature] = frozenset(
    {
        ("country", "NO"),
        ("city", "Oslo, NO"),
        ("asn", "2119"),
        ("subnet", "84.208.1.0/24"),
        ("browser", "Chrome"),
        ("os", "Windows"),
    }
)


def counted(
    cells: dict[tuple[str, bool], tuple[int, int]], stage: Stage = Stage.LEARNED
) -> NoveltyCounts:
    """Counters for `(kind, parent new) -> (sign-ins, new)`, all new values common here."""
    counters = {}
    for (kind, parent_new), (sign_ins, new) in cells.items():
        key = f"{stage.value}.{kind}.{'n' if parent_new else 'f'}"
        counters[key] = sign_ins
        counters[key + ".new"] = new
    return NoveltyCounts(counters)


# 100,000 counted sign-ins: a new ASN from a familiar city in 0.2% of them, a new /24 on a
# familiar ASN in 12%, a new /24 on a new ASN nearly always.
POPULATION = counted(
    {
        ("country", False): (100_000, 400),
        ("city", False): (99_600, 1_500),
        ("city", True): (400, 390),
        ("asn", False): (98_100, 200),
        ("asn", True): (1_900, 1_200),
        ("subnet", False): (98_600, 11_832),
        ("subnet", True): (1_400, 1_390),
        ("browser", False): (100_000, 800),
        ("os", False): (99_200, 300),
        ("os", True): (800, 500),
    }
)
OTHERS = 50
"""How many other users have any value asked about: every new value is common here."""


def common(feature: Feature, kept_days: float) -> int:
    return OTHERS


# No prior, no user adjustment, no takeover side: weights are the population's alone.
PLAIN = NoveltyModel(prior_weight=1, user_weight=1e9, takeover_weight=0)
# The same with the takeover side of the likelihood ratio at its defaults.
TAKEOVER = NoveltyModel(prior_weight=1, user_weight=1e9)


def profile(
    sign_ins: int = 44,
    extra: frozenset[Feature] = frozenset(),
    last_seen: datetime = NOW - timedelta(days=1),
) -> UserProfile:
    features = HOME | extra
    return UserProfile(
        NOW - timedelta(days=200), sign_ins, features, dict.fromkeys(features, last_seen)
    )


def swap(features: frozenset[Feature], **values: str) -> frozenset[Feature]:
    return frozenset((k, values.get(k, v)) for k, v in features) | {
        (k, v) for k, v in values.items() if k not in dict(features)
    }


def test_a_familiar_sign_in_weighs_nothing() -> None:
    novelty = weigh(HOME, profile(), POPULATION, PLAIN, NOW, org_users=common)
    assert (novelty.new, novelty.bits) == ((), 0.0)
    # The home network kept, with the user's habit (factor 1 here: bin 0) counted beside it.
    assert ("asn", False, Seen.FAMILIAR, 0) in novelty.observed


def test_a_new_network_in_a_familiar_city_outweighs_a_new_address_block() -> None:
    block = weigh(
        swap(HOME, subnet="84.208.9.0/24"), profile(), POPULATION, PLAIN, NOW, org_users=common
    )
    network = weigh(
        swap(HOME, asn="64500", subnet="203.0.113.0/24"),
        profile(),
        POPULATION,
        PLAIN,
        NOW,
        org_users=common,
    )
    assert [p.kind for p in block.new] == ["subnet"]
    assert block.bits == pytest.approx(-math.log2(11_833 / 98_601), abs=0.01)  # about 3 bits
    by_kind = {p.kind: p for p in network.new}
    assert by_kind["asn"].bits == pytest.approx(-math.log2(201 / 98_101), abs=0.01)  # 8.9
    # On a new network a new /24 is expected: it adds almost nothing.
    assert by_kind["subnet"].parent_new and by_kind["subnet"].bits < 0.02
    assert network.bits > block.bits + 5
    # A kind whose parent is new is counted without a habit bin: the habit is not read there.
    assert network.observed[2:4] == (("asn", False, Seen.NEW, 0), ("subnet", True, Seen.NEW, None))


def test_explanation_names_the_property_its_history_and_its_rate() -> None:
    novelty = weigh(swap(HOME, asn="64500"), profile(), POPULATION, PLAIN, NOW, org_users=common)
    assert novelty.new[0].explain(44) == (
        "network 64500: never used by this user in 44 sign-ins, by 50 other users here "
        "for a day or more; new in 0.2% of sign-ins "
        "from a familiar city: 8.9 bits"
    )


def test_a_new_city_in_a_new_country_counts_the_country_not_the_city_twice() -> None:
    abroad = swap(HOME, country="SE", city="Stockholm, SE")
    novelty = weigh(abroad, profile(), POPULATION, PLAIN, NOW, org_users=common)
    by_kind = {p.kind: p for p in novelty.new}
    assert by_kind["country"].bits == pytest.approx(-math.log2(401 / 100_001), abs=0.01)
    assert by_kind["city"].bits < 0.05


def test_prior_stands_in_until_sign_ins_are_counted() -> None:
    new_asn = swap(HOME, asn="64500")
    model = NoveltyModel(user_weight=1e9)
    empty = weigh(new_asn, profile(), NoveltyCounts(), model, NOW, org_users=common)
    assert empty.new[0].rate == pytest.approx(0.005 * 0.8)
    learned = weigh(new_asn, profile(), POPULATION, model, NOW, org_users=common)
    assert learned.new[0].rate == pytest.approx((200 + 2.0) / (98_100 + 500))


def test_a_user_who_often_brings_new_networks_is_less_surprised() -> None:
    model = NoveltyModel(prior_weight=1, user_weight=10, user_max_bits=2)
    new_asn = swap(HOME, asn="64500")
    steady = weigh(new_asn, profile(sign_ins=300), POPULATION, model, NOW, org_users=common).new[0]
    roaming = profile(sign_ins=40, extra=frozenset({("asn", "12929"), ("asn", "29695")}))
    mobile = weigh(new_asn, roaming, POPULATION, model, NOW, org_users=common).new[0]
    assert steady.user_factor == 0.25 and steady.bits == pytest.approx(
        -math.log2(0.25 * 201 / 98_101), abs=0.01
    )
    assert mobile.user_factor > 3 and mobile.bits < steady.bits - 3.5
    assert "as often for this user" in mobile.explain(40)
    assert "less often for this user" in steady.explain(300)


@pytest.mark.parametrize(
    ("places", "factor", "habit"),
    [
        (
            {("city", "Paris, FR"), ("city", "Rome, IT"), ("country", "FR"), ("country", "IT")},
            0.25,
            "4.0x less often for this user (no new networks from a familiar city in about "
            "39 sign-ins)",
        ),
        (
            set(),
            16.0,
            "16.0x as often for this user (2 new networks from a familiar city in "
            "about 39 sign-ins)",
        ),
    ],
    ids=["networks-that-came-with-trips", "networks-in-the-home-city"],
)
def test_only_networks_beyond_one_per_city_make_a_user_less_surprised(
    places: set[Feature], factor: float, habit: str
) -> None:
    # Two networks besides home: a traveller's came with two new cities (weighed by the
    # new-city rate when they happened), a cafe-hopper's did not.
    model = NoveltyModel(prior_weight=1, user_weight=10, user_max_bits=2)
    extra = frozenset({("asn", "12929"), ("asn", "29695"), *places})
    new = weigh(
        swap(HOME, asn="64500"),
        profile(sign_ins=40, extra=extra),
        POPULATION,
        model,
        NOW,
        org_users=common,
    ).new[0]
    rate = (200 + 0.005) / (98_100 + 1)
    assert new.user_factor == factor
    assert new.bits == pytest.approx(-math.log2(factor * rate), abs=0.01)
    assert new.explain(40) == (
        "network 64500: never used by this user in 40 sign-ins, by 50 other users here "
        "for a day or more; new in 0.2% of sign-ins from a familiar city, "
        f"{habit}: {new.bits:.1f} bits"
    )


def test_a_property_unused_for_the_forget_period_is_new_again() -> None:
    old = profile(last_seen=NOW - timedelta(days=400))
    novelty = weigh(
        swap(HOME, subnet="84.208.1.0/24"),
        old,
        POPULATION,
        NoveltyModel(forget_days=365),
        NOW,
        org_users=common,
    )
    assert {p.kind for p in novelty.new} == {k for k, _ in HOME}
    assert novelty.new[0].explain(44).startswith("country NO: not used by this user for 400 days")
    recent = weigh(
        HOME,
        profile(last_seen=NOW - timedelta(days=364)),
        POPULATION,
        NoveltyModel(forget_days=365),
        NOW,
    )
    assert recent.new == ()


def test_a_missing_device_cookie_is_a_new_device() -> None:
    had_cookie = profile(extra=frozenset({("device", "d1")}))
    novelty = weigh(HOME, had_cookie, POPULATION, PLAIN, NOW, device_missing=True, org_users=common)
    assert [(p.kind, p.value) for p in novelty.new] == [("device", "(no device cookie)")]


def test_a_new_value_nobody_here_has_weighs_by_how_rarely_that_happens() -> None:
    """A legitimate user's new network is mostly one colleagues use; a rented server's is
    not. Rare values are counted apart, so their rate is learned like any other."""
    rare_counts = NoveltyCounts({**POPULATION.counters, "learned.asn.f.rare": 10})
    new_asn = swap(HOME, asn="64500")
    shared = weigh(new_asn, profile(), rare_counts, PLAIN, NOW, org_users=common).new[0]
    alone = weigh(new_asn, profile(), rare_counts, PLAIN, NOW, org_users=lambda f, days: 2).new[0]
    assert alone.bits == pytest.approx(-math.log2((10 + 0.2 * 0.005) / 98_101), abs=0.01)
    assert alone.bits > shared.bits + 3
    assert (
        "by 2 other users here for a day or more; new and as rare here in 0.01% of sign-ins"
        in alone.explain(44)
    )
    # Where a replayed log taught networks at step-ups nobody is known to have answered,
    # the count wants those users to have kept them longer, and the evidence says so.
    unsure = weigh(
        new_asn, profile(), rare_counts, PLAIN, NOW, org_users=common, org_unconfirmed_days=7
    ).new[0]
    assert (
        "for a day or more (7 days if first used at a step-up not known to be answered); new in"
        in unsure.explain(44)
    )
    assert unsure.bits == shared.bits
    # Not a kind told apart by the organisation: a device cookie is per user.
    novelty = weigh(
        swap(HOME, device="d9"), profile(), rare_counts, PLAIN, NOW, org_users=lambda f, days: 0
    )
    assert novelty.observed[-1] == ("device", False, Seen.NEW, 0)


def test_counters_name_the_stage_the_cell_and_the_score_bin() -> None:
    novelty = weigh(
        swap(HOME, asn="64500"),
        profile(),
        POPULATION,
        PLAIN,
        NOW,
        stage=Stage.LEARNING,
        org_users=lambda f, days: 0,
    )
    names = novelty.counter_names()
    # Familiar-parent cells carry the bin of the user's habit (factor 1 here: bin 0).
    assert "learning.asn.f~0" in names and "learning.asn.f~0.rare" in names
    assert "learning.country.f~0" in names and "learning.country.f~0.new" not in names
    assert "learning.subnet.n" in names and "learning.subnet.n.new" not in names
    assert f"learning.bits.{int(novelty.bits / 0.25)}" in names


def test_threshold_is_the_lowest_score_the_newest_share_reaches() -> None:
    counts = NoveltyCounts(
        {
            "learned.bits.0": 9_000,
            "learned.bits.20": 990,
            "learned.bits.40": 9,
            "learned.bits.60": 1,
        }
    )
    assert counts.threshold(Stage.LEARNED, 0.0001) == (15.0, 10_000)
    assert counts.threshold(Stage.LEARNED, 0.00009) == (None, 10_000)  # under one sign-in
    only_zero = NoveltyCounts({"learned.bits.0": 500})
    assert only_zero.threshold(Stage.LEARNED, 0.01) == (0.25, 500)
    assert counts.threshold(Stage.LEARNED, 0.001) == (10.0, 10_000)
    assert counts.threshold(Stage.LEARNED, 0.01) == (10.0, 10_000)
    assert counts.threshold(Stage.LEARNED, 0.1) == (5.0, 10_000)
    assert counts.threshold(Stage.LEARNING, 0.01) == (None, 0)
    assert counts.share_at_or_above(Stage.LEARNED, 10.0) == pytest.approx(0.001)
    assert counts.share_at_or_above(Stage.LEARNED, 12.0) == pytest.approx(0.0001)


ABROAD = swap(HOME, country="SE", city="Stockholm, SE", asn="3301", subnet="81.1.1.0/24")
NEW_NETWORK = swap(HOME, asn="64500", subnet="203.0.113.0/24")


def test_the_takeover_side_is_the_threat_models_share_of_the_pattern() -> None:
    # A trip abroad with the user's own browser and OS: only a naive attacker leaves the
    # country (0.9), and then keeps the browser (0.3) and OS (0.5) by chance; a VPN user
    # rarely leaves it (0.05) and keeps them half the time and mostly (0.5, 0.9); a targeted
    # attacker almost never (at the 0.02 floor), keeping both (0.95 each).
    trip = {"country": True, "city": True, "asn": True, "subnet": True, "browser": False}
    trip["os"] = False
    expected = (0.9 * 0.3 * 0.5 + 0.05 * 0.5 * 0.9 + 0.02 * 0.95 * 0.95) / 3
    assert takeover_share(trip) == pytest.approx(expected)
    # The targeted attacker's pattern: only the network (and its /24) new.
    network = dict.fromkeys(("country", "city", "subnet", "browser", "os"), False)
    network.update(asn=True, subnet=True)
    assert takeover_share(network) > 0.25


def test_a_trip_abroad_loses_bits_a_new_network_in_the_users_city_does_not() -> None:
    trip = weigh(ABROAD, profile(), POPULATION, TAKEOVER, NOW, org_users=common)
    trip_plain = weigh(ABROAD, profile(), POPULATION, PLAIN, NOW, org_users=common)
    network = weigh(NEW_NETWORK, profile(), POPULATION, TAKEOVER, NOW, org_users=common)
    network_plain = weigh(NEW_NETWORK, profile(), POPULATION, PLAIN, NOW, org_users=common)
    # The default weight counts the takeover side twice.
    assert trip.takeover_bits == pytest.approx(2 * math.log2(trip.takeover_share / 0.25), abs=1e-9)
    assert trip.bits == pytest.approx(trip_plain.bits + trip.takeover_bits)
    assert trip.takeover_bits < -4
    assert network.takeover_bits == 0 and network.bits == network_plain.bits
    # Without the takeover side the trip outweighs the new network; with it, not.
    assert trip_plain.bits > network_plain.bits - 1.5
    assert network.bits > trip.bits
    assert trip.newness == trip_plain.bits  # "1 in 2**newness sign-ins look this new"
    assert trip.explain_takeovers() == (
        f"takeovers rarely look like this ({trip.takeover_share:.1%} of them; the most "
        f"typical attacker's pattern: 25%): {trip.takeover_bits:.1f} bits"
    )
    assert network.explain_takeovers() is None


def test_a_new_phone_on_the_home_network_is_far_from_any_takeover() -> None:
    phone = weigh(swap(HOME, browser="Safari", os="iOS"), profile(), POPULATION, TAKEOVER, NOW)
    # Every attacker brings a network of their own: the home network kept costs each one
    # the floor, so the pattern loses about log2(50) bits or more, twice over by default.
    assert phone.takeover_bits < -11
    assert phone.bits == max(phone.newness + phone.takeover_bits, 0)


def test_takeover_weight_scales_the_takeover_side() -> None:
    half = NoveltyModel(prior_weight=1, user_weight=1e9, takeover_weight=1)
    full = weigh(ABROAD, profile(), POPULATION, TAKEOVER, NOW, org_users=common)
    scaled = weigh(ABROAD, profile(), POPULATION, half, NOW, org_users=common)
    off = weigh(ABROAD, profile(), POPULATION, PLAIN, NOW, org_users=common)
    assert scaled.takeover_bits == pytest.approx(full.takeover_bits / 2)
    assert (off.takeover_bits, off.takeover_share) == (0.0, None)


def test_configured_weight_replaces_the_learned_one() -> None:
    model = NoveltyModel(weights={"asn": 20.0})
    novelty = weigh(swap(HOME, asn="64500"), profile(), POPULATION, model, NOW, org_users=common)
    assert novelty.bits == 20.0
    assert novelty.new[0].explain(44).endswith("weight set in config: 20.0 bits")


# -- the user's own history since settling in (novelty_settle_days) -----------------------

OFFICE_AND_PHONE = frozenset({("asn", "12929"), ("asn", "29695")})
"""The office's and the phone carrier's networks, besides the home line."""


def settled_profile(
    sign_ins: int, late: frozenset[Feature] = frozenset(), days: int = 200
) -> UserProfile:
    """A user `days` into their history: home, office and phone networks first used on the
    first day; `late` values first used a week ago."""
    first = NOW - timedelta(days=days)
    features = HOME | OFFICE_AND_PHONE | late
    first_used = {f: (NOW - timedelta(days=7) if f in late else first) for f in features}
    return UserProfile(
        first, sign_ins, features, dict.fromkeys(features, NOW - timedelta(days=1)), first_used
    )


SETTLED = NoveltyModel(prior_weight=1, user_weight=10, user_max_bits=2)


def test_networks_of_the_first_days_are_a_stable_history_not_a_habit() -> None:
    # Counted over the whole history, home, office and phone are two networks beyond the
    # first: a habit of new networks (16x as often). Since settling in, none is new.
    new_asn = swap(HOME, asn="64500")
    whole = profile(sign_ins=101, extra=OFFICE_AND_PHONE)
    before = weigh(new_asn, whole, POPULATION, SETTLED, NOW, org_users=common).new[0]
    after = weigh(new_asn, settled_profile(101), POPULATION, SETTLED, NOW, org_users=common).new[0]
    rate = (200 + 0.005) / (98_100 + 1)
    assert before.user_factor > 1
    assert after.user_factor == 0.25
    assert after.bits == pytest.approx(-math.log2(0.25 * rate), abs=0.01)
    # 100 earlier sign-ins over 200 days, 186 of them after the first 14: about 93.
    assert after.explain(101) == (
        "network 64500: never used by this user in 101 sign-ins, by 50 other users here "
        "for a day or more; new in 0.2% of sign-ins from a familiar city, 4.0x less often "
        "for this user "
        "(no new networks from a familiar city in about 93 sign-ins after the first 14 "
        f"days): {after.bits:.1f} bits"
    )


def test_networks_first_used_after_settling_in_make_a_user_less_surprised() -> None:
    cafes = frozenset({("asn", "3301"), ("asn", "8473"), ("asn", "5610")})
    new = weigh(
        swap(HOME, asn="64500"),
        settled_profile(101, late=cafes),
        POPULATION,
        SETTLED,
        NOW,
        org_users=common,
    ).new[0]
    rate = (200 + 0.005) / (98_100 + 1)
    own = (3 + 10 * rate) / (100 * 186 / 200 + 10)
    assert new.user_factor == pytest.approx(own / rate)
    assert new.user_factor > 10
    assert new.explain(101).endswith(
        f"{new.user_factor:.1f}x as often for this user (3 new networks from a familiar city "
        f"in about 93 sign-ins after the first 14 days): {new.bits:.1f} bits"
    )


def test_a_new_network_that_came_with_a_new_city_is_not_a_habit() -> None:
    trips = frozenset(
        {("asn", "3301"), ("city", "Bergen, NO"), ("asn", "8473"), ("city", "Tromsø, NO")}
    )
    new = weigh(
        swap(HOME, asn="64500"),
        settled_profile(101, late=trips),
        POPULATION,
        SETTLED,
        NOW,
        org_users=common,
    ).new[0]
    assert new.user_factor == 0.25


@pytest.mark.parametrize(
    ("settle_days", "counted_since"), [(14, True), (250, False)], ids=["settled", "still-settling"]
)
def test_settle_days_decide_from_when_the_users_habit_counts(
    settle_days: int, counted_since: bool
) -> None:
    model = NoveltyModel(prior_weight=1, user_weight=10, settle_days=settle_days, user_max_bits=2)
    new = weigh(
        swap(HOME, asn="64500"), settled_profile(101), POPULATION, model, NOW, org_users=common
    ).new[0]
    text = new.explain(101)
    if counted_since:
        assert new.user_factor == 0.25
        assert f"after the first {settle_days} days" in text
    else:
        # 200 days in, 250 to settle: the whole history counts, office and phone included.
        assert new.user_factor > 1
        assert "(2 new networks from a familiar city in about 100 sign-ins)" in text


@pytest.mark.parametrize(("max_bits", "factor"), [(2.0, 0.25), (4.0, 1 / 16), (0.0, 1.0)])
def test_user_max_bits_caps_how_much_more_surprising_a_stable_history_makes_it(
    max_bits: float, factor: float
) -> None:
    model = NoveltyModel(prior_weight=1, user_weight=10, user_max_bits=max_bits)
    new = weigh(
        swap(HOME, asn="64500"),
        settled_profile(1001, days=360),
        POPULATION,
        model,
        NOW,
        org_users=common,
    ).new[0]
    rate = (200 + 0.005) / (98_100 + 1)
    assert new.user_factor == pytest.approx(factor)
    assert new.bits == pytest.approx(-math.log2(factor * rate), abs=0.01)
    if factor < 1:
        assert f"{1 / factor:.1f}x less often for this user (no new networks" in new.explain(1001)
    else:
        assert "for this user" not in new.explain(1001)


@pytest.mark.parametrize(("min_bits", "factor"), [(4.0, 16.0), (1.0, 2.0)])
def test_user_min_bits_caps_how_much_less_surprising_a_habit_makes_it(
    min_bits: float, factor: float
) -> None:
    cafes = frozenset({("asn", str(64_600 + i)) for i in range(40)})
    model = NoveltyModel(prior_weight=1, user_weight=10, user_min_bits=min_bits)
    new = weigh(
        swap(HOME, asn="64500"),
        settled_profile(101, late=cafes),
        POPULATION,
        model,
        NOW,
        org_users=common,
    ).new[0]
    assert new.user_factor == factor
    assert new.explain(101).endswith(
        f"{factor:.1f}x as often for this user (40 new networks from a familiar city in "
        f"about 93 sign-ins after the first 14 days): {new.bits:.1f} bits"
    )


def with_habit_bin(bin_: int, sign_ins: int, new: int) -> NoveltyCounts:
    """POPULATION, with `sign_ins` of its familiar-city sign-ins counted in habit bin `bin_`
    (`new` of them with a new network): what users with such a habit actually showed."""
    counters = dict(POPULATION.counters)
    counters["learned.asn.f"] -= sign_ins
    counters["learned.asn.f.new"] -= new
    counters[f"learned.asn.f~{bin_}"] = sign_ins
    counters[f"learned.asn.f~{bin_}.new"] = new
    return NoveltyCounts(counters)


def test_habit_bins_add_up_to_their_cell() -> None:
    counts = with_habit_bin(-2, 50_000, 100)
    assert counts.cell(Stage.LEARNED, "asn", False) == (98_100, 200, 0)
    assert counts.cell(Stage.LEARNED, "asn", False, -2) == (50_000, 100, 0)
    assert counts.cell(Stage.LEARNED, "asn", False, 1) == (0, 0, 0)


# A steady user: 300 sign-ins with no new network, which alone reads as 4x less often
# (bin -2) with SETTLED's cap of 2 bits.
STEADY = profile(sign_ins=300)
NEW_ASN = swap(HOME, asn="64500")


@pytest.mark.parametrize(
    ("new", "factor", "shown"),
    [(100, 1.0, "0.2%"), (25, 0.25, "0.05%"), (400, 4.0, "0.8%")],
    ids=["no-less-often-than-anyone", "as-rare-as-the-habit-says", "more-often-than-anyone"],
)
def test_a_users_habit_counts_as_much_as_users_with_such_a_habit_bore_it_out(
    new: int, factor: float, shown: str
) -> None:
    # 50,000 sign-ins in bin -2 showed a new network in `new` of them; everyone's rate is
    # 200 in 98,100 (0.2%).
    counts = with_habit_bin(-2, 50_000, new)
    model = NoveltyModel(prior_weight=1, user_weight=10, user_max_bits=2, user_min_bits=2)
    found = weigh(NEW_ASN, STEADY, counts, model, NOW, org_users=common).new[0]
    population = (200 + 0.005) / (98_100 + 1)
    borne_out = (new + 0.25 * population) / (50_000 + 1)
    # Within SETTLED's cap of 2 bits either way.
    assert found.user_factor == pytest.approx(min(max(borne_out / population, 0.25), 4))
    assert found.user_factor == pytest.approx(factor, rel=0.02)
    assert found.habit is not None and found.habit.estimate == 0.25
    assert found.habit.borne_out == new / 50_000
    text = found.explain(300)
    if factor == 1.0:
        # Not worth a word when the habit changes nothing.
        assert "for this user" not in text
    else:
        assert text.endswith(
            f"new in 0.2% of sign-ins from a familiar city, {how_often(found.user_factor)} "
            "for this user (no new networks from a familiar city in about 299 sign-ins: "
            "4.0x less often by that alone; users with such a history: new in "
            f"{shown} of sign-ins): {found.bits:.1f} bits"
        )


def test_without_counts_in_its_bin_the_users_own_estimate_stands() -> None:
    model = NoveltyModel(prior_weight=1, user_weight=10, user_max_bits=2)
    counts = with_habit_bin(1, 50_000, 100)  # another bin than this user's
    found = weigh(NEW_ASN, STEADY, counts, model, NOW, org_users=common).new[0]
    assert found.user_factor == 0.25
    assert found.habit is not None and found.habit.borne_out is None
    assert "by that alone" not in found.explain(300)


def test_a_habit_is_not_read_for_a_kind_whose_parent_is_new() -> None:
    # A steady user's first trip abroad: the habit scales the new country only; the new
    # city and network came with it and weigh what they do for everyone.
    model = NoveltyModel(prior_weight=1, user_weight=10, user_max_bits=2, takeover_weight=0)
    trip = weigh(ABROAD, STEADY, POPULATION, model, NOW, org_users=common)
    factors = {p.kind: (p.user_factor, p.habit) for p in trip.new}
    assert factors["country"][0] == 0.25
    for kind in ("city", "asn", "subnet"):
        assert factors[kind] == (1.0, None)
    city = next(p for p in trip.new if p.kind == "city")
    # 390 of 400 sign-ins in a new country had a new city, common here (prior 0.95 * 0.8).
    assert city.bits == pytest.approx(-math.log2((390 + 0.95 * 0.8) / (400 + 1)))


@pytest.mark.parametrize(
    ("kind", "novel", "text"),
    [
        ("city", 0, "no new cities from a familiar country in about 120 sign-ins"),
        ("country", 2, "2 new countries in about 120 sign-ins"),
        ("os", 3, "3 new OSes from a familiar browser in about 120 sign-ins"),
        ("asn", 1, "1 new network from a familiar city in about 120 sign-ins"),
    ],
)
def test_a_habit_is_described_in_plain_words(kind: str, novel: int, text: str) -> None:
    assert UserHabit(novel, 120, None).describe(LABELS[kind], PARENT[kind]) == text


def test_the_home_network_kept_in_a_new_city_is_far_from_any_takeover() -> None:
    # GeoIP placing the home line in another city: every attacker brings a network of
    # its own, so keeping the user's costs each attacker the floor even though a new city
    # usually brings a new network.
    kept = {"country": False, "city": True, "asn": False, "browser": False, "os": False}
    moved = {**kept, "asn": True}
    assert takeover_share(kept) < 0.005 < 0.05 < takeover_share(moved)
    novelty = weigh(
        swap(HOME, city="Bergen, NO"), profile(), POPULATION, TAKEOVER, NOW, org_users=common
    )
    assert novelty.takeover_share == pytest.approx(takeover_share(kept))
    assert novelty.takeover_bits == pytest.approx(2 * math.log2(takeover_share(kept) / 0.25))


def test_only_users_who_kept_a_network_count_as_having_it() -> None:
    """An attacker signs in to each account they got into from their own network, once or
    for a few hours: other users count as having a network only once they kept it, while a
    place counts from its first use (colleagues visit the same cities)."""
    asked: dict[str, float] = {}

    def two_others(feature: Feature, kept_days: float) -> int:
        asked[feature[0]] = kept_days
        return 2

    model = replace(PLAIN, org_network_kept_days=3)
    novelty = weigh(ABROAD, profile(), POPULATION, model, NOW, org_users=two_others)
    assert asked == {"country": 0, "city": 0, "asn": 3}
    lines = {p.kind: p.explain(44) for p in novelty.new}
    assert "by 2 other users here for 3 days or more; new and as rare" in lines["asn"]
    assert "by 2 other users here; new and as rare" in lines["city"]
    # 0: every user who has the network counts, and the evidence says no more.
    anyone = weigh(
        ABROAD,
        profile(),
        POPULATION,
        replace(PLAIN, org_network_kept_days=0),
        NOW,
        org_users=two_others,
    )
    assert asked["asn"] == 0
    network = next(p for p in anyone.new if p.kind == "asn")
    assert "by 2 other users here; new and as rare" in network.explain(44)


def test_other_users_are_counted_up_to_a_hundred() -> None:
    """Past a few users a value is common: the count stops at ORG_USERS_COUNTED and the
    evidence says so rather than give a number that is not the whole count."""
    assert ORG_USERS_COUNTED == 100
    novelty = weigh(
        NEW_NETWORK, profile(), POPULATION, PLAIN, NOW, org_users=lambda f, days: ORG_USERS_COUNTED
    )
    assert "by 100 or more other users here for a day or more; new in" in novelty.new[0].explain(44)
