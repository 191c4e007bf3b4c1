from __future__ import annotations

import ipaddress

import pytest

from risk.netutil import is_non_public, normalize_ip, parse_ip, subnet_of

BOUNDARIES = [
    "0.255.255.255",
    "1.0.0.0",
    "9.255.255.255",
    "10.0.0.0",
    "10.255.255.255",
    "11.0.0.0",
    "100.63.255.255",
    "100.64.0.0",
    "100.127.255.255",
    "100.128.0.0",
    "172.15.255.255",
    "172.16.0.0",
    "172.31.255.255",
    "172.32.0.0",
    "192.167.255.255",
    "192.168.0.1",
    "192.169.0.0",
    "198.17.255.255",
    "198.18.0.0",
    "198.19.255.255",
    "198.20.0.0",
    "203.0.112.255",
    "203.0.113.1",
    "203.0.114.0",
    "223.255.255.255",
    "8.8.8.8",
]


@pytest.mark.parametrize("ip", BOUNDARIES, ids=str)
def test_ipv4_public_check_agrees_with_ipaddress_at_block_edges(ip: str) -> None:
    assert is_non_public(ip) is (not ipaddress.ip_address(ip).is_global)


@pytest.mark.parametrize(
    ("ip", "non_public"),
    [("224.0.0.1", True), ("255.255.255.255", True), ("2a02:8010::1", False), ("fe80::1", True)],
    ids=["multicast", "broadcast", "ipv6-global", "ipv6-link-local"],
)
def test_multicast_reserved_and_ipv6(ip: str, non_public: bool) -> None:
    assert is_non_public(ip) is non_public


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("81.2.69.142", "81.2.69.142"),
        (" 81.2.69.142 ", "81.2.69.142"),
        ("::ffff:81.2.69.142", "81.2.69.142"),
        ("2A02:8010:0000::0001", "2a02:8010::1"),
    ],
    ids=["ipv4", "padded", "ipv4-mapped", "ipv6-long-form"],
)
def test_normalize_ip(text: str, normal: str) -> None:
    assert normalize_ip(text) == normal


@pytest.mark.parametrize("text", ["01.2.3.4", "1.2.3", "256.1.1.1", "example.org", ""], ids=str)
def test_parse_ip_rejects_what_ipaddress_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_ip(text)


@pytest.mark.parametrize(
    ("ip", "subnet"),
    [
        ("81.2.69.142", "81.2.69.0/24"),
        ("81.2.69.0", "81.2.69.0/24"),
        ("2a02:8010:abcd:1234::9", "2a02:8010:abcd::/48"),
    ],
    ids=["ipv4", "ipv4-network-address", "ipv6"],
)
def test_subnet_of(ip: str, subnet: str) -> None:
    assert subnet_of(ip) == subnet
