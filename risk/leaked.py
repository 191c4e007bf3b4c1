"""Binary search over a Pwned Passwords SHA-1 file without loading it into memory."""

from __future__ import annotations

import hashlib
import mmap
import os
import re

from risk.errors import FeedError

_LINE = re.compile(rb"[0-9A-F]{40}:[0-9]+\r?\n?")
_HASH_LEN = 40


class LeakedPasswords:
    """A memory-mapped, hash-ordered `HASH:COUNT` file (the official dump can be ~40 GB)."""

    __slots__ = ("_map", "path", "_size")

    def __init__(self, mapped: mmap.mmap, path: str) -> None:
        self._map = mapped
        self._size = len(mapped)
        self.path = path

    @classmethod
    def open(cls, key: str, path: str) -> LeakedPasswords:
        """Map the file at `path`, checking its first and last lines; FeedError on any problem."""
        try:
            with open(path, "rb") as handle:
                if os.fstat(handle.fileno()).st_size == 0:
                    raise FeedError(key, path, "file is empty")
                mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as exc:
            raise FeedError(key, path, exc.strerror or type(exc).__name__) from exc
        first_end = mapped.find(b"\n", 0, 200)
        first = mapped[: first_end + 1 if first_end >= 0 else 200]
        tail_start = mapped.rfind(b"\n", 0, max(len(mapped) - 1, 0)) + 1
        last = mapped[tail_start:]
        if not _LINE.fullmatch(first) or not _LINE.fullmatch(last) or first[:40] > last[:40]:
            mapped.close()
            raise FeedError(
                key, path, "expected uppercase SHA-1 'HASH:COUNT' lines ordered by hash"
            )
        return cls(mapped, path)

    def count(self, password: str) -> int:
        """How many times the dump saw `password` (0 when absent)."""
        digest = hashlib.sha1(password.encode("utf-8"), usedforsecurity=False)
        return self.count_hash(digest.hexdigest().upper().encode("ascii"))

    def count_hash(self, target: bytes) -> int:
        """How many times the dump saw the uppercase hex SHA-1 `target` (0 when absent)."""
        data = self._map
        low, high = 0, self._size
        # Invariant: `low` is a line start and the target, if present, starts in [low, high).
        while low < high:
            middle = (low + high) // 2
            start = data.rfind(b"\n", low, middle) + 1
            if start == 0:
                start = low
            candidate = data[start : start + _HASH_LEN]
            if candidate == target:
                end = data.find(b"\n", start)
                field = data[start + _HASH_LEN + 1 : end if end >= 0 else self._size]
                return int(field.strip() or b"0")
            if candidate < target:
                end = data.find(b"\n", start)
                if end < 0:
                    return 0
                low = end + 1
            else:
                high = start
        return 0

    def close(self) -> None:
        """Unmap the file."""
        self._map.close()
