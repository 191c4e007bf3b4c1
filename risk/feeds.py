"""The configured feeds, opened once per process: GeoIP databases, IP lists, leaked passwords."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import maxminddb

from risk.context import IpInfo
from risk.errors import FeedError
from risk.iplists import IpRangeSet, load_ip_list
from risk.leaked import LeakedPasswords
from risk.netutil import is_non_public, normalize_ip
from risk.settings import RiskSettings

ANONYMOUS_IP_LIST = "anonymous_ip_list"
MALICIOUS_IP_LIST = "malicious_ip_list"
INFECTED_IP_LIST = "infected_ip_list"


def _open_mmdb(key: str, path: str) -> maxminddb.Reader:
    try:
        return maxminddb.open_database(path, maxminddb.MODE_AUTO)
    except OSError as exc:
        raise FeedError(key, path, exc.strerror or type(exc).__name__) from exc
    except (maxminddb.InvalidDatabaseError, ValueError) as exc:
        raise FeedError(key, path, f"not a MaxMind DB file ({exc})") from exc


def _record(reader: maxminddb.Reader | None, ip: str) -> Mapping[str, Any]:
    if reader is None:
        return {}
    found = reader.get(ip)
    return found if isinstance(found, Mapping) else {}


def _text(value: object, limit: int) -> str | None:
    """A text value of at most `limit` characters, or None when it is not text."""
    return value[:limit] if isinstance(value, str) else None


def _number(value: object) -> float | None:
    """A finite number, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    return float(value) if abs(value) != float("inf") else None


def _english(node: object) -> str | None:
    if isinstance(node, Mapping):
        names = node.get("names")
        if isinstance(names, Mapping) and isinstance(names.get("en"), str):
            return str(names["en"])
    return None


class Feeds:
    """Every configured feed, ready for lookups; build it once with `Feeds.load(settings)`."""

    def __init__(
        self,
        *,
        city: maxminddb.Reader | None = None,
        asn: maxminddb.Reader | None = None,
        anonymous: maxminddb.Reader | None = None,
        ip_lists: Mapping[str, IpRangeSet] | None = None,
        leaked_passwords: LeakedPasswords | None = None,
        cache_size: int = 65_536,
    ) -> None:
        self._city = city
        self._asn = asn
        self._anonymous = anonymous
        self.ip_lists: Mapping[str, IpRangeSet] = dict(ip_lists or {})
        self.leaked_passwords = leaked_passwords
        self.lookup: Callable[[str], IpInfo] = functools.lru_cache(maxsize=cache_size)(self._lookup)

    @classmethod
    def load(cls, settings: RiskSettings) -> Feeds:
        """Open every feed `settings` configures; FeedError if any of them cannot be read."""
        opened: list[maxminddb.Reader] = []

        def mmdb(key: str, path: str) -> maxminddb.Reader | None:
            if not path:
                return None
            reader = _open_mmdb(key, path)
            opened.append(reader)
            return reader

        try:
            city = mmdb("geoip_city_db", settings.geoip_city_db)
            asn = mmdb("geoip_asn_db", settings.geoip_asn_db)
            anonymous = mmdb("anonymous_ip_db", settings.anonymous_ip_db)
            lists = {
                key: load_ip_list(key, path)
                for key, path in (
                    (ANONYMOUS_IP_LIST, settings.anonymous_ip_list),
                    (MALICIOUS_IP_LIST, settings.malicious_ip_list),
                    (INFECTED_IP_LIST, settings.infected_ip_list),
                )
                if path
            }
            leaked = (
                LeakedPasswords.open("leaked_passwords", settings.leaked_passwords)
                if settings.leaked_passwords
                else None
            )
        except FeedError:
            for reader in opened:
                reader.close()
            raise
        return cls(
            city=city,
            asn=asn,
            anonymous=anonymous,
            ip_lists=lists,
            leaked_passwords=leaked,
            cache_size=settings.geoip_cache_size,
        )

    def is_loaded(self, key: str) -> bool:
        """Whether the feed of config key `key` is open for lookups."""
        readers = {"geoip_city_db": self._city, "geoip_asn_db": self._asn,
                   "anonymous_ip_db": self._anonymous,
                   "leaked_passwords": self.leaked_passwords}
        if key in readers:
            return readers[key] is not None
        return key in self.ip_lists

    @property
    def has_anonymous_db(self) -> bool:
        """True when an Anonymous-IP database is configured."""
        return self._anonymous is not None

    def match_list(self, key: str, ip: str) -> str | None:
        """The entry of list `key` containing `ip`; None when absent or the list is unset."""
        ranges = self.ip_lists.get(key)
        return ranges.match(ip) if ranges is not None else None

    def _lookup(self, ip: str) -> IpInfo:
        ip = normalize_ip(ip)
        if is_non_public(ip):
            return IpInfo(ip=ip, is_private=True)
        city = _record(self._city, ip)
        asn = _record(self._asn, ip)
        anonymous = _record(self._anonymous, ip)
        location = city.get("location", {})
        country = city.get("country", {})
        subdivisions = city.get("subdivisions") or [{}]
        asn_number = asn.get("autonomous_system_number")
        # A database is outside input: text is bounded and wrong types read as unknown.
        return IpInfo(
            ip=ip,
            country=_text(country.get("iso_code"), 8),
            region=_text(_english(subdivisions[0]), 128),
            city=_text(_english(city.get("city")), 128),
            latitude=_number(location.get("latitude")),
            longitude=_number(location.get("longitude")),
            accuracy_radius_km=_number(location.get("accuracy_radius")),
            asn=asn_number if isinstance(asn_number, int) and asn_number >= 0 else None,
            asn_org=_text(asn.get("autonomous_system_organization"), 200),
            is_anonymous=bool(anonymous.get("is_anonymous")),
            is_anonymous_vpn=bool(anonymous.get("is_anonymous_vpn")),
            is_tor_exit_node=bool(anonymous.get("is_tor_exit_node")),
            is_public_proxy=bool(anonymous.get("is_public_proxy")),
            is_residential_proxy=bool(anonymous.get("is_residential_proxy")),
            is_hosting_provider=bool(anonymous.get("is_hosting_provider")),
        )

    def close(self) -> None:
        """Close every open database and mapping."""
        for reader in (self._city, self._asn, self._anonymous):
            if reader is not None:
                reader.close()
        if self.leaked_passwords is not None:
            self.leaked_passwords.close()

    def __enter__(self) -> Feeds:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
