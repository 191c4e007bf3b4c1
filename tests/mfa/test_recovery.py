from __future__ import annotations

import math
import re

import pytest

from mfa import recovery
from mfa.errors import InvalidRecoveryCode

CODES = ["k7tq-9m2x-pv4c", "0g1h-2j3k-4m5n", "zyxw-vtsr-qpnm"]
CODE_RE = re.compile(r"[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}")


@pytest.fixture(scope="module")
def hashes() -> list[str]:
    # argon2id is deliberately slow; hash once for the whole module.
    return [recovery.hash_recovery_code(code) for code in CODES]


def test_default_is_ten_distinct_well_formed_codes() -> None:
    codes = recovery.new_recovery_codes()
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(CODE_RE.fullmatch(code) for code in codes)


@pytest.mark.parametrize("n", [1, 16], ids=["one", "sixteen"])
def test_count_is_respected(n: int) -> None:
    assert len(set(recovery.new_recovery_codes(n))) == n


@pytest.mark.parametrize("n", [0, -1], ids=["zero", "negative"])
def test_nonsense_count_is_rejected(n: int) -> None:
    with pytest.raises(ValueError):
        recovery.new_recovery_codes(n)


def test_alphabet_is_unambiguous_and_gives_at_least_60_bits() -> None:
    assert len(set(recovery.ALPHABET)) == len(recovery.ALPHABET) == 32
    assert not set("ilou") & set(recovery.ALPHABET)
    bits = recovery.GROUPS * recovery.GROUP_LENGTH * math.log2(len(recovery.ALPHABET))
    assert bits >= 60


def test_codes_draw_on_the_whole_alphabet() -> None:
    symbols = "".join(recovery.new_recovery_codes(100)).replace("-", "")
    # 1200 draws: missing one of 32 symbols by chance is ~32 * (31/32)**1200, i.e. never.
    assert set(symbols) == set(recovery.ALPHABET)


def test_hash_is_salted_argon2id_and_hides_code() -> None:
    first, second = (recovery.hash_recovery_code(CODES[0]) for _ in range(2))
    assert first.startswith("$argon2id$")
    assert first != second
    assert CODES[0] not in first
    assert CODES[0].replace("-", "") not in first


@pytest.mark.parametrize("index", range(len(CODES)), ids=["first", "second", "third"])
def test_verify_returns_index_of_match(hashes: list[str], index: int) -> None:
    assert recovery.verify_recovery_code(CODES[index], hashes) == index


@pytest.mark.parametrize(
    ("typed", "index"),
    [
        ("K7TQ-9M2X-PV4C", 0),
        ("k7tq9m2xpv4c", 0),
        ("  k7tq 9m2x pv4c\n", 0),
        ("k7tq - 9m2x - pv4c", 0),
        ("Og1h-2j3k-4m5n", 1),
        ("0gIh-2j3k-4m5n", 1),
        ("0glh-2j3k-4m5n", 1),
    ],
    ids=[
        "upper-case",
        "no-dashes",
        "spaces-instead-of-dashes",
        "spaces-and-dashes",
        "letter-o-for-zero",
        "capital-i-for-one",
        "letter-l-for-one",
    ],
)
def test_verify_normalises_what_people_type(hashes: list[str], typed: str, index: int) -> None:
    assert recovery.verify_recovery_code(typed, hashes) == index


@pytest.mark.parametrize(
    "typed",
    [
        "k7tq-9m2x-pv4d",
        "9m2x-k7tq-pv4c",
        "k7tq-9m2x-pv4",
        "k7tq-9m2x-pv4cc",
        "k7tq-9m2x-pv4u",
        "",
        "----",
    ],
    ids=[
        "last-char-wrong",
        "groups-swapped",
        "too-short",
        "too-long",
        "letter-u-not-in-alphabet",
        "empty",
        "only-dashes",
    ],
)
def test_verify_refuses_wrong_or_malformed(hashes: list[str], typed: str) -> None:
    with pytest.raises(InvalidRecoveryCode):
        recovery.verify_recovery_code(typed, hashes)


def test_verify_refuses_when_no_codes_are_left() -> None:
    with pytest.raises(InvalidRecoveryCode):
        recovery.verify_recovery_code(CODES[0], [])


def test_code_is_one_time_once_idp_drops_its_hash(hashes: list[str]) -> None:
    remaining = list(hashes)
    del remaining[recovery.verify_recovery_code(CODES[1], remaining)]
    with pytest.raises(InvalidRecoveryCode):
        recovery.verify_recovery_code(CODES[1], remaining)
    assert recovery.verify_recovery_code(CODES[2], remaining) == 1


def test_generated_codes_round_trip() -> None:
    codes = recovery.new_recovery_codes(2)
    stored = [recovery.hash_recovery_code(code) for code in codes]
    assert recovery.verify_recovery_code(codes[1].upper(), stored) == 1


@pytest.mark.parametrize("code", ["", "k7tq-9m2x", "hello-world!"], ids=["empty", "short", "junk"])
def test_hashing_a_non_code_is_a_programming_error(code: str) -> None:
    with pytest.raises(ValueError):
        recovery.hash_recovery_code(code)
