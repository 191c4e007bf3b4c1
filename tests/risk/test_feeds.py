from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from risk.errors import FeedError
from risk.feeds import Feeds
from risk.settings import RiskSettings
from tests.risk.conftest import (
    CHANGCHUN_IP,
    LONDON_IP,
    LONDON_V6_IP,
    NO_RECORD_IP,
    TOR_IP,
    VPN_IP,
)


def test_city_asn_and_anonymous_records_are_merged(feeds: Feeds) -> None:
    info = feeds.lookup(LONDON_IP)
    assert (info.country, info.region, info.city) == ("GB", "England", "London")
    assert (info.latitude, info.longitude, info.accuracy_radius_km) == (51.5142, -0.0931, 10)
    assert (info.asn, info.asn_org) == (20712, "Andrews & Arnold")
    assert not info.is_anonymous and not info.is_private
    assert info.place == "London, GB"


@pytest.mark.parametrize(
    ("ip", "country", "tor", "vpn"),
    [
        (CHANGCHUN_IP, "CN", False, False),
        (LONDON_V6_IP, "GB", False, False),
        (f"::ffff:{CHANGCHUN_IP}", "CN", False, False),
        (TOR_IP, None, True, False),
        (VPN_IP, None, False, True),
    ],
    ids=["ipv4", "ipv6", "ipv4-mapped", "tor-exit", "vpn"],
)
def test_lookup_by_address_family(
    feeds: Feeds, ip: str, country: str | None, tor: bool, vpn: bool
) -> None:
    info = feeds.lookup(ip)
    assert info.country == country
    assert (info.is_tor_exit_node, info.is_anonymous_vpn) == (tor, vpn)
    assert info.is_anonymous is (tor or vpn)


@pytest.mark.parametrize("ip", ["10.1.2.3", "192.168.0.9", "127.0.0.1", "::1", "fd00::1"], ids=str)
def test_non_public_addresses_are_marked_private_without_lookup(feeds: Feeds, ip: str) -> None:
    info = feeds.lookup(ip)
    assert info.is_private and info.country is None and not info.has_location


def test_unknown_address_has_no_location(feeds: Feeds) -> None:
    info = feeds.lookup(NO_RECORD_IP)
    assert not info.is_private and info.country is None and info.asn is None
    assert info.place == NO_RECORD_IP


def test_lookups_are_cached_per_process(feeds: Feeds) -> None:
    first = feeds.lookup(LONDON_IP)
    assert feeds.lookup(LONDON_IP) is first


def test_nothing_configured_loads_empty_feeds() -> None:
    with Feeds.load(RiskSettings()) as feeds:
        info = feeds.lookup(LONDON_IP)
        assert info.country is None and feeds.leaked_passwords is None and not feeds.ip_lists


@pytest.mark.parametrize(
    "key",
    [
        "geoip_city_db",
        "geoip_asn_db",
        "anonymous_ip_db",
        "anonymous_ip_list",
        "malicious_ip_list",
        "infected_ip_list",
        "leaked_passwords",
    ],
    ids=str,
)
def test_missing_configured_feed_fails_at_load(tmp_path: Path, key: str) -> None:
    missing = tmp_path / "missing.file"
    settings = RiskSettings.from_mapping({key: str(missing)})
    with pytest.raises(FeedError) as caught:
        Feeds.load(settings)
    assert str(caught.value) == f"risk.{key}: cannot read {missing}: No such file or directory"


def test_a_file_that_is_not_an_mmdb_fails_at_load(tmp_path: Path) -> None:
    bogus = tmp_path / "city.mmdb"
    bogus.write_bytes(b"this is not a MaxMind database" * 10)
    with pytest.raises(FeedError, match=r"^risk.geoip_city_db: cannot read .*not a MaxMind DB"):
        Feeds.load(RiskSettings(geoip_city_db=str(bogus)))


def test_one_bad_feed_fails_the_whole_load(settings: RiskSettings, tmp_path: Path) -> None:
    broken = replace(settings, malicious_ip_list=str(tmp_path / "absent.txt"))
    with pytest.raises(FeedError, match="risk.malicious_ip_list"):
        Feeds.load(broken)
