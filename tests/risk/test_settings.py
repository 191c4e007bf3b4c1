from __future__ import annotations

import pytest

from risk.errors import RiskConfigError
from risk.levels import Level
from risk.settings import RiskSettings
from risk.vocabulary import RiskEventType

SPEC_KEYS = {
    "geoip_city_db": "",
    "geoip_asn_db": "",
    "anonymous_ip_db": "",
    "anonymous_ip_list": "",
    "malicious_ip_list": "",
    "leaked_passwords": "",
    "trusted_locations": [],
    "impossible_travel_kmh": 900,
}


def test_spec_risk_table_is_accepted_with_its_defaults() -> None:
    settings = RiskSettings.from_mapping(SPEC_KEYS)
    assert settings == RiskSettings()
    assert settings.impossible_travel_kmh == 900
    assert settings.trusted_locations == ()


def test_values_are_parsed_and_normalized() -> None:
    settings = RiskSettings.from_mapping(
        {
            "impossible_travel_kmh": "1000",
            "learning_period_days": 7.0,
            "trusted_locations": ["10.1.2.3/8", "2001:db8::/32"],
            "aggregate_raise_min_level": "high",
            "levels": {"newcountry": "medium"},
            "disabled_detections": "mfaFraud, PASSWORDSPRAY",
        }
    )
    assert settings.impossible_travel_kmh == 1000.0
    assert settings.learning_period_days == 7
    assert settings.trusted_locations == ("10.0.0.0/8", "2001:db8::/32")
    assert settings.aggregate_raise_min_level is Level.HIGH
    assert settings.level_for(RiskEventType.NEW_COUNTRY) is Level.MEDIUM
    assert settings.level_for(RiskEventType.MALICIOUS_IP_ADDRESS) is Level.MEDIUM
    assert not settings.is_enabled(RiskEventType.MFA_FRAUD)
    assert not settings.is_enabled(RiskEventType.PASSWORD_SPRAY)
    assert settings.is_enabled(RiskEventType.UNLIKELY_TRAVEL)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"impossible_travel_kmh": "fast"},
            "risk.impossible_travel_kmh: must be a number between 100 and 20000, got 'fast'",
        ),
        (
            {"impossible_travel_kmh": 99},
            "risk.impossible_travel_kmh: must be a number between 100 and 20000, got 99",
        ),
        (
            {"impossible_travel_kmh": True},
            "risk.impossible_travel_kmh: must be a number between 100 and 20000, got True",
        ),
        (
            {"learning_period_days": 1.5},
            "risk.learning_period_days: must be a whole number between 0 and 365, got 1.5",
        ),
        (
            {"low_risk_age_out_days": 0},
            "risk.low_risk_age_out_days: must be a whole number between 1 and 3650, got 0",
        ),
        (
            {"geoip_city_db": 3},
            'risk.geoip_city_db: must be a file path string ("" = not configured), got 3',
        ),
        (
            {"trusted_locations": ["10.0.0.0/8", "office"]},
            'risk.trusted_locations: must be a list of CIDR strings such as "203.0.113.0/24", '
            "got 'office'",
        ),
        (
            {"aggregate_raise_min_level": "none"},
            "risk.aggregate_raise_min_level: must be one of low, medium, high, got 'none'",
        ),
        (
            {"levels": {"newCountry": "severe"}},
            "risk.levels.newCountry: must be one of low, medium, high, got 'severe'",
        ),
        (
            {"unfamiliar_low_bits": 12},
            "risk.unfamiliar_medium_bits: unfamiliar_low_bits <= unfamiliar_medium_bits <= "
            f"unfamiliar_high_bits must hold, got 12, {RiskSettings().unfamiliar_medium_bits:g}, "
            f"{RiskSettings().unfamiliar_high_bits:g}",
        ),
        (
            {"unfamiliar_medium_at": 4},
            "risk.unfamiliar_medium_at: unfamiliarFeatures now weighs new properties in bits "
            "instead of counting them; use unfamiliar_medium_bits",
        ),
        (
            {"novelty_weights": {"asn": 9, "zodiac": 1}},
            "risk.novelty_weights.zodiac: must be a table of kind = bits (0 to 64) with kinds "
            "among country, city, asn, subnet, browser, os, device, got 'zodiac'",
        ),
        (
            {"novelty_weights": {"asn": -1}},
            "risk.novelty_weights.asn: must be a number between 0 and 64, got -1",
        ),
        (
            {"novelty_takeover_weight": 5},
            "risk.novelty_takeover_weight: must be a number between 0 and 4, got 5",
        ),
        (
            {"hosting_provider_level": "severe"},
            "risk.hosting_provider_level: must be one of none, low, medium, high, got 'severe'",
        ),
        (
            {"unfamiliar_learning_share_scale": -1},
            "risk.unfamiliar_learning_share_scale: must be a number between 0 and 100, got -1",
        ),
        (
            {"impossible_travel_skip_familiar": 1},
            "risk.impossible_travel_skip_familiar: must be true or false, got 1",
        ),
        (
            {"impossible_travel_skip_familiar": "yes"},
            "risk.impossible_travel_skip_familiar: must be true or false, got 'yes'",
        ),
    ],
    ids=[
        "not-a-number",
        "below-range",
        "bool-is-not-a-number",
        "not-whole",
        "age-out-zero",
        "path-not-string",
        "bad-cidr",
        "level-not-allowed",
        "levels-bad-value",
        "unfamiliar-order",
        "renamed-count-key",
        "weight-unknown-kind",
        "weight-negative",
        "takeover-weight-above-four",
        "hosting-level",
        "learning-scale-negative",
        "skip-familiar-number",
        "skip-familiar-word",
    ],
)
def test_bad_values_fail_with_one_line_naming_the_key(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(RiskConfigError) as caught:
        RiskSettings.from_mapping(data)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_novelty_weights_and_thresholds_parse() -> None:
    settings = RiskSettings.from_mapping(
        {
            "novelty_weights": {"ASN": "9.5", "subnet": 0},
            "unfamiliar_medium_bits": "11",
            "hosting_provider_level": "none",
            "unfamiliar_learning_share_scale": "4",
        }
    )
    assert settings.unfamiliar_learning_share_scale == 4.0
    assert RiskSettings().unfamiliar_learning_share_scale == 2.0
    assert settings.novelty_model.weights == {"asn": 9.5, "subnet": 0.0}
    assert settings.unfamiliar_medium_bits == 11.0
    assert settings.hosting_provider_level is Level.NONE


@pytest.mark.parametrize(
    ("raw", "expected"), [(False, False), (" FALSE ", False), ("true", True), (True, True)]
)
def test_skip_familiar_reads_booleans_and_their_words(raw: object, expected: bool) -> None:
    assert RiskSettings().impossible_travel_skip_familiar is True
    settings = RiskSettings.from_mapping({"impossible_travel_skip_familiar": raw})
    assert settings.impossible_travel_skip_familiar is expected


def test_takeover_weight_defaults_to_two_and_reaches_the_model() -> None:
    assert RiskSettings().novelty_model.takeover_weight == 2.0
    settings = RiskSettings.from_mapping({"novelty_takeover_weight": "0"})
    assert settings.novelty_model.takeover_weight == 0.0


def test_how_long_a_network_must_be_kept_parses_and_reaches_the_model() -> None:
    assert RiskSettings().novelty_model.org_network_kept_days == 1.0
    settings = RiskSettings.from_mapping({"novelty_org_network_kept_days": "2.5"})
    assert settings.novelty_model.org_network_kept_days == 2.5
    with pytest.raises(RiskConfigError) as caught:
        RiskSettings.from_mapping({"novelty_org_network_kept_days": -1})
    assert str(caught.value) == (
        "risk.novelty_org_network_kept_days: must be a number between 0 and 365, got -1"
    )


def test_the_users_own_history_settings_parse_and_reach_the_model() -> None:
    settings = RiskSettings.from_mapping(
        {
            "novelty_settle_days": "30",
            "novelty_user_max_bits": 5,
            "novelty_user_min_bits": "1.5",
        }
    )
    model = settings.novelty_model
    assert (model.settle_days, model.user_max_bits, model.user_min_bits) == (30, 5.0, 1.5)
    plain = RiskSettings()
    default = plain.novelty_model
    assert (default.settle_days, default.user_max_bits, default.user_min_bits) == (
        plain.novelty_settle_days,
        plain.novelty_user_max_bits,
        plain.novelty_user_min_bits,
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"novelty_settle_days": -1},
            "risk.novelty_settle_days: must be a whole number between 0 and 3650, got -1",
        ),
        (
            {"novelty_user_max_bits": 17},
            "risk.novelty_user_max_bits: must be a number between 0 and 16, got 17",
        ),
        (
            {"novelty_user_min_bits": "lots"},
            "risk.novelty_user_min_bits: must be a number between 0 and 16, got 'lots'",
        ),
    ],
)
def test_the_users_own_history_settings_are_range_checked(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(RiskConfigError) as caught:
        RiskSettings.from_mapping(data)
    assert str(caught.value) == message


def test_unknown_key_is_rejected_with_the_allowed_keys() -> None:
    with pytest.raises(RiskConfigError) as caught:
        RiskSettings.from_mapping({"impossible_travel_mph": 500})
    text = str(caught.value)
    assert text.startswith("risk.impossible_travel_mph: unknown key; allowed keys are ")
    assert "impossible_travel_kmh" in text and "\n" not in text


@pytest.mark.parametrize(
    ("data", "starts"),
    [
        ({"levels": {"unlikelyTravel": "high"}}, "risk.levels.unlikelyTravel: must be one of "),
        ({"disabled_detections": ["impossibleTravel"]}, "risk.disabled_detections: must be one"),
        ({"levels": "high"}, "risk.levels: must be a table of riskEventType = level"),
    ],
    ids=["graded-detection-has-no-fixed-level", "unknown-detection", "levels-not-a-table"],
)
def test_detection_names_are_checked(data: dict[str, object], starts: str) -> None:
    with pytest.raises(RiskConfigError) as caught:
        RiskSettings.from_mapping(data)
    assert str(caught.value).startswith(starts)


@pytest.mark.parametrize(
    ("value", "ok"),
    [(100, True), (99.9, False), (20000, True), (20000.1, False)],
    ids=["at-min", "below-min", "at-max", "above-max"],
)
def test_travel_speed_range_is_inclusive(value: float, ok: bool) -> None:
    if ok:
        settings = RiskSettings.from_mapping({"impossible_travel_kmh": value})
        assert settings.impossible_travel_kmh == value
    else:
        with pytest.raises(RiskConfigError):
            RiskSettings.from_mapping({"impossible_travel_kmh": value})
