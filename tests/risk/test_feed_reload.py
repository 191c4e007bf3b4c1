"""Feed files replaced while the server runs: atomically or in place, valid or not."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from risk.errors import FeedError
from risk.feeds import Feeds
from risk.settings import RiskSettings
from tests.risk.conftest import LONDON_IP, build_city_db


def _pwned(path: Path, *passwords: str) -> Path:
    lines = sorted(
        f"{hashlib.sha1(p.encode()).hexdigest().upper()}:{i + 2}" for i, p in enumerate(passwords)
    )
    path.write_text("\n".join(lines) + "\n")
    return path


def _replace(path: Path, write) -> None:
    """Write a new version next to the file and rename it over (what careful tools do)."""
    fresh = path.with_suffix(".new")
    write(fresh)
    os.replace(fresh, path)


def test_leaked_file_replaced_atomically_is_picked_up(tmp_path):
    path = _pwned(tmp_path / "pwned.txt", "old-secret-1")
    with Feeds.load(RiskSettings(leaked_passwords=str(path))) as feeds:
        assert feeds.leaked_passwords.count("old-secret-1") == 2
        _replace(path, lambda p: _pwned(p, "new-secret-1", "new-secret-2"))
        feeds.refresh(force=True)
        assert feeds.leaked_passwords.count("new-secret-2") == 3
        assert feeds.leaked_passwords.count("old-secret-1") == 0
        assert feeds.status() == {"leaked_passwords": "loaded"}


def test_leaked_file_truncated_in_place_fails_loudly_never_crashes(tmp_path):
    path = _pwned(tmp_path / "pwned.txt", *(f"pw-{n}" for n in range(200)))
    with Feeds.load(RiskSettings(leaked_passwords=str(path))) as feeds:
        corpus = feeds.leaked_passwords
        with path.open("r+b") as handle:
            handle.truncate(100)  # mid-line
        with pytest.raises(FeedError, match="expected uppercase SHA-1"):
            for n in range(200):
                corpus.count(f"pw-{n}")
        feeds.refresh(force=True)
        assert feeds.status()["leaked_passwords"].startswith("failed: the file was rewritten")
        assert not feeds.is_loaded("leaked_passwords")
        # Written whole again (in place), it is loaded at the next look.
        _pwned(path, "pw-7")
        feeds.refresh(force=True)
        assert feeds.status() == {"leaked_passwords": "loaded"}
        assert feeds.leaked_passwords.count("pw-7") == 2


def test_invalid_new_geoip_file_is_refused_and_old_data_kept(tmp_path):
    path = build_city_db(tmp_path / "city.mmdb")
    with Feeds.load(RiskSettings(geoip_city_db=str(path))) as feeds:
        assert feeds.lookup(LONDON_IP).city == "London"
        # Truncated in place: the data in use is in memory, so lookups go on.
        with path.open("r+b") as handle:
            handle.truncate(64)
        feeds.lookup.cache_clear()
        assert feeds.lookup(LONDON_IP).city == "London"
        feeds.refresh(force=True)
        status = feeds.status()["geoip_city_db"]
        assert status.startswith("loaded; a newer file was refused (not a MaxMind DB file")
        assert feeds.lookup(LONDON_IP).city == "London"
        _replace(path, build_city_db)
        feeds.refresh(force=True)
        assert feeds.status() == {"geoip_city_db": "loaded"}


def test_ip_list_replaced_is_used(tmp_path):
    path = tmp_path / "anon.txt"
    path.write_text("203.0.113.0/24\n")
    with Feeds.load(RiskSettings(anonymous_ip_list=str(path))) as feeds:
        assert feeds.match_list("anonymous_ip_list", "198.51.100.4") is None
        _replace(path, lambda p: p.write_text("198.51.100.0/24\n"))
        feeds.refresh(force=True)
        assert feeds.match_list("anonymous_ip_list", "198.51.100.4") == "198.51.100.0/24"
        path.unlink()
        feeds.refresh(force=True)
        assert feeds.status()["anonymous_ip_list"].startswith("loaded; the file is gone")


def test_refresh_looks_at_most_every_feed_check_seconds(tmp_path):
    path = tmp_path / "anon.txt"
    path.write_text("203.0.113.0/24\n")
    settings = RiskSettings(anonymous_ip_list=str(path), feed_check_seconds=30)
    with Feeds.load(settings) as feeds:
        _replace(path, lambda p: p.write_text("198.51.100.0/24\n"))
        start = feeds._checked_at
        feeds.refresh(start + 29)
        assert feeds.match_list("anonymous_ip_list", "198.51.100.4") is None
        # Not start + 30: (start + 30) - start can come out a hair under 30 in floats.
        feeds.refresh(start + 30.001)
        assert feeds.match_list("anonymous_ip_list", "198.51.100.4") is not None


def test_lookups_during_rewrites_raise_nothing_but_feed_errors(tmp_path):
    """Threads look passwords up while the file is rewritten in place over and over."""
    path = _pwned(tmp_path / "pwned.txt", *(f"pw-{n}" for n in range(2000)))
    whole = path.read_bytes()
    unexpected: list[BaseException] = []
    with Feeds.load(RiskSettings(leaked_passwords=str(path))) as feeds:
        stop = threading.Event()

        def look() -> None:
            n = 0
            while not stop.is_set():
                try:
                    feeds.leaked_passwords.count(f"pw-{n % 2000}")
                except FeedError:
                    pass
                except BaseException as exc:  # noqa: BLE001 - the test is that none escape
                    unexpected.append(exc)
                    return
                n += 1

        threads = [threading.Thread(target=look) for _ in range(4)]
        for thread in threads:
            thread.start()
        for size in (0, 10, 41, 1000, len(whole) // 2, len(whole)) * 5:
            with path.open("r+b") as handle:
                handle.truncate(size)
                handle.seek(0)
                handle.write(whole[:size])
            feeds.refresh(force=True)
        stop.set()
        for thread in threads:
            thread.join(30)
        feeds.refresh(force=True)
        assert feeds.status() == {"leaked_passwords": "loaded"}
    assert unexpected == []
