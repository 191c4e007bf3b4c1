"""Binary search over a Pwned Passwords SHA-1 file without loading it into memory.

The file is read with `os.pread` on a descriptor kept open, never memory-mapped: a file
truncated or rewritten under a mapping kills the process with SIGBUS, whereas a short or
garbled read here raises FeedError, which the engine treats as a detector that failed.
"""

from __future__ import annotations

import hashlib
import os
import re

from risk.errors import FeedError

_LINE = re.compile(rb"[0-9A-F]{40}:[0-9]+\r?")
_HASH_LEN = 40
_LONGEST_LINE = 64  # 40 hex digits, a colon, a count and CR LF fit with room to spare


class LeakedPasswords:
    """A hash-ordered `HASH:COUNT` file (the official dump can be ~40 GB)."""

    __slots__ = ("_fd", "_size", "key", "path")

    def __init__(self, fd: int, size: int, key: str, path: str) -> None:
        self._fd = fd
        self._size = size
        self.key = key
        self.path = path

    @classmethod
    def open(cls, key: str, path: str) -> LeakedPasswords:
        """Open the file at `path`, checking its first and last lines; FeedError on any
        problem."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise FeedError(key, path, exc.strerror or type(exc).__name__) from exc
        # From here the corpus owns the descriptor: closing it is its job alone.
        corpus = cls(fd, 0, key, path)
        try:
            size = corpus._size = os.fstat(fd).st_size
            if size == 0:
                raise FeedError(key, path, "file is empty")
            first = corpus._line_at(0)[0]
            last = corpus._line_at(corpus._line_start(0, size - 1))[0]
            if first > last:
                raise corpus._broken("the first line sorts after the last")
        except FeedError:
            corpus.close()
            raise
        except OSError as exc:
            corpus.close()
            raise FeedError(key, path, exc.strerror or type(exc).__name__) from exc
        return corpus

    def _broken(self, detail: str) -> FeedError:
        return FeedError(
            self.key,
            self.path,
            f"expected uppercase SHA-1 'HASH:COUNT' lines ordered by hash ({detail})",
        )

    def _read(self, offset: int, size: int) -> bytes:
        return os.pread(self._fd, size, offset)

    def _line_start(self, low: int, position: int) -> int:
        """The start of the line holding `position`, no earlier than `low` (a line start)."""
        back = max(low, position - _LONGEST_LINE)
        chunk = self._read(back, position - back)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return back + newline + 1
        if back == low:
            return low
        raise self._broken("a line is too long")

    def _line_at(self, start: int) -> tuple[bytes, int]:
        """The hash and count fields of the line at `start`, and where the next line starts."""
        raw = self._read(start, _LONGEST_LINE)
        newline = raw.find(b"\n")
        line = raw[:newline] if newline >= 0 else raw
        if not _LINE.fullmatch(line) or (newline < 0 and start + len(raw) < self._size):
            raise self._broken(f"unreadable line at byte {start}")
        return line.rstrip(b"\r"), start + (newline + 1 if newline >= 0 else len(raw))

    def count(self, password: str) -> int:
        """How many times the dump saw `password` (0 when absent)."""
        digest = hashlib.sha1(password.encode("utf-8"), usedforsecurity=False)
        return self.count_hash(digest.hexdigest().upper().encode("ascii"))

    def count_hash(self, target: bytes) -> int:
        """How many times the dump saw the uppercase hex SHA-1 `target` (0 when absent)."""
        low, high = 0, self._size
        # Invariant: `low` is a line start and the target, if present, starts in [low, high).
        while low < high:
            start = self._line_start(low, (low + high) // 2)
            line, following = self._line_at(start)
            candidate = line[:_HASH_LEN]
            if candidate == target:
                return int(line[_HASH_LEN + 1 :])
            if candidate < target:
                low = following
            else:
                high = start
        return 0

    def close(self) -> None:
        """Close the file now (at shutdown; a replaced corpus closes itself when the last
        lookup holding it lets go, see __del__)."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __del__(self) -> None:
        # Closing in refresh() while another thread's lookup still reads would make its
        # pread fail, or worse read whatever file took the descriptor number next.
        self.close()
