from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from risk.context import IpInfo
from risk.detections import Detection
from risk.engine import Assessment, RiskEngine
from risk.levels import Level
from tests.risk.conftest import (
    CHROME_WINDOWS,
    FIREFOX_LINUX,
    T0,
    make_ctx,
    reasons_of,
    sign_in,
    types_of,
)

UNFAMILIAR = "unfamiliarFeatures"
HOME = IpInfo(ip="81.2.69.142", country="GB", city="London", asn=20712)
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0"


def learn(
    engine: RiskEngine, sign_ins: int = 10, days: float = 15, device: str | None = None
) -> None:
    """`sign_ins` ordinary sign-ins from home, spread over `days` days starting at T0; by
    default from a client that keeps no device cookie, as in a log without one (a sign-in
    keeping the user's cookie is rarely a takeover and weighs little: see
    test_a_kept_device_cookie_takes_the_takeover_side_off)."""
    for index in range(sign_ins):
        when = T0 + timedelta(days=days * index / max(sign_ins - 1, 1))
        sign_in(engine, ip=HOME.ip, ip_info=HOME, time=when, device_id=device)


def attempt(
    engine: RiskEngine, days: float = 16, **overrides: object
) -> tuple[Level | None, dict[str, object], dict[str, str]]:
    values: dict[str, object] = {
        "ip": HOME.ip,
        "ip_info": HOME,
        "user_agent": CHROME_WINDOWS,
        "device_id": None,
        "time": T0 + timedelta(days=days),
    }
    values.update(overrides)
    result = sign_in(engine, **values)
    found = unfamiliar(result)
    return (
        (found.level, found.evidence_dict, reasons_of(result))
        if found
        else (None, {}, reasons_of(result))
    )


def unfamiliar(result: Assessment) -> Detection | None:
    """The sign-in's unfamiliarFeatures detection, if it raised one."""
    return next((d for d in result.detections if d.risk_event_type == UNFAMILIAR), None)


def other_user(engine: RiskEngine, name: str, info: IpInfo, **overrides: object) -> Assessment:
    """A successful sign-in of user `name` (not the default one) from `info`."""
    return sign_in(engine, user_id=name, username=name, ip=info.ip, ip_info=info, **overrides)


def network_evidence(engine: RiskEngine, info: IpInfo, days: float = 16) -> tuple[float, str]:
    """The default user's bits and evidence line for `info`'s network, from a failed sign-in
    (nothing learned, so each call sees the same history)."""
    _, evidence, _ = attempt(engine, days=days, ip=info.ip, ip_info=info, succeeded=False)
    lines, bits = evidence["new_features"], evidence["bits"]
    assert isinstance(lines, list) and isinstance(bits, float)
    return bits, next(line for line in lines if line.startswith(f"network {info.asn}:"))


NEW_SUBNET = IpInfo(ip="81.2.70.1", country="GB", city="London", asn=20712)
NEW_ASN = IpInfo(ip="81.2.70.1", country="GB", city="London", asn=5607)
NEW_CITY = IpInfo(ip="81.2.70.1", country="GB", city="Boxford", asn=5607)
NEW_COUNTRY = IpInfo(ip="81.2.70.1", country="SE", city="Linköping", asn=29518)


def score(engine: RiskEngine, **overrides: object) -> float:
    """The new properties' bits of one attempt (0 when nothing is new), before the takeover
    side: a new device alone at home is no takeover's pattern and would score nothing."""
    values: dict[str, object] = {
        "ip": HOME.ip,
        "ip_info": HOME,
        "user_agent": CHROME_WINDOWS,
        "device_id": None,
        "time": T0 + timedelta(days=16),
    }
    values.update(overrides)
    result = engine.evaluate(make_ctx(**values))
    assert result.novelty is not None
    return result.novelty.newness


def test_weight_grows_with_what_is_new_and_how_rarely_it_is(engine: RiskEngine) -> None:
    learn(engine)
    familiar = score(engine)
    new_device = score(engine, device_id="d2")
    new_block = score(engine, ip=NEW_SUBNET.ip, ip_info=NEW_SUBNET)
    new_network = score(engine, ip=NEW_ASN.ip, ip_info=NEW_ASN)
    new_city = score(engine, ip=NEW_CITY.ip, ip_info=NEW_CITY, user_agent=FIREFOX_WINDOWS)
    abroad = score(engine, ip=NEW_COUNTRY.ip, ip_info=NEW_COUNTRY, user_agent=FIREFOX_LINUX)
    assert familiar == 0
    assert 0 < new_device < new_network and 0 < new_block < new_network
    assert new_network < new_city < abroad


@pytest.mark.parametrize(
    ("low", "medium", "high", "expected"),
    [(30, 40, 50, None), (1, 40, 50, Level.LOW), (1, 2, 50, Level.MEDIUM), (1, 2, 3, Level.HIGH)],
    ids=["under-low", "low", "medium", "high"],
)
def test_bits_thresholds_set_the_level_until_enough_sign_ins_are_counted(
    engine: RiskEngine, low: float, medium: float, high: float, expected: Level | None
) -> None:
    engine.settings = replace(
        engine.settings,
        unfamiliar_low_bits=low,
        unfamiliar_medium_bits=medium,
        unfamiliar_high_bits=high,
    )
    learn(engine)
    level, evidence, _ = attempt(engine, ip=NEW_ASN.ip, ip_info=NEW_ASN)
    assert level is expected
    if expected is not None:
        assert (evidence["low_bits"], evidence["medium_bits"], evidence["high_bits"]) == (
            low,
            medium,
            high,
        )
        assert evidence["new_count"] == len(evidence["new_features"])  # type: ignore[arg-type]


def test_counted_sign_ins_raise_the_bar_to_the_newest_share(engine: RiskEngine) -> None:
    """Once counted, a level also needs a score among the newest `_share` of sign-ins: in a
    population where every other sign-in brings a new network, one more is not news."""
    engine.settings = replace(
        engine.settings,
        unfamiliar_low_bits=0.5,
        unfamiliar_low_share=0.1,
        novelty_min_counted=50,
        learning_min_sign_ins=2,
        learning_period_days=0,
    )
    for index in range(60):
        for day, info in ((1, HOME), (2, HOME), (3, NEW_ASN if index % 2 else HOME)):
            other_user(
                engine,
                f"u-{index}",
                info,
                device_id=None,
                time=T0 + timedelta(days=day, minutes=index),
            )
    level, evidence, _ = attempt(
        engine, user_id="u-0", username="u-0", ip=NEW_ASN.ip, ip_info=NEW_ASN, days=4
    )
    assert level is None
    level, evidence, _ = attempt(
        engine,
        user_id="u-0",
        username="u-0",
        ip=NEW_COUNTRY.ip,
        ip_info=NEW_COUNTRY,
        user_agent=FIREFOX_LINUX,
        days=4,
    )
    assert level is Level.HIGH
    # Too few sign-ins counted for the newest 0.02%: the high level keeps its bits floor.
    assert evidence["share_this_new"] == 0
    assert evidence["high_bits"] == engine.settings.unfamiliar_high_bits


def test_a_new_network_in_the_users_own_city_is_medium_by_default(engine: RiskEngine) -> None:
    """A targeted takeover's one new thing: the victim's city, browser and OS from a network
    the victim never used. It weighs between 7 and 8 bits here, which the default medium
    bar of 7 flags and the earlier 8 did not; a new /24 of the user's own network does not
    reach low."""
    assert engine.settings.unfamiliar_medium_bits == 7
    learn(engine)
    when = T0 + timedelta(days=16)
    found = unfamiliar(sign_in(engine, ip=NEW_ASN.ip, ip_info=NEW_ASN, device_id=None, time=when))
    assert found is not None and found.level is Level.MEDIUM
    bits = found.evidence_dict["bits"]
    assert isinstance(bits, float) and 7 <= bits < 8
    assert found.evidence_dict["medium_bits"] == 7
    # The admin reads the bar it crossed and the one new thing that weighed.
    text = found.describe()
    assert "bits; low at 5.0, medium at 7.0, high at 12.0): network 5607: never used" in text
    assert "device" not in text
    assert attempt(engine, ip=NEW_SUBNET.ip, ip_info=NEW_SUBNET)[0] is None


def test_a_kept_device_cookie_takes_the_takeover_side_off(engine: RiskEngine) -> None:
    """No attacker has the victim's device cookie: the same new network, from the browser
    that keeps the user's cookie, is rarely a takeover and raises nothing; from any other
    browser it is flagged. (Failed sign-ins teach nothing, so each attempt sees the same
    history.)"""
    learn(engine, device="d1")
    kept = sign_in(
        engine,
        ip=NEW_ASN.ip,
        ip_info=NEW_ASN,
        device_id="d1",
        time=T0 + timedelta(days=16),
        succeeded=False,
    )
    novelty = kept.novelty
    assert novelty is not None and novelty.newness > 7
    assert novelty.takeover_bits < -7 and novelty.bits == 0
    explained = novelty.explain_takeovers()
    assert explained is not None and explained.startswith("takeovers rarely look like this (")
    assert unfamiliar(kept) is None
    for other_browser in (None, "d2"):
        level, evidence, _ = attempt(
            engine, ip=NEW_ASN.ip, ip_info=NEW_ASN, device_id=other_browser, succeeded=False
        )
        assert level in (Level.MEDIUM, Level.HIGH)
        assert evidence["takeover_bits"] == 0


def test_missing_cookie_is_not_new_for_users_who_never_had_one(engine: RiskEngine) -> None:
    learn(engine, device=None)
    assert score(engine, device_id=None) == 0
    learn(engine, device="d1")
    assert score(engine, device_id=None) > 0


def test_evidence_explains_each_new_property_with_its_weight(engine: RiskEngine) -> None:
    # Whether others here have a value counts once enough sign-ins are: here at once.
    engine.settings = replace(engine.settings, novelty_min_counted=0)
    learn(engine)
    level, evidence, _ = attempt(
        engine, ip=NEW_COUNTRY.ip, ip_info=NEW_COUNTRY, user_agent=FIREFOX_LINUX, device_id="d2"
    )
    assert level is Level.HIGH
    shown = evidence["new_features"]
    assert isinstance(shown, list) and evidence["new_count"] == 7
    # Then the takeover side: a naive attacker's pattern, but not all naive attackers bring
    # a browser of their own (risk.novelty.ATTACKERS).
    assert len(shown) == 8 and shown[-1].startswith("takeovers rarely look like this (")
    assert evidence["takeover_bits"] < 0
    # Heaviest first; each names the property, the user's history, the rate and the bits.
    assert shown[0].startswith(
        "country SE: never used by this user in 10 sign-ins, by no "
        "other user here; new and as rare here in "
    )
    assert all(line.endswith(" bits") for line in shown)
    assert any(
        line.startswith("city Linköping, SE: ") and "from a new country" in line for line in shown
    )
    assert evidence["stage"] == "learned" and evidence["learned_sign_ins"] == 10
    # Each line's bits are rounded to a tenth: eight lines may be off by 0.05 each.
    listed = sum(float(line.rsplit(": ", 1)[1][:-5]) for line in shown)
    assert evidence["bits"] == pytest.approx(listed, abs=0.05 * len(shown))


def test_rarity_in_the_organisation_counts_once_enough_sign_ins_are_counted(
    engine: RiskEngine,
) -> None:
    learn(engine)
    level, evidence, _ = attempt(engine, ip=NEW_ASN.ip, ip_info=NEW_ASN)
    assert all(", by " not in line for line in evidence["new_features"])  # type: ignore[union-attr]
    engine.settings = replace(engine.settings, novelty_min_counted=1)
    abroad = {"ip": NEW_COUNTRY.ip, "ip_info": NEW_COUNTRY, "user_agent": FIREFOX_LINUX}
    _, evidence, _ = attempt(engine, days=17, **abroad)
    assert any(
        "by no other user here; new and as rare here" in line for line in evidence["new_features"]
    )  # type: ignore[union-attr]


def test_accounts_an_attacker_got_into_do_not_make_the_attackers_network_common(
    engine: RiskEngine,
) -> None:
    """An attacker signs in once to each account they got into, from their own network. If
    each victim counted as a colleague using it, the network would soon look like an office
    and weigh like one; another user counts only once they kept it, used it again a day or
    more after the first time."""
    # Whether others here have a value counts once enough sign-ins are: here at once.
    engine.settings = replace(engine.settings, novelty_min_counted=0)
    learn(engine)
    exit_node = IpInfo(ip="185.220.1.7", country="GB", city="London", asn=9009)
    for n in range(4):  # four victims, an hour of the attacker each
        for minutes in (0, 60):
            other_user(
                engine, f"victim-{n}", exit_node, time=T0 + timedelta(days=20, minutes=n + minutes)
            )
    rare_bits, rare = network_evidence(engine, exit_node, days=30)
    assert "by no other user here for a day or more; new and as rare here" in rare
    # Three colleagues who come back to it the next day make it a network people here use.
    for n in range(3):
        other_user(engine, f"victim-{n}", exit_node, time=T0 + timedelta(days=21, minutes=n))
    common_bits, common = network_evidence(engine, exit_node, days=30)
    assert "by 3 other users here for a day or more; new in" in common
    assert common_bits < rare_bits
    # With the rule off, every account that used it counts.
    engine.settings = replace(engine.settings, novelty_org_network_kept_days=0)
    assert "by 4 other users here; new in" in network_evidence(engine, exit_node, days=30)[1]


def test_other_users_are_counted_as_far_as_the_common_bar_needs(engine: RiskEngine) -> None:
    """Counting other users stops at ORG_USERS_COUNTED (100), unless an organisation sets
    `novelty_org_common_users` higher: then it counts that far, or no value would ever be
    common."""
    engine.settings = replace(
        engine.settings, novelty_min_counted=0, novelty_org_network_kept_days=0
    )
    learn(engine)
    for n in range(120):
        other_user(engine, f"colleague-{n}", NEW_ASN, time=T0 + timedelta(days=2, seconds=n))
    assert "by 100 or more other users here; new in" in network_evidence(engine, NEW_ASN)[1]
    engine.settings = replace(engine.settings, novelty_org_common_users=150)
    assert "by 120 other users here; new and as rare here" in network_evidence(engine, NEW_ASN)[1]


@pytest.mark.parametrize("scale", [1.0, 4.0])
def test_users_still_learning_are_weighed_against_other_learning_users(
    engine: RiskEngine, scale: float
) -> None:
    engine.settings = replace(engine.settings, unfamiliar_learning_share_scale=scale)
    abroad = {"ip": NEW_COUNTRY.ip, "ip_info": NEW_COUNTRY, "user_agent": FIREFOX_LINUX}
    learn(engine, sign_ins=3, days=2)
    # Until the organisation's learning sign-ins are counted, none is judged unusual.
    result = engine.evaluate(make_ctx(time=T0 + timedelta(days=3), device_id="d1", **abroad))
    assert result.novelty is not None and result.novelty.bits > 8
    assert UNFAMILIAR not in types_of(result) | set(reasons_of(result))
    engine.settings = replace(engine.settings, novelty_min_counted=20)
    for index in range(120):
        for day in (1, 2):
            other_user(engine, f"u-{index}", HOME, device_id="d1", time=T0 + timedelta(days=day))
    level, evidence, _ = attempt(engine, days=3, **abroad)
    assert evidence["stage"] == "learning"
    # About 120 learning sign-ins are counted (a user's first has nothing to weigh against):
    # the newest 0.02% holds none, nor four times that, so high is out of reach; the newest
    # 0.6% holds none either, but four times that (unfamiliar_learning_share_scale) does.
    assert evidence["high_bits"] is None
    if scale == 1.0:
        assert level is Level.LOW and evidence["medium_bits"] is None
    else:
        medium = evidence["medium_bits"]
        assert isinstance(medium, float) and medium >= engine.settings.unfamiliar_medium_bits
        assert level is (Level.MEDIUM if evidence["bits"] >= medium else Level.LOW)
    first = attempt(engine, user_id="u-new", username="new", days=3)
    assert first[2][UNFAMILIAR] == "no previous successful sign-in"


def test_unknown_user_cannot_be_evaluated(engine: RiskEngine) -> None:
    _, _, reasons = attempt(engine, user_id=None)
    assert reasons[UNFAMILIAR] == "no such user"


def test_failed_and_blocked_sign_ins_teach_nothing(engine: RiskEngine) -> None:
    learn(engine)
    # Abroad on another computer: what a takeover may look like.
    abroad = {"ip": NEW_COUNTRY.ip, "ip_info": NEW_COUNTRY, "user_agent": FIREFOX_LINUX}
    for day in (16, 17):
        attempt(engine, days=day, password_valid=False, **abroad)
        attempt(engine, days=day, succeeded=False, **abroad)
    level, _, _ = attempt(engine, days=18, **abroad)
    assert level is not None
    level, _, _ = attempt(engine, days=19, **abroad)
    assert level is None


@pytest.mark.parametrize(
    ("settle_days", "habit"),
    [
        # 10 / (about 34 + 10) and 10 / (39 + 10) by the user's own count (unclamped:
        # novelty_user_max_bits is 4); then the sign-ins counted in that habit's bin, this
        # user's own earlier ones with no new network, pull it a little further.
        (
            14,
            "4.5x less often for this user (no new networks from a familiar city in about "
            "34 sign-ins after the first 14 days: 4.4x less often by that alone; users with "
            "such a history: new in 0.00% of sign-ins)",
        ),
        (
            365,
            "5.1x less often for this user (no new networks from a familiar city in about "
            "39 sign-ins: 4.9x less often by that alone; users with such a history: new in "
            "0.00% of sign-ins)",
        ),
    ],
    ids=["settled", "still-settling"],
)
def test_evidence_gives_the_users_own_count_behind_their_habit(
    engine: RiskEngine, settle_days: int, habit: str
) -> None:
    engine.settings = replace(
        engine.settings,
        novelty_settle_days=settle_days,
        unfamiliar_low_bits=1,
        unfamiliar_medium_bits=2,
        unfamiliar_high_bits=3,
    )
    learn(engine, sign_ins=40, days=100)
    level, evidence, _ = attempt(engine, days=101, ip=NEW_ASN.ip, ip_info=NEW_ASN)
    assert level is Level.HIGH
    shown = evidence["new_features"]
    assert isinstance(shown, list)
    network = next(line for line in shown if line.startswith("network 5607: "))
    assert habit in network
