"""Fill a migrated database with what a large organisation leaves behind (issue 16's scale).

    python bench/populate.py DATABASE_URL [--clients 10000] [--users 100000]
                             [--sign-ins 1000000] [--tokens 100000] [--seed 1]

Used by `bench/oidc_bench.py --populate`, which serves an empty and a populated database
side by side so that a cost growing with the data shows as a gap between them. Rows go
in through SQLAlchemy Core on the product's own tables (the schema `idp db upgrade` made):

- clients: confidential authorization-code clients with hashed secrets;
- users: with one shared password hash (nobody signs in as them), their risk history
  (`risk_user_history`) and seven learned properties each (`risk_user_features`:
  network, /24, country, city, browser, OS, device), drawn from small pools so that values
  are shared by thousands of users, as a big ISP or a browser is; a share of them have
  the benchmark's own address block, browser and OS (127.0.0.0/24, "Other"), so the
  "how many users have this value" counts the engine makes have many rows to count;
- the sign-in log: a year of attempts by those users, a few per cent failed, a share from
  127.0.0.1 (the benchmark's address) older than the per-IP windows;
- tokens: live access and refresh tokens of those users at those clients;
- the risk engine's population counters: sign-ins counted as a steady organisation's
  would be (every kind's novelty at its prior rate, the newest 0.25% at about 8 bits),
  so the engine judges with the organisation's figures, and makes the per-value user
  counts it makes once `novelty_min_counted` sign-ins are counted.

PostgreSQL tables are analyzed at the end, as autovacuum would leave them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import argon2
import sqlalchemy as sa

from idp.extensions import db
from idp.models import hash_client_secret
from risk.novelty import (
    KINDS,
    PARENT,
    PRIOR_RATES,
    TOP_BIN,
    Stage,
    bits_counter,
    cell_counter,
)

CHUNK = 5_000
DAY = 86_400
HISTORY_DAYS = 365
FAILED_RATE = 0.04
BENCH_ADDRESS_RATE = 0.01
"""The share of users and sign-in rows on the benchmark's own address (127.0.0.1)."""
NETWORKS = 400
CITIES = 120
COUNTRIES = ("DE", "FR", "NL", "GB", "US", "ES", "IT", "PL")
BROWSERS = ("Chrome", "Firefox", "Safari", "Edge", "Other")
SYSTEMS = ("Windows", "Mac OS X", "Linux", "iOS", "Android", "Other")
SCORE_DECAY = 0.888
"""How much of the score histogram's remaining tail each bin (a quarter bit) keeps."""
AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0.0.0 Safari/537.36"


def _ip(rng: random.Random, network: int) -> str:
    return f"{10 + network // 250}.{network % 250}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class Population:
    """The generated rows, table by table, from one seed."""

    def __init__(self, users: int, clients: int, seed: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.start = now - timedelta(days=HISTORY_DAYS)
        self.user_ids = [
            str(uuid.UUID(int=self.rng.getrandbits(128), version=4)) for _ in range(users)
        ]
        self.client_ids = [f"pop-{n:05d}" for n in range(clients)]
        # Each user's habits: home network, city, country, browser, OS, on the bench's block.
        self.habits = [
            (
                self.rng.randrange(NETWORKS),
                self.rng.randrange(CITIES),
                self.rng.choice(COUNTRIES),
                self.rng.choice(BROWSERS),
                self.rng.choice(SYSTEMS),
                self.rng.random() < BENCH_ADDRESS_RATE,
            )
            for _ in range(users)
        ]
        # The address of each user's latest sign-in: their history and learned /24 agree.
        self.homes = [self._place(index) for index in range(users)]

    def _moment(self) -> datetime:
        return self.start + timedelta(seconds=self.rng.randrange(HISTORY_DAYS * DAY))

    def clients(self) -> Iterator[dict[str, Any]]:
        for client_id in self.client_ids:
            metadata = {
                "client_name": client_id,
                "redirect_uris": [f"https://{client_id}.example/cb"],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "scope": "openid profile email offline_access",
                "token_endpoint_auth_method": "client_secret_basic",
            }
            yield {
                "client_id": client_id,
                "client_secret": hash_client_secret(client_id + "-secret"),
                "client_id_issued_at": int(self.start.timestamp()),
                "client_secret_expires_at": 0,
                "client_metadata": json.dumps(metadata),
                "name": client_id,
            }

    def users(self, password_hash: str) -> Iterator[dict[str, Any]]:
        for index, user_id in enumerate(self.user_ids):
            yield {
                "id": user_id,
                "username": f"pop-user-{index}",
                "email": f"pop-user-{index}@example.org",
                "password_hash": password_hash,
                "password_changed_at": self.start,
                "created_at": self.start,
                "groups": ["users"],
            }

    def _place(self, index: int) -> tuple[str, int, str, str]:
        """An address of the user's home network, with its ASN, country and city."""
        network, city, country, _, _, bench = self.habits[index]
        ip = f"127.0.0.{self.rng.randrange(2, 255)}" if bench else _ip(self.rng, network)
        return ip, 64_512 + network, country, f"City {city}"

    def history(self) -> Iterator[dict[str, Any]]:
        for index, user_id in enumerate(self.user_ids):
            ip, _, country, city = self.homes[index]
            yield {
                "user_id": user_id,
                "first_seen": self.start,
                "successful_sign_ins": 10,
                "last_at": self._moment(),
                "last_ip": ip,
                "last_country": country,
                "last_city": city,
            }

    def features(self) -> Iterator[dict[str, Any]]:
        for index, user_id in enumerate(self.user_ids):
            ip, asn, country, city = self.homes[index]
            _, _, _, browser, system, bench = self.habits[index]
            values = {
                "subnet": ip.rsplit(".", 1)[0] + ".0/24",
                "asn": str(asn),
                "country": country,
                "city": f"{city}, {country}",
                "browser": "Other" if bench else browser,
                "os": "Other" if bench else system,
                "device": hashlib.sha256(user_id.encode()).hexdigest()[:32],
            }
            for kind, value in values.items():
                yield {
                    "user_id": user_id,
                    "kind": kind,
                    "value": value,
                    "first_seen": self.start,
                    "last_seen": self._moment(),
                }

    def sign_ins(self, count: int) -> Iterator[dict[str, Any]]:
        users = len(self.user_ids)
        for n in range(count):
            index = self.rng.randrange(users)
            ip, asn, country, city = self._place(index)
            failed = self.rng.random() < FAILED_RATE
            # The bench's own address: only rows two days old or more, so its per-IP windows
            # hold what the benchmark itself sends.
            when = self._moment()
            if ip.startswith("127."):
                when = min(when, self.now - timedelta(days=2))
            yield {
                "id": f"{n:036d}",
                "created_at": when,
                "correlation_id": str(uuid.UUID(int=self.rng.getrandbits(128))),
                "user_id": self.user_ids[index],
                "username": f"pop-user-{index}",
                "client_id": self.client_ids[n % len(self.client_ids)],
                "ip": ip,
                "user_agent": AGENT,
                "kind": "password",
                "outcome": "failure" if failed else "success",
                "error_code": 50126 if failed else None,
                "country": country,
                "city": city,
                "asn": asn,
            }

    def tokens(self, count: int) -> Iterator[dict[str, Any]]:
        issued = int(self.now.timestamp()) - 600
        for n in range(count):
            yield {
                "user_id": self.user_ids[n % len(self.user_ids)],
                "client_id": self.client_ids[n % len(self.client_ids)],
                "token_type": "Bearer",
                "access_token": f"pop-access-{n}-{self.rng.getrandbits(64):x}",
                "refresh_token": f"pop-refresh-{n}-{self.rng.getrandbits(64):x}",
                "scope": "openid profile email offline_access",
                "issued_at": issued,
                "expires_in": 3600,
                "refresh_token_expires_at": issued + 30 * DAY,
            }


def novelty_counters(sign_ins: int) -> dict[str, int]:
    """A steady organisation's population counters over `sign_ins` counted sign-ins of
    learned users: each kind new at its prior rate; nine in ten scoring nothing and the rest
    thinning out so that the newest 1%, 0.25% and 0.02% score about 5, 8 and 13 bits, near
    the floors of low, medium and high (5, 7 and 12 by default)."""
    stage = Stage.LEARNED
    counters: dict[str, int] = {}
    for kind in KINDS:
        parent = PARENT[kind]
        parent_new = PRIOR_RATES.get((parent, False), 0.0) if parent else 0.0
        for is_new, share in ((False, 1 - parent_new), (True, parent_new)):
            if (kind, is_new) not in PRIOR_RATES or share <= 0:
                continue
            cell = cell_counter(stage, kind, parent_new=is_new)
            total = int(sign_ins * share)
            new = int(total * PRIOR_RATES[(kind, is_new)])
            counters[cell] = total
            counters[cell + ".new"] = new - new // 4
            counters[cell + ".rare"] = new // 4
    # Nine in ten sign-ins bring nothing new; the rest thin out by SCORE_DECAY a bin.
    counters[bits_counter(stage, 0)] = sign_ins - (remaining := sign_ins // 10)
    for index in range(1, TOP_BIN + 1):
        count = remaining if index == TOP_BIN else round(remaining * (1 - SCORE_DECAY))
        counters[bits_counter(stage, index)] = count
        remaining -= count
        if not remaining:
            break
    return counters


def populate(
    url: str,
    *,
    clients: int = 10_000,
    users: int = 100_000,
    sign_ins: int = 1_000_000,
    tokens: int = 100_000,
    seed: int = 1,
    say: Callable[[str], None] = print,
) -> dict[str, int]:
    """Insert the rows into the migrated database at `url`; return rows per table."""
    tables = db.metadata.tables
    population = Population(users, clients, seed, datetime.now(UTC))
    password_hash = argon2.PasswordHasher(memory_cost=8, time_cost=1, parallelism=1).hash(
        f"populated user {seed}"
    )
    plan: list[tuple[str, Iterator[dict[str, Any]]]] = [
        ("oauth2_clients", population.clients()),
        ("users", population.users(password_hash)),
        ("risk_user_history", population.history()),
        ("risk_user_features", population.features()),
        ("sign_ins", population.sign_ins(sign_ins)),
        ("oauth2_tokens", population.tokens(tokens)),
        (
            "risk_novelty_counts",
            iter(
                {"name": name, "count": count}
                for name, count in novelty_counters(int(sign_ins * (1 - FAILED_RATE))).items()
            ),
        ),
        (
            "risk_org_countries",
            iter({"country": c, "first_seen": population.start} for c in COUNTRIES),
        ),
    ]
    engine = sa.create_engine(url)
    written: dict[str, int] = {}
    try:
        for name, rows in plan:
            started = time.perf_counter()
            written[name] = 0
            with engine.begin() as conn:
                if name == "risk_novelty_counts":
                    # The counters are upserted by the server: start from ours alone.
                    conn.execute(tables[name].delete())
                for chunk in _chunks(rows):
                    conn.execute(tables[name].insert(), chunk)
                    written[name] += len(chunk)
            say(f"  {name}: {written[name]:,} rows in {time.perf_counter() - started:.1f} s")
        names = ", ".join(name for name, _ in plan)
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f"VACUUM ANALYZE {names}")
        else:
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("database_url", help="a database `idp db upgrade` has migrated")
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--sign-ins", type=int, default=1_000_000)
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if min(args.clients, args.users) < 1 or min(args.sign_ins, args.tokens) < 0:
        parser.error("--clients and --users must be positive, the other counts not negative")
    populate(
        args.database_url,
        clients=args.clients,
        users=args.users,
        sign_ins=args.sign_ins,
        tokens=args.tokens,
        seed=args.seed,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
