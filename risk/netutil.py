"""Fast IP address helpers: the engine parses several addresses per sign-in, so IPv4 takes a
C path (socket.inet_pton) instead of the much slower `ipaddress` module."""

from __future__ import annotations

import ipaddress
import socket
from bisect import bisect_right

# IANA special-purpose IPv4 blocks, plus multicast and reserved space: none is a client's
# public address, so none can carry GeoIP or reputation meaning.
_NON_PUBLIC_V4 = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/3",
)
_V4_RANGES = sorted(
    (int(n.network_address), int(n.broadcast_address))
    for n in map(ipaddress.IPv4Network, _NON_PUBLIC_V4)
)
_V4_STARTS = [start for start, _ in _V4_RANGES]


def parse_ip(ip: str) -> tuple[int, int]:
    """`(version, integer value)` of an IP address text; IPv4-mapped IPv6 becomes IPv4."""
    try:
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, ip), "big")
    except OSError:
        pass
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return 4, int(address.ipv4_mapped)
    return address.version, int(address)


def normalize_ip(ip: str) -> str:
    """The canonical text of `ip`, with IPv4-mapped IPv6 addresses turned into IPv4."""
    version, value = parse_ip(ip.strip())
    if version == 4:
        return socket.inet_ntop(socket.AF_INET, value.to_bytes(4, "big"))
    return str(ipaddress.IPv6Address(value))


def is_non_public(ip: str) -> bool:
    """True for private, loopback, link-local, documentation, multicast and reserved addresses."""
    version, value = parse_ip(ip)
    if version == 6:
        return not ipaddress.IPv6Address(value).is_global
    index = bisect_right(_V4_STARTS, value) - 1
    return index >= 0 and value <= _V4_RANGES[index][1]


def subnet_of(ip: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) network containing `ip`, as CIDR text."""
    version, value = parse_ip(ip)
    if version == 4:
        base = socket.inet_ntop(socket.AF_INET, (value & ~0xFF).to_bytes(4, "big"))
        return f"{base}/24"
    mask = ((1 << 48) - 1) << 80
    return f"{ipaddress.IPv6Address(value & mask)}/48"
