"""The configured feeds, opened once per process: GeoIP databases, IP lists, leaked passwords."""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
        # Read into memory: a memory-mapped file truncated under the server is a SIGBUS.
        return maxminddb.open_database(path, maxminddb.MODE_MEMORY)
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


MMDB_KEYS = ("geoip_city_db", "geoip_asn_db", "anonymous_ip_db")
LIST_KEYS = (ANONYMOUS_IP_LIST, MALICIOUS_IP_LIST, INFECTED_IP_LIST)
LEAKED_KEY = "leaked_passwords"

log = logging.getLogger("risk.feeds")


def _signature(path: str) -> tuple[int, int, int] | None:
    """What tells a file changed: its inode, size and modification time (None if gone)."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns


def _load(key: str, path: str) -> Any:
    if key in MMDB_KEYS:
        return _open_mmdb(key, path)
    if key == LEAKED_KEY:
        return LeakedPasswords.open(key, path)
    return load_ip_list(key, path)


def _close(value: Any) -> None:
    close = getattr(value, "close", None)  # readers and files; IP lists hold nothing open
    if close is not None:
        close()


@dataclass
class _Slot:
    """One configured feed: its file, the data in use, and what became of newer files."""

    key: str
    path: str
    value: Any
    signature: tuple[int, int, int] | None
    note: str = ""  # a newer file that was refused: the loaded data is still in use
    failed: str = ""  # the data in use is gone (its file was rewritten in place, badly)


class Feeds:
    """Every configured feed, ready for lookups; build it once with `Feeds.load(settings)`.

    Files may be replaced while the server runs, atomically or not. `refresh` (called by
    the engine, at most every `feed_check_seconds`) looks at each file: a new valid one is
    loaded and used, an invalid one is refused with the loaded data kept, and `status`
    says which. GeoIP databases and IP lists are held in memory and the leaked-password
    file is read with pread, so a file truncated under the server never crashes it.
    """

    def __init__(
        self,
        slots: Mapping[str, _Slot] | None = None,
        *,
        cache_size: int = 65_536,
        check_seconds: float = 5.0,
    ) -> None:
        self._slots: dict[str, _Slot] = dict(slots or {})
        self._check_seconds = check_seconds
        self._checked_at = time.monotonic()
        self._lock = threading.Lock()
        self.lookup: Callable[[str], IpInfo] = functools.lru_cache(maxsize=cache_size)(self._lookup)

    @classmethod
    def load(cls, settings: RiskSettings) -> Feeds:
        """Open every feed `settings` configures; FeedError if any of them cannot be read."""
        slots: dict[str, _Slot] = {}
        try:
            for key in (*MMDB_KEYS, *LIST_KEYS, LEAKED_KEY):
                path = getattr(settings, key)
                if path:
                    signature = _signature(path)
                    slots[key] = _Slot(key, path, _load(key, path), signature)
        except FeedError:
            for slot in slots.values():
                _close(slot.value)
            raise
        return cls(
            slots, cache_size=settings.geoip_cache_size, check_seconds=settings.feed_check_seconds
        )

    def _value(self, key: str) -> Any:
        slot = self._slots.get(key)
        return None if slot is None else slot.value

    @property
    def _city(self) -> maxminddb.Reader | None:
        return self._value("geoip_city_db")  # type: ignore[no-any-return]

    @property
    def _asn(self) -> maxminddb.Reader | None:
        return self._value("geoip_asn_db")  # type: ignore[no-any-return]

    @property
    def _anonymous(self) -> maxminddb.Reader | None:
        return self._value("anonymous_ip_db")  # type: ignore[no-any-return]

    @property
    def ip_lists(self) -> Mapping[str, IpRangeSet]:
        """The configured IP lists by config key."""
        return {key: self._slots[key].value for key in LIST_KEYS if key in self._slots}

    @property
    def leaked_passwords(self) -> LeakedPasswords | None:
        """The leaked-password corpus, when configured."""
        return self._value(LEAKED_KEY)  # type: ignore[no-any-return]

    def refresh(self, now: float | None = None, *, force: bool = False) -> None:
        """Load any feed file that changed since it was read (see the class docstring)."""
        now = time.monotonic() if now is None else now
        if not force and now - self._checked_at < self._check_seconds:
            return
        if not self._lock.acquire(blocking=False):
            return  # another thread is looking already
        try:
            self._checked_at = now
            for slot in self._slots.values():
                self._refresh_slot(slot)
        finally:
            self._lock.release()

    def _refresh_slot(self, slot: _Slot) -> None:
        signature = _signature(slot.path)
        if signature == slot.signature:
            return
        if signature is None:
            slot.note = "the file is gone; the data loaded before is in use"
            return
        try:
            fresh = _load(slot.key, slot.path)
        except FeedError as exc:
            slot.note = f"a newer file was refused ({exc.reason}); the data loaded before is in use"
            if slot.key == LEAKED_KEY and slot.signature and slot.signature[0] == signature[0]:
                # Rewritten in place: the descriptor in use reads the broken file too.
                slot.failed = f"the file was rewritten in place and is unreadable ({exc.reason})"
            log.warning("risk.%s: %s: %s", slot.key, slot.path, slot.failed or slot.note)
            slot.signature = signature
            return
        # The old data is not closed here: a lookup in another thread may still hold it.
        # It is released (the leaked-password file closed) when the last holder lets go.
        slot.value, slot.signature, slot.note, slot.failed = fresh, signature, "", ""
        if slot.key in MMDB_KEYS:
            self.lookup.cache_clear()  # type: ignore[attr-defined]
        log.info("risk.%s: loaded the new %s", slot.key, slot.path)

    def status(self) -> dict[str, str]:
        """Each configured feed: "loaded" (with a note on a refused newer file) or why not."""
        return {
            key: f"failed: {slot.failed}"
            if slot.failed
            else "loaded" + (f"; {slot.note}" if slot.note else "")
            for key, slot in self._slots.items()
        }

    def is_loaded(self, key: str) -> bool:
        """Whether the feed of config key `key` is usable for lookups."""
        slot = self._slots.get(key)
        return slot is not None and not slot.failed

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
        """Close every open database and file."""
        for slot in self._slots.values():
            _close(slot.value)

    def __enter__(self) -> Feeds:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
