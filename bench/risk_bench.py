"""Time RiskEngine.evaluate() against an in-memory history of many users and sign-ins.

    python bench/risk_bench.py [--users 100000 --sign-ins 1000000 --evaluations 20000]

Builds small GeoIP City and ASN databases with mmdb-writer (a test dependency), fills an
InMemoryHistoryRepository through its record() method, then evaluates fresh sign-ins
(mostly ordinary, some travelling, some from unseen networks) and prints p50 and p99.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mmdb_writer import MmdbF64, MmdbU16, MmdbU32, MMDBWriter
from netaddr import IPSet

from risk.context import SignInContext, SignInKind
from risk.engine import Assessment, RiskEngine
from risk.features import sign_in_features
from risk.feeds import Feeds
from risk.levels import Level
from risk.repository import InMemoryHistoryRepository
from risk.settings import RiskSettings

START = datetime(2026, 1, 1, tzinfo=UTC)
HISTORY_DAYS = 90
NETWORKS = 2000
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.82 Mobile Safari/537.36",
]
COUNTRIES = ["NO", "SE", "DE", "GB", "FR", "US", "CA", "JP", "BR", "IN", "AU", "ZA"]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def network_prefix(index: int) -> str:
    """The /16 of network `index`: public, unreserved space from 20.0.0.0 upwards."""
    return f"{20 + index // 256}.{index % 256}"


def build_databases(folder: Path, rng: random.Random) -> dict[str, str]:
    city, asn = (
        MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=kind)
        for kind in ("GeoLite2-City", "GeoLite2-ASN")
    )
    for index in range(NETWORKS):
        network = IPSet([f"{network_prefix(index)}.0.0/16"])
        country = COUNTRIES[index % len(COUNTRIES)]
        city.insert_network(
            network,
            {
                "city": {"names": {"en": f"City{index}"}},
                "country": {"iso_code": country},
                "location": {
                    "latitude": MmdbF64(rng.uniform(-60, 70)),
                    "longitude": MmdbF64(rng.uniform(-180, 180)),
                    "accuracy_radius": MmdbU16(rng.choice((5, 20, 50, 100))),
                },
            },
        )
        asn.insert_network(
            network,
            {
                "autonomous_system_number": MmdbU32(64_512 + index),
                "autonomous_system_organization": f"ISP {index}",
            },
        )
    paths = {"geoip_city_db": folder / "city.mmdb", "geoip_asn_db": folder / "asn.mmdb"}
    city.to_db_file(str(paths["geoip_city_db"]))
    asn.to_db_file(str(paths["geoip_asn_db"]))
    return {key: str(path) for key, path in paths.items()}


def random_ip(rng: random.Random, network: int) -> str:
    return f"{network_prefix(network)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def fill(
    repo: InMemoryHistoryRepository,
    feeds: Feeds,
    users: int,
    sign_ins: int,
    rng: random.Random,
) -> list[tuple[int, str, int]]:
    """Record `sign_ins` past sign-ins spread over `users`; return each user's habits."""
    habits = [
        (rng.randrange(NETWORKS), AGENTS[rng.randrange(len(AGENTS))], rng.randrange(256))
        for _ in range(users)
    ]
    per_user = sign_ins // users
    extra = sign_ins - per_user * users
    span = HISTORY_DAYS * 86_400
    counter = 0
    for user_index, (network, agent, third) in enumerate(habits):
        count = per_user + (1 if user_index < extra else 0)
        user_id = f"user{user_index}"
        for moment in sorted(rng.randrange(span) for _ in range(count)):
            counter += 1
            roaming = rng.random() < 0.1
            ip = (
                random_ip(rng, rng.randrange(NETWORKS))
                if roaming
                else f"{network_prefix(network)}.{third}.{rng.randrange(1, 255)}"
            )
            failed = rng.random() < 0.03
            ctx = SignInContext(
                correlation_id=f"fill-{counter}",
                time=START + timedelta(seconds=moment),
                ip=ip,
                user_agent=agent,
                client_id="app",
                username=user_id,
                user_id=user_id,
                kind=SignInKind.PASSWORD,
                password_valid=not failed,
                device_id=f"dev-{user_index}",
            )
            info = feeds.lookup(ip)
            assessment = Assessment(
                correlation_id=ctx.correlation_id,
                sign_in_risk_level=Level.NONE,
                detections=(),
                not_evaluated=(),
                ip_info=info,
                trusted_location=False,
                features=sign_in_features(ctx, info),
                evaluated_at=ctx.time,
            )
            repo.record(ctx, info, assessment, succeeded=not failed)
    return habits


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--sign-ins", type=int, default=1_000_000)
    parser.add_argument("--evaluations", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    print(f"python {platform.python_version()} on {cpu_model()}, nproc {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as folder:
        paths = build_databases(Path(folder), rng)
        settings = RiskSettings.from_mapping(paths)
        with Feeds.load(settings) as feeds:
            repo = InMemoryHistoryRepository()
            started = time.perf_counter()
            habits = fill(repo, feeds, args.users, args.sign_ins, rng)
            filled = time.perf_counter() - started
            rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"filled {args.sign_ins:,} sign-ins for {args.users:,} users in {filled:.1f} s "
                f"(max RSS {rss_mb:,.0f} MB)"
            )
            engine = RiskEngine(settings, feeds, repo)
            now = START + timedelta(days=HISTORY_DAYS)
            timings: list[float] = []
            levels: dict[Level, int] = {}
            for index in range(args.evaluations):
                user_index = rng.randrange(args.users)
                network, agent, third = habits[user_index]
                roll = rng.random()
                if roll < 0.90:
                    ip = f"{network_prefix(network)}.{third}.{rng.randrange(1, 255)}"
                else:
                    ip = random_ip(rng, rng.randrange(NETWORKS))
                    agent = AGENTS[rng.randrange(len(AGENTS))] if roll > 0.95 else agent
                ctx = SignInContext(
                    correlation_id=f"bench-{index}",
                    time=now + timedelta(seconds=index),
                    ip=ip,
                    user_agent=agent,
                    client_id="app",
                    username=f"user{user_index}",
                    user_id=f"user{user_index}",
                    kind=SignInKind.PASSWORD,
                    password_valid=True,
                    device_id=f"dev-{user_index}" if roll < 0.95 else None,
                )
                begin = time.perf_counter()
                result = engine.evaluate(ctx)
                timings.append((time.perf_counter() - begin) * 1000)
                levels[result.sign_in_risk_level] = levels.get(result.sign_in_risk_level, 0) + 1
            timings.sort()
            print(
                f"evaluate() x {args.evaluations:,}: p50 {percentile(timings, 0.50):.3f} ms, "
                f"p99 {percentile(timings, 0.99):.3f} ms, max {timings[-1]:.3f} ms, "
                f"mean {statistics.fmean(timings):.3f} ms"
            )
            print("levels: " + ", ".join(f"{lvl.value} {levels.get(lvl, 0):,}" for lvl in Level))


if __name__ == "__main__":
    sys.exit(main())
