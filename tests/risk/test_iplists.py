from __future__ import annotations

from pathlib import Path

import pytest

from risk.errors import FeedError, RiskConfigError
from risk.iplists import IpRangeSet, load_ip_list, parse_ip_list

LIST_TEXT = """\
# Tor exit nodes, fetched 2026-03-01
185.220.101.1
203.0.113.0/24   # a whole block
198.51.100.0/22 ; SBL 12345
10.0.0.0/8
10.20.0.0/16

2001:db8:abcd::/48
"""


@pytest.fixture
def ranges() -> IpRangeSet:
    return IpRangeSet(parse_ip_list(LIST_TEXT))


@pytest.mark.parametrize(
    ("ip", "entry"),
    [
        ("185.220.101.1", "185.220.101.1/32"),
        ("185.220.101.2", None),
        ("185.220.101.0", None),
        ("203.0.113.0", "203.0.113.0/24"),
        ("203.0.113.255", "203.0.113.0/24"),
        ("203.0.114.0", None),
        ("198.51.103.255", "198.51.100.0/22"),
        ("198.51.104.0", None),
        ("10.20.5.5", "10.0.0.0/8"),
        ("10.255.255.255", "10.0.0.0/8"),
        ("11.0.0.0", None),
        ("2001:db8:abcd:ffff::1", "2001:db8:abcd::/48"),
        ("2001:db8:abce::1", None),
        ("::ffff:185.220.101.1", "185.220.101.1/32"),
        ("0.0.0.0", None),
    ],
    ids=[
        "single-ip",
        "next-ip",
        "previous-ip",
        "block-first",
        "block-last",
        "after-block",
        "semicolon-comment-line",
        "after-22",
        "nested-inside-wider",
        "wider-last",
        "after-wider",
        "ipv6-inside",
        "ipv6-outside",
        "ipv4-mapped",
        "below-everything",
    ],
)
def test_match_returns_the_containing_entry(ranges: IpRangeSet, ip: str, entry: str | None) -> None:
    assert ranges.match(ip) == entry
    assert (ip in ranges) is (entry is not None)


def test_comments_and_blank_lines_are_skipped(ranges: IpRangeSet) -> None:
    assert len(ranges) == 6


def test_bad_line_is_a_feed_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("1.2.3.4\nnot-an-ip\n", encoding="utf-8")
    with pytest.raises(FeedError) as caught:
        load_ip_list("malicious_ip_list", str(path))
    assert str(caught.value) == (
        f"risk.malicious_ip_list: cannot read {path}: line 2: 'not-an-ip' is not an IP address "
        "or CIDR"
    )
    assert isinstance(caught.value, RiskConfigError)


def test_a_byte_order_mark_is_not_part_of_the_first_entry(tmp_path: Path) -> None:
    # Notepad and spreadsheets save UTF-8 with a BOM; the first line is an entry all the same.
    path = tmp_path / "list.txt"
    path.write_text("203.0.113.0/24\n198.51.100.7\n", encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    ranges = load_ip_list("malicious_ip_list", str(path))
    assert ranges.match("203.0.113.9") == "203.0.113.0/24" and len(ranges) == 2


def test_missing_file_is_a_feed_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.txt"
    with pytest.raises(FeedError, match=r"^risk.anonymous_ip_list: cannot read .*absent.txt: "):
        load_ip_list("anonymous_ip_list", str(path))


def test_empty_list_matches_nothing() -> None:
    assert IpRangeSet([]).match("1.1.1.1") is None
