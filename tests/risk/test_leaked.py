from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from risk.errors import FeedError
from risk.leaked import LeakedPasswords

KNOWN = {"password": 9_659_365, "hunter2": 17_043, "correct horse battery staple": 12}


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest().upper()


def write_corpus(path: Path, extra: int = 500, newline: str = "\n", trailing: bool = True) -> Path:
    rng = random.Random(7)
    rows = {sha1(word): count for word, count in KNOWN.items()}
    for _ in range(extra):
        rows[f"{rng.getrandbits(160):040X}"] = rng.randint(1, 1000)
    body = newline.join(f"{h}:{c}" for h, c in sorted(rows.items()))
    path.write_bytes((body + (newline if trailing else "")).encode("ascii"))
    return path


@pytest.mark.parametrize(
    ("newline", "trailing"),
    [("\n", True), ("\r\n", True), ("\n", False)],
    ids=["lf", "crlf", "no-final-newline"],
)
def test_known_passwords_are_found_with_their_counts(
    tmp_path: Path, newline: str, trailing: bool
) -> None:
    corpus = LeakedPasswords.open(
        "leaked_passwords", str(write_corpus(tmp_path / "p.txt", 500, newline, trailing))
    )
    for word, count in KNOWN.items():
        assert corpus.count(word) == count
    assert corpus.count("not in the corpus at all") == 0
    corpus.close()


def test_every_line_is_found_and_near_misses_are_not(tmp_path: Path) -> None:
    path = write_corpus(tmp_path / "p.txt", extra=2000)
    counts = {h: int(c) for h, c in (line.split(":") for line in path.read_text().splitlines())}
    corpus = LeakedPasswords.open("leaked_passwords", str(path))
    for digest, count in counts.items():
        assert corpus.count_hash(digest.encode()) == count
        for neighbour in (int(digest, 16) - 1, int(digest, 16) + 1):
            text = f"{neighbour:040X}"
            assert corpus.count_hash(text.encode()) == counts.get(text, 0)
    assert corpus.count_hash(b"0" * 40) == 0
    assert corpus.count_hash(b"F" * 40) == 0
    corpus.close()


def test_single_line_file(tmp_path: Path) -> None:
    path = tmp_path / "one.txt"
    path.write_text(f"{sha1('hunter2')}:3\n")
    corpus = LeakedPasswords.open("leaked_passwords", str(path))
    assert corpus.count("hunter2") == 3
    assert corpus.count("hunter3") == 0


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "file is empty"),
        (b"5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8:3\n", "expected uppercase SHA-1"),
        (b"8846F7EAEE8FB117AD06BDD830B7586C:5\n", "expected uppercase SHA-1"),
        (
            b"F" * 40 + b":1\n" + b"0" * 40 + b":1\n",
            "expected uppercase SHA-1 'HASH:COUNT' lines ordered by hash",
        ),
        (b"hello world\n", "expected uppercase SHA-1"),
    ],
    ids=["empty", "lowercase", "ntlm-format", "not-ordered", "text"],
)
def test_malformed_files_fail_at_open(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(FeedError) as caught:
        LeakedPasswords.open("leaked_passwords", str(path))
    assert str(caught.value).startswith(f"risk.leaked_passwords: cannot read {path}: {reason}")


def test_missing_file_fails_at_open(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="No such file or directory"):
        LeakedPasswords.open("leaked_passwords", str(tmp_path / "absent.txt"))
