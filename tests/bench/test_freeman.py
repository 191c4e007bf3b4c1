from __future__ import annotations

from itertools import cycle, islice

import freeman
import pytest

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Chrome 124.0.0",
    "Windows 10",
)
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mobile Safari 17.4",
    "iOS 17.4",
)
FIREFOX = (
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0",
    "Firefox 115.0",
    "Ubuntu",
)


def row(
    user: str, ip: str, asn: str, country: str, agent: tuple[str, str, str], ok: bool = True
) -> dict[str, str]:
    return {
        "User ID": user,
        "IP Address": ip,
        "ASN": asn,
        "Country": country,
        "User Agent String": agent[0],
        "Browser Name and Version": agent[1],
        "OS Name and Version": agent[2],
        "Login Successful": str(ok),
    }


@pytest.fixture
def scorer() -> freeman.FreemanScorer:
    """A scorer that has learned 30 habitual logins of alice among other users' logins."""
    scorer = freeman.FreemanScorer()
    others = [
        row(f"user{n}", f"84.208.{n}.9", "2119", "NO", agent)
        for n, agent in zip(range(40), cycle((CHROME, SAFARI)), strict=False)
    ]
    for other in islice(cycle(others), 200):
        scorer.learn(other)
    for _ in range(30):
        scorer.learn(row("alice", "84.208.7.20", "2119", "NO", CHROME))
    return scorer


def test_a_naive_attacker_scores_above_the_habitual_login(scorer: freeman.FreemanScorer) -> None:
    habitual = scorer.score(row("alice", "84.208.7.20", "2119", "NO", CHROME))
    new_address = scorer.score(row("alice", "84.208.7.99", "2119", "NO", CHROME))
    attacker = scorer.score(row("alice", "95.165.3.4", "12389", "RU", FIREFOX))
    assert habitual < new_address < attacker
    assert attacker - habitual > 10  # e**10: tens of thousands of times likelier an attack


def test_a_user_without_history_scores_one() -> None:
    assert freeman.FreemanScorer().score(row("bob", "95.165.3.4", "12389", "RU", FIREFOX)) == 0


def test_failed_logins_are_scored_but_not_learned(scorer: freeman.FreemanScorer) -> None:
    attempt = row("alice", "95.165.3.4", "12389", "RU", FIREFOX, ok=False)
    before = scorer.score(attempt)
    for _ in range(5):
        scorer.learn(attempt)
    assert scorer.score(attempt) == before


def test_score_rows_scores_each_row_before_learning_it() -> None:
    rows = [row("carol", "84.208.1.1", "2119", "NO", CHROME) for _ in range(3)]
    scores = list(freeman.score_rows(rows))
    assert scores[0] == 0  # nothing known about carol yet
    assert scores[1] != scores[2]  # the second login has already been learned by the third
