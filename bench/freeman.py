"""A baseline login scorer after Freeman et al., "Who Are You? A Statistical Approach to
Measuring User Authenticity" (NDSS 2016), for RBA-format login logs.

The paper scores a login x of user u by the likelihood ratio p(x | attack) / p(x | u),
assuming an attacker draws x from the global population (p(x | attack) ~ p(x)) and that the
features are independent. This is our reading of it, with these choices:

- Six features in two hierarchies, taken from the log's columns: country -> ASN -> IP
  address, and OS (name and version) -> browser (name and version) -> user-agent string.
  The score is the product over the six features of p(value) / p_u(value).
- p_u is built down each hierarchy, p_u(ip) = p_u(country) p_u(asn | country)
  p_u(ip | asn), so a value the user has never shown backs off to its parent: a new
  address in the user's usual ASN is far less surprising than one in a new ASN, and under
  a parent the user has never reached (a new country) p_u(child | parent) is the global
  p(child | parent), which leaves the child's ratio equal to the parent's.
- Under a parent the user has reached n times, showing d distinct values there: a value
  seen c times has p_u = (1 - mu) c / n, where mu = (d + 1) / (n + 2) is the chance the
  user shows a new value, estimated from how often their history introduced one; an
  unseen value gets mu spread over unseen values in proportion to their global
  probability, p_u = mu p(value | parent), without renormalising by the global mass of
  the values the user has already shown (negligible at the paper's scale). Renormalising,
  tried on the tuning seeds, makes a new country nearly free for users in the
  organisation's home country and weakens the baseline a lot; a baseline should not be a
  straw man.
- p(value | parent) is the global frequency among all successful logins learned so far,
  add-one smoothed over the values seen under the parent plus one for an unseen value.
- Online: each row is scored before anything is learned from it, and only successful
  logins are learned. Every row is scored, failed ones too; a user with no history scores
  1. There is no threshold here: the caller picks one.
- Left out: the paper's IP-reputation weighting of p(x | attack) and its per-user prior on
  being attacked; the log has no reputation feed, and the prior does not change the order
  of one user's logins.

`score` returns the natural logarithm of the ratio, which orders logins the same way and
cannot overflow.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

IP_HIERARCHY = ("Country", "ASN", "IP Address")
AGENT_HIERARCHY = ("OS Name and Version", "Browser Name and Version", "User Agent String")
HIERARCHIES = (IP_HIERARCHY, AGENT_HIERARCHY)
SMOOTHING = 1.0

Node = tuple[str, ...]
"""A path in one hierarchy: the hierarchy's index, then the values from the top down."""


@dataclass
class _History:
    """One user's successful logins, counted per node of each hierarchy."""

    count: dict[Node, int] = field(default_factory=dict)
    distinct: dict[Node, int] = field(default_factory=dict)


class FreemanScorer:
    """Scores logins online: call `score(row)` then `learn(row)` for each row in time order."""

    def __init__(self) -> None:
        self._count: dict[Node, int] = {}
        self._distinct: dict[Node, int] = {}
        self._users: dict[str, _History] = {}

    def _global(self, parent: Node, node: Node) -> float:
        """Smoothed global p(node | parent)."""
        slots = self._distinct.get(parent, 0) + 1
        return (self._count.get(node, 0) + SMOOTHING) / (
            self._count.get(parent, 0) + SMOOTHING * slots
        )

    def score(self, row: Mapping[str, str]) -> float:
        """log of prod over features of p(value | parent) / p_user(value | parent)."""
        history = self._users.get(row["User ID"])
        if history is None:
            return 0.0
        total = 0.0
        for index, levels in enumerate(HIERARCHIES):
            node: Node = (str(index),)
            marginal = 0.0
            for level in levels:
                parent, node = node, (*node, row[level] or "")
                logins = history.count.get(parent, 0)
                if logins == 0:
                    total += marginal  # p_u(value) backs off to p_u(parent) * p(value | parent)
                    continue
                novelty = (history.distinct[parent] + 1) / (logins + 2)
                shown = history.count.get(node, 0)
                if shown:
                    user_p = (1 - novelty) * shown / logins
                    marginal += math.log(self._global(parent, node) / user_p)
                else:
                    marginal -= math.log(novelty)
                total += marginal
        return total

    def learn(self, row: Mapping[str, str]) -> None:
        """Add a row to the global and the user's counts if it was a successful login."""
        if (row["Login Successful"] or "").strip().lower() not in ("true", "1", "yes"):
            return
        history = self._users.setdefault(row["User ID"], _History())
        for index, levels in enumerate(HIERARCHIES):
            node: Node = (str(index),)
            self._count[node] = self._count.get(node, 0) + 1
            history.count[node] = history.count.get(node, 0) + 1
            for level in levels:
                parent, node = node, (*node, row[level] or "")
                if node not in self._count:
                    self._distinct[parent] = self._distinct.get(parent, 0) + 1
                self._count[node] = self._count.get(node, 0) + 1
                if node not in history.count:
                    history.distinct[parent] = history.distinct.get(parent, 0) + 1
                history.count[node] = history.count.get(node, 0) + 1


def score_rows(rows: Iterable[Mapping[str, str]]) -> Iterator[float]:
    """The score of each row, each computed before learning from it."""
    scorer = FreemanScorer()
    for row in rows:
        yield scorer.score(row)
        scorer.learn(row)


def score_file(path: str | os.PathLike[str]) -> list[float]:
    """Scores for every row of the RBA-format CSV at `path`, in file order."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(score_rows(csv.DictReader(handle)))
