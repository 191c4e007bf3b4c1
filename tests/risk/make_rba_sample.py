"""Write the synthetic, labelled RBA-format login log used by the replay tests.

Run `python tests/risk/make_rba_sample.py` to regenerate tests/risk/data/rba_sample.csv;
the output is deterministic. Everything in it is invented: 20 users with stable habits
(home city, ISP, one or two browsers, the odd typo and a few trips), 6 account takeovers
from new countries and networks, and 3 attack IPs spraying passwords across accounts.
"""

from __future__ import annotations

import csv
import io
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from risk.replay import RBA_COLUMNS

SEED = 20_240_301
START = datetime(2024, 1, 1, tzinfo=UTC)
OUTPUT = Path(__file__).with_name("data") / "rba_sample.csv"
COLUMNS = RBA_COLUMNS

# (country, region, city, asn, first two octets of the ISP's addresses)
HOMES = [
    ("NO", "Oslo", "Oslo", 2119, "84.208"),
    ("NO", "Vestland", "Bergen", 29695, "85.164"),
    ("DE", "Berlin", "Berlin", 3320, "91.64"),
    ("DE", "Bavaria", "Munich", 8881, "78.42"),
    ("US", "New York", "New York", 7922, "73.12"),
    ("US", "Illinois", "Chicago", 7018, "99.120"),
    ("GB", "England", "London", 2856, "86.150"),
    ("FR", "Ile-de-France", "Paris", 3215, "90.8"),
]
MOBILE_ASN = {
    "NO": (12929, "46.66"),
    "DE": (3209, "109.40"),
    "US": (21928, "172.56"),
    "GB": (25135, "31.94"),
    "FR": (15557, "37.164"),
}
TRIPS = [
    ("NO", "Trondelag", "Trondheim", 2119, "84.210"),
    ("DE", "Hamburg", "Hamburg", 3320, "91.65"),
    ("US", "California", "San Francisco", 7922, "73.13"),
    ("ES", "Catalonia", "Barcelona", 3352, "80.58"),
]
ATTACKER_HOMES = [
    ("RU", "Moscow", "Moscow", 12389, "95.165"),
    ("VN", "Hanoi", "Hanoi", 7552, "14.160"),
    ("BR", "Sao Paulo", "Sao Paulo", 28573, "177.92"),
    ("NG", "Lagos", "Lagos", 36873, "105.112"),
    ("ID", "Jakarta", "Jakarta", 17974, "36.72"),
    ("CN", "Beijing", "Beijing", 4808, "123.112"),
]
SPRAY_HOMES = [
    ("NL", "North Holland", "Amsterdam", 60781, "185.107"),
    ("US", "Virginia", "Ashburn", 14618, "54.160"),
    ("RO", "Bucharest", "Bucharest", 9009, "185.181"),
]
AGENTS = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        "Chrome 120.0.0",
        "Windows 10",
        "desktop",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.2 Safari/605.1.15",
        "Safari 17.2",
        "Mac OS X 10.15.7",
        "desktop",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "Firefox 121.0",
        "Linux",
        "desktop",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
        "Edge 120.0.2210",
        "Windows 10",
        "desktop",
    ),
]
MOBILE_AGENTS = [
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
        "Mobile Safari 17.2",
        "iOS 17.2",
        "mobile",
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.6099.144 Mobile Safari/537.36",
        "Chrome Mobile 120.0.6099",
        "Android 14",
        "mobile",
    ),
]
ATTACK_AGENTS = [
    ("python-requests/2.31.0", "Python Requests 2.31", "Other", "bot"),
    (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0",
        "Firefox 115.0",
        "Ubuntu",
        "desktop",
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/114.0.0.0 Mobile Safari/537.36",
        "Chrome Mobile 114.0.0",
        "Android 10",
        "mobile",
    ),
]


def rows() -> list[tuple[datetime, list[str]]]:
    rng = random.Random(SEED)
    out: list[tuple[datetime, list[str]]] = []

    def ip_in(prefix: str, third: int | None = None) -> str:
        third = rng.randrange(256) if third is None else third
        return f"{prefix}.{third}.{rng.randrange(1, 255)}"

    def add(
        when: datetime,
        user: str,
        ip: str,
        home: tuple[str, str, str, int, str],
        agent: tuple[str, str, str, str],
        ok: bool,
        attack: bool = False,
        takeover: bool = False,
    ) -> None:
        country, region, city, asn, _ = home
        out.append(
            (
                when,
                [
                    when.strftime("%Y-%m-%d %H:%M:%S.") + f"{when.microsecond // 1000:03d}",
                    user,
                    ip,
                    country,
                    region,
                    city,
                    str(asn),
                    agent[0],
                    agent[1],
                    agent[2],
                    agent[3],
                    str(ok),
                    str(attack),
                    str(takeover),
                ],
            )
        )

    users = []
    for number in range(20):
        user = str(-4_324_475_583_306_591_935 + number * 7_919_871)
        home = HOMES[number % len(HOMES)]
        third = rng.randrange(256)
        desktop = AGENTS[number % len(AGENTS)]
        mobile = MOBILE_AGENTS[number % 2] if number % 3 else None
        users.append((user, home, third, desktop, mobile))
        for day in range(0, 60, 2):
            if rng.random() < 0.15:
                continue
            when = START + timedelta(days=day, hours=rng.uniform(7, 20))
            agent, login_home, ip = desktop, home, ip_in(home[4], third)
            if mobile and rng.random() < 0.25:
                asn, prefix = MOBILE_ASN[home[0]]
                login_home = (home[0], home[1], home[2], asn, prefix)
                agent, ip = mobile, ip_in(prefix)
            if rng.random() < 0.06:
                add(when - timedelta(seconds=40), user, ip, login_home, agent, ok=False)
            add(when, user, ip, login_home, agent, ok=True)
        if number % 5 == 4:
            trip = TRIPS[number // 5]
            trip_ip = ip_in(trip[4])
            for day in (41, 42, 44):
                when = START + timedelta(days=day, hours=rng.uniform(8, 18))
                add(when, user, trip_ip, trip, desktop, ok=True)

    for index, home in enumerate(ATTACKER_HOMES):
        user, *_ = users[index * 3 + 1]
        agent = ATTACK_AGENTS[index % len(ATTACK_AGENTS)]
        when = START + timedelta(days=36 + index * 3, hours=rng.uniform(0, 23))
        ip = ip_in(home[4])
        add(when - timedelta(minutes=2), user, ip, home, agent, ok=False, takeover=True)
        add(when, user, ip, home, agent, ok=True, takeover=True)

    for index, home in enumerate(SPRAY_HOMES):
        ip = ip_in(home[4])
        agent = ATTACK_AGENTS[0]
        when = START + timedelta(days=45 + index * 4, hours=rng.uniform(0, 23))
        victims = rng.sample(users, 14)
        for offset, (user, *_rest) in enumerate(victims):
            when += timedelta(seconds=rng.uniform(20, 90))
            cracked = index > 0 and offset == 12
            add(when, user, ip, home, agent, ok=cracked, attack=True, takeover=cracked)

    out.sort(key=lambda item: item[0])
    return out


def render() -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(row for _, row in rows())
    return buffer.getvalue()


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
