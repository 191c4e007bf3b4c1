"""Hand-built RBA-format login logs for the replay tests."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path

from risk.replay import DEVICE_COLUMN, RBA_COLUMNS, SECOND_FACTOR_COLUMN

START = datetime(2024, 1, 1, 7, 0)
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


def entry(
    minute: float,
    user: str,
    ip: str,
    *,
    ok: bool = True,
    attack: bool = False,
    takeover: bool = False,
    country: str = "NO",
    region: str = "Oslo",
    city: str = "Oslo",
    asn: str = "2119",
    device: str | None = None,
) -> dict[str, str]:
    """One row, `minute` minutes after 07:00 on 2024-01-01."""
    row = dict(
        zip(
            RBA_COLUMNS,
            (
                (START + timedelta(minutes=minute)).isoformat(sep=" "),
                user,
                ip,
                country,
                region,
                city,
                asn,
                CHROME,
                "Chrome 124.0",
                "Windows 10",
                "desktop",
                str(ok),
                str(attack),
                str(takeover),
            ),
            strict=True,
        )
    )
    if device is not None:
        row[DEVICE_COLUMN] = device
    return row


def write_log(path: Path, rows: list[dict[str, str]]) -> Path:
    """Write `rows` as an RBA-format CSV, with each optional column any row has."""
    columns = list(RBA_COLUMNS)
    for optional in (DEVICE_COLUMN, SECOND_FACTOR_COLUMN):
        if any(optional in row for row in rows):
            columns.append(optional)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


ATTACKER = "185.107.1.10"


def attack_log() -> list[dict[str, str]]:
    """20 rows whose levels only count-based detections decide (see test_replay.py)."""
    rows = [entry(i, f"f{i + 1}", ATTACKER, ok=False, attack=True) for i in range(12)]
    rows += [
        entry(12, "u1", "84.208.1.1"),  # 13: legitimate
        entry(13, "u2", ATTACKER, attack=True, takeover=True),  # 14: episode 1 starts
        entry(14, "u1", "84.208.1.1"),  # 15: another user's row does not end it
        entry(15, "u2", ATTACKER, attack=True, takeover=True),  # 16: episode 1 goes on
        entry(16, "u2", "84.208.1.2"),  # 17: the owner's own row ends it
        entry(17, "u2", "84.208.7.7", takeover=True),  # 18: episode 2 starts, unflagged
        entry(18, "u2", ATTACKER, attack=True, takeover=True),  # 19: flagged, too late
        entry(19, "u3", ATTACKER, attack=True),  # 20: a cracked account, not labelled takeover
    ]
    return rows


DAY = 24 * 60


def trip_log(answered: str | None) -> list[dict[str, str]]:
    """Twenty days at home in Oslo, then two sign-ins from New York half an hour apart; the
    first (new country: low) says `answered` in SECOND_FACTOR_COLUMN when not None."""
    rows = [entry(day * DAY, "u1", f"84.208.1.{2 + day % 3}") for day in range(20)]
    abroad = {"country": "US", "region": "New York", "city": "New York", "asn": "7922"}
    rows.append(entry(20 * DAY, "u1", "23.1.2.3", **abroad))
    rows.append(entry(20 * DAY + 30, "u1", "23.1.2.4", **abroad))
    return _answer(rows, 20, answered)


def _answer(rows: list[dict[str, str]], index: int, answered: str | None) -> list[dict[str, str]]:
    """`rows`, with SECOND_FACTOR_COLUMN saying `answered` on row `index` and empty on the
    others; without the column when `answered` is None."""
    if answered is not None:
        for one in rows:
            one[SECOND_FACTOR_COLUMN] = ""
        rows[index][SECOND_FACTOR_COLUMN] = answered
    return rows


def shared_network_log(answered: str | None, kept_days: int) -> list[dict[str, str]]:
    """Two users at home in Oslo for twenty days. Then u1 brings the new network 64500
    (its first sign-in from it says `answered` in SECOND_FACTOR_COLUMN when not None) and
    uses it again `kept_days` later; the day after, u2 signs in from it for the first time."""
    rows = []
    for day in range(20):
        rows.append(entry(day * DAY, "u1", f"84.208.1.{2 + day % 3}"))
        rows.append(entry(day * DAY + 5, "u2", f"84.209.1.{2 + day % 3}"))
    rows.append(entry(20 * DAY, "u1", "93.1.2.3", asn="64500"))
    rows.append(entry((20 + kept_days) * DAY, "u1", "93.1.2.4", asn="64500"))
    rows.append(entry((21 + kept_days) * DAY, "u2", "93.1.2.5", asn="64500"))
    return _answer(rows, 40, answered)
