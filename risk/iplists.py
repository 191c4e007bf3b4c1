"""Plain IP list files (one IP or CIDR a line) parsed into a bisect-based matcher."""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

from risk.errors import FeedError
from risk.netutil import parse_ip


@dataclass(frozen=True, slots=True)
class _Ranges:
    """Ranges of one IP version sorted by start, with the running maximum of their ends."""

    starts: tuple[int, ...]
    max_ends: tuple[int, ...]
    max_entries: tuple[str, ...]

    def match(self, value: int) -> str | None:
        index = bisect_right(self.starts, value) - 1
        if index >= 0 and self.max_ends[index] >= value:
            return self.max_entries[index]
        return None


def _build(entries: list[tuple[int, int, str]]) -> _Ranges:
    # Nested or overlapping entries are fine: the range with the furthest end among those
    # starting at or before an address is the one that contains it, if any does.
    entries.sort()
    starts, max_ends, max_entries = [], [], []
    best_end, best_entry = -1, ""
    for start, end, entry in entries:
        if end > best_end:
            best_end, best_entry = end, entry
        starts.append(start)
        max_ends.append(best_end)
        max_entries.append(best_entry)
    return _Ranges(tuple(starts), tuple(max_ends), tuple(max_entries))


class IpRangeSet:
    """A set of IPv4 and IPv6 networks answering "which entry contains this IP?" in O(log n)."""

    __slots__ = ("_v4", "_v6", "size")

    def __init__(self, networks: Iterable[str]) -> None:
        v4: list[tuple[int, int, str]] = []
        v6: list[tuple[int, int, str]] = []
        for text in networks:
            network = ipaddress.ip_network(text, strict=False)
            bucket = v4 if network.version == 4 else v6
            bucket.append(
                (int(network.network_address), int(network.broadcast_address), str(network))
            )
        self.size = len(v4) + len(v6)
        self._v4 = _build(v4)
        self._v6 = _build(v6)

    def match(self, ip: str) -> str | None:
        """The list entry (normalized CIDR text) containing `ip`, or None."""
        version, value = parse_ip(ip)
        return (self._v4 if version == 4 else self._v6).match(value)

    def __contains__(self, ip: object) -> bool:
        return isinstance(ip, str) and self.match(ip) is not None

    def __len__(self) -> int:
        return self.size


def parse_ip_list(text: str) -> list[str]:
    """The entries of an IP list text; ValueError names the first bad line.

    '#' and ';' start comments (Tor exit lists use '#', Spamhaus DROP uses ';').
    """
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].split(";", 1)[0].strip()
        if not content:
            continue
        try:
            entries.append(str(ipaddress.ip_network(content, strict=False)))
        except ValueError:
            raise ValueError(
                f"line {number}: {content[:60]!r} is not an IP address or CIDR"
            ) from None
    return entries


def load_ip_list(key: str, path: str) -> IpRangeSet:
    """The list file at `path` as a matcher; FeedError when it is missing or malformed."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            text = handle.read()
        return IpRangeSet(parse_ip_list(text))
    except OSError as exc:
        raise FeedError(key, path, exc.strerror or type(exc).__name__) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise FeedError(key, path, str(exc)) from exc
