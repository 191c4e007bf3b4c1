"""Time RiskEngine.evaluate() with the provider's SqlHistoryRepository on PostgreSQL.

    python bench/risk_pg_bench.py --database-url postgresql+psycopg://USER@HOST/DB
        [--users 100000 --sign-ins 1000000 --evaluations 5000 --keep]

Creates a private schema, migrates it with `idp.migrate.upgrade`, and bulk-loads with COPY
what 1,000,000 past sign-ins of 100,000 users leave behind: the users, the sign-in log
(wrong passwords, wrong TOTP codes and a few spraying IPs among the rows) and the learned
history (risk_user_history, risk_user_features, risk_org_countries). Then it builds the
app with GeoIP databases like bench/risk_bench.py's and times evaluate() on fresh sign-ins
of random users, each in its own transaction as a request would run it. The schema is
dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from risk_bench import (
    AGENTS,
    HISTORY_DAYS,
    NETWORKS,
    START,
    build_databases,
    cpu_model,
    network_prefix,
    percentile,
    random_ip,
)

from idp import create_app
from idp.config import demo_settings
from idp.extensions import db
from idp.migrate import upgrade
from idp.services import services
from risk.context import IpInfo, SignInContext, SignInKind
from risk.feeds import Feeds
from risk.levels import Level
from risk.netutil import subnet_of
from risk.settings import RiskSettings
from risk.useragent import parse_user_agent

SPRAY_IPS = [f"45.9.148.{n}" for n in range(1, 6)]
SPRAY_ACCOUNTS = 400
# The sprays ran in the last half hour before the benchmark's "now", inside every window.
SPRAY_MINUTES = 30
FAILED_PASSWORD_RATE = 0.03
FAILED_MFA_RATE = 0.01
ROAMING_RATE = 0.1
COPY_CHUNK_ROWS = 50_000

USER_COLUMNS = (
    "id, username, groups, password_hash, password_changed_at, password_must_change, "
    "created_at, disabled, claims, email_verified"
)
HISTORY_COLUMNS = (
    "user_id, first_seen, successful_sign_ins, last_at, last_ip, last_latitude, "
    "last_longitude, last_accuracy_radius_km, last_country, last_city, last_trusted_location"
)
FEATURE_COLUMNS = "user_id, kind, value, first_seen"
SIGN_IN_COLUMNS = (
    "id, created_at, correlation_id, user_id, username, client_id, ip, user_agent, kind, "
    "outcome, error_code, device_id, country, city, latitude, longitude, asn"
)
NULL = "\\N"


def text(value: object) -> str:
    """One COPY text-format field (the generated values hold no tabs or backslashes)."""
    if value is None:
        return NULL
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def line(*values: object) -> str:
    return "\t".join(text(v) for v in values) + "\n"


class Tables:
    """The COPY text of every table, built in memory (a few hundred MB at full size)."""

    def __init__(self) -> None:
        self.users: list[str] = []
        self.history: list[str] = []
        self.features: list[str] = []
        self.countries: dict[str, datetime] = {}
        self.sign_ins: list[str] = []


def places(feeds: Feeds) -> list[IpInfo]:
    """What GeoIP says about each benchmark network (one record per /16)."""
    return [feeds.lookup(f"{network_prefix(n)}.0.1") for n in range(NETWORKS)]


def generate(
    users: int, sign_ins: int, geo: list[IpInfo], rng: random.Random
) -> tuple[Tables, list[tuple[str, str, int, str, int]]]:
    """Every row, and each user's (id, name, home network, agent, third octet)."""
    tables = Tables()
    span = HISTORY_DAYS * 86_400
    spray_rows = min(sign_ins, len(SPRAY_IPS) * SPRAY_ACCOUNTS)
    own_rows = sign_ins - spray_rows
    per_user, extra = divmod(own_rows, users)
    families = {agent: parse_user_agent(agent) for agent in AGENTS}
    habits = []
    row_id = 0

    def sign_in(
        when: datetime,
        user_id: str | None,
        name: str,
        ip: str,
        agent: str,
        kind: str,
        outcome: str,
        error_code: int | None,
        device: str | None,
        place: IpInfo | None,
    ) -> None:
        nonlocal row_id
        row_id += 1
        tables.sign_ins.append(
            line(
                f"{row_id:036d}",
                when,
                uuid.UUID(int=rng.getrandbits(128)),
                user_id,
                name,
                "bench-app",
                ip,
                agent,
                kind,
                outcome,
                error_code,
                device,
                place.country if place else None,
                place.city if place else None,
                place.latitude if place else None,
                place.longitude if place else None,
                place.asn if place else None,
            )
        )

    for index in range(users):
        user_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        name = f"user{index}"
        network, agent, third = rng.randrange(NETWORKS), rng.choice(AGENTS), rng.randrange(256)
        device = f"dev-{index}"
        habits.append((user_id, name, network, agent, third))
        created = START - timedelta(days=1)
        tables.users.append(
            line(
                user_id,
                name,
                '["users"]',
                "bench-not-a-hash",
                created,
                False,
                created,
                False,
                "{}",
                False,
            )
        )
        browser, system = families[agent].browser_family, families[agent].os_family
        features: dict[tuple[str, str], datetime] = {}
        first: datetime | None = None
        last: tuple[datetime, str, IpInfo] | None = None
        successes = 0
        count = per_user + (1 if index < extra else 0)
        for moment in sorted(rng.randrange(span) for _ in range(count)):
            when = START + timedelta(seconds=moment)
            where = rng.randrange(NETWORKS) if rng.random() < ROAMING_RATE else network
            if where == network:
                ip = f"{network_prefix(network)}.{third}.{rng.randrange(1, 255)}"
            else:
                ip = random_ip(rng, where)
            roll = rng.random()
            if roll < FAILED_PASSWORD_RATE:
                sign_in(when, user_id, name, ip, agent, "password", "failure", 50126, device, None)
                continue
            if roll < FAILED_PASSWORD_RATE + FAILED_MFA_RATE:
                sign_in(when, user_id, name, ip, agent, "mfa", "failure", None, device, None)
                continue
            place = geo[where]
            sign_in(when, user_id, name, ip, agent, "password", "success", None, device, place)
            successes += 1
            first = first or when
            last = (when, ip, place)
            seen = [
                ("subnet", subnet_of(ip)),
                ("browser", browser),
                ("os", system),
                ("device", device),
            ]
            if place.asn is not None:
                seen.append(("asn", str(place.asn)))
            if place.country:
                seen.append(("country", place.country))
                seen_at = tables.countries.get(place.country, when)
                tables.countries[place.country] = min(seen_at, when)
                if place.city:
                    seen.append(("city", f"{place.city}, {place.country}"))
            for feature in seen:
                features.setdefault(feature, when)
        if last is None or first is None:
            continue
        when, ip, place = last
        tables.history.append(
            line(
                user_id,
                first,
                successes,
                when,
                ip,
                place.latitude,
                place.longitude,
                place.accuracy_radius_km,
                place.country,
                place.city,
                False,
            )
        )
        tables.features.extend(
            line(user_id, kind, value, since) for (kind, value), since in features.items()
        )

    now = START + timedelta(days=HISTORY_DAYS)
    for row in range(spray_rows):
        ip = SPRAY_IPS[row % len(SPRAY_IPS)]
        when = now - timedelta(seconds=rng.randrange(SPRAY_MINUTES * 60))
        target = rng.randrange(users)
        user_id, name = habits[target][0], habits[target][1]
        sign_in(when, user_id, name, ip, AGENTS[0], "password", "failure", 50126, None, None)
    return tables, habits


def copy_rows(raw: Any, table: str, columns: str, rows: Iterable[str]) -> None:
    """Stream COPY text into `table` in chunks."""
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        chunk: list[str] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= COPY_CHUNK_ROWS:
                copy.write("".join(chunk))
                chunk.clear()
        if chunk:
            copy.write("".join(chunk))


def defer_indexes(driver: Any, tables: list[str]) -> list[str]:
    """Drop the secondary indexes and foreign keys of `tables`; return what restores them.

    Building an index once after COPY, and checking a foreign key in one join, is much
    faster than maintaining them row by row (PostgreSQL's "Populating a Database").
    """
    indexes = driver.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indrelid "
        "WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(%s) "
        "AND NOT i.indisprimary AND NOT i.indisunique",
        (tables,),
    ).fetchall()
    keys = driver.execute(
        "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k "
        "JOIN pg_class c ON c.oid = k.conrelid "
        "WHERE k.contype = 'f' AND c.relnamespace = current_schema()::regnamespace "
        "AND c.relname = ANY(%s)",
        (tables,),
    ).fetchall()
    restore = []
    for name, definition in indexes:
        driver.execute(f"DROP INDEX {name}")
        restore.append(definition)
    for table, name, definition in keys:
        driver.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        restore.append(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    driver.commit()
    return restore


def load(url: str, tables: Tables) -> None:
    engine = sa.create_engine(url)
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        # A benchmark load may be lost on a crash; it need not wait for the WAL flush.
        driver.execute("SET synchronous_commit = off")
        driver.execute("SET maintenance_work_mem = '256MB'")
        restore = defer_indexes(driver, ["risk_user_history", "risk_user_features", "sign_ins"])
        for table, columns, rows in (
            ("users", USER_COLUMNS, tables.users),
            ("risk_user_history", HISTORY_COLUMNS, tables.history),
            ("risk_user_features", FEATURE_COLUMNS, tables.features),
            (
                "risk_org_countries",
                "country, first_seen",
                [line(c, t) for c, t in sorted(tables.countries.items())],
            ),
            ("sign_ins", SIGN_IN_COLUMNS, tables.sign_ins),
            # Past novelty_min_counted, so each new network, city, browser ... is looked up
            # among the other users' features, as in a running organisation.
            (
                "risk_novelty_counts",
                "name, count",
                [line("learned.bits.0", len(tables.sign_ins)), line("learning.bits.0", 1)],
            ),
        ):
            started = time.perf_counter()
            copy_rows(driver, table, columns, rows)
            driver.commit()
            print(f"  COPY {table}: {len(rows):,} rows in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        for statement in restore:
            driver.execute(statement)
        driver.commit()
        print(
            f"  {len(restore)} indexes and foreign keys rebuilt in "
            f"{time.perf_counter() - started:.1f} s"
        )
        started = time.perf_counter()
        driver.autocommit = True
        driver.execute(
            "VACUUM ANALYZE users, risk_user_history, risk_user_features, "
            "risk_org_countries, sign_ins"
        )
        print(f"  VACUUM ANALYZE in {time.perf_counter() - started:.1f} s")
    finally:
        raw.close()
        engine.dispose()


def evaluate(
    app: Any, habits: list[tuple[str, str, int, str, int]], evaluations: int, rng: random.Random
) -> None:
    now = START + timedelta(days=HISTORY_DAYS)
    timings: list[float] = []
    levels: dict[Level, int] = {}
    events: dict[str, int] = {}
    with app.app_context():
        engine = services(app).risk
        for index in range(evaluations):
            user_id, name, network, agent, third = habits[rng.randrange(len(habits))]
            roll = rng.random()
            if roll < 0.90:
                ip = f"{network_prefix(network)}.{third}.{rng.randrange(1, 255)}"
            elif roll < 0.99:
                ip = random_ip(rng, rng.randrange(NETWORKS))
                agent = AGENTS[rng.randrange(len(AGENTS))] if roll > 0.95 else agent
            else:
                ip = rng.choice(SPRAY_IPS)
            ctx = SignInContext(
                correlation_id=f"bench-{index}",
                time=now + timedelta(milliseconds=100 * index),
                ip=ip,
                user_agent=agent,
                client_id="bench-app",
                username=name,
                user_id=user_id,
                kind=SignInKind.PASSWORD,
                password_valid=True,
                device_id=f"dev-{name[4:]}" if roll < 0.95 else None,
            )
            # A request has its connection by the time it evaluates (it loaded the user).
            db.session.connection()
            begin = time.perf_counter()
            result = engine.evaluate(ctx)
            timings.append((time.perf_counter() - begin) * 1000)
            db.session.remove()
            if result.degraded:
                raise SystemExit(f"a detector failed: {result.not_evaluated}")
            levels[result.sign_in_risk_level] = levels.get(result.sign_in_risk_level, 0) + 1
            for event in result.risk_event_types:
                events[event] = events.get(event, 0) + 1
    timings.sort()
    # The cores may be shared; the load average says whether the figures are trustworthy.
    print("load average (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    print(
        f"evaluate() x {evaluations:,} on PostgreSQL: p50 {percentile(timings, 0.50):.3f} ms, "
        f"p99 {percentile(timings, 0.99):.3f} ms, max {timings[-1]:.3f} ms, "
        f"mean {statistics.fmean(timings):.3f} ms"
    )
    print("levels: " + ", ".join(f"{lvl.value} {levels.get(lvl, 0):,}" for lvl in Level))
    print("detections: " + ", ".join(f"{k} {n:,}" for k, n in sorted(events.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--database-url",
        required=True,
        help="postgresql+psycopg://... (a private schema is created in it)",
    )
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--sign-ins", type=int, default=1_000_000)
    parser.add_argument("--evaluations", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        parser.error("--database-url must be a postgresql+psycopg:// URL")
    rng = random.Random(args.seed)

    print(f"python {platform.python_version()} on {cpu_model()}, nproc {os.cpu_count()}")
    schema = f"risk_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(args.database_url)
    with admin.begin() as conn:
        server = conn.scalar(sa.text("SHOW server_version"))
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    print(f"PostgreSQL {server}, schema {schema}")
    sep = "&" if "?" in args.database_url else "?"
    url = f"{args.database_url}{sep}options=-csearch_path%3D{schema}"
    try:
        started = time.perf_counter()
        upgrade(url)
        print(f"migrated in {time.perf_counter() - started:.1f} s")
        with tempfile.TemporaryDirectory() as folder:
            paths = build_databases(Path(folder), rng)
            with Feeds.load(RiskSettings.from_mapping(paths)) as feeds:
                geo = places(feeds)
            started = time.perf_counter()
            tables, habits = generate(args.users, args.sign_ins, geo, rng)
            print(
                f"generated {len(tables.sign_ins):,} sign-in rows, {len(tables.users):,} "
                f"users, {len(tables.features):,} features in "
                f"{time.perf_counter() - started:.1f} s"
            )
            started = time.perf_counter()
            load(url, tables)
            print(f"loaded in {time.perf_counter() - started:.1f} s")
            del tables
            app = create_app(demo_settings(folder, database_url=url, risk=paths))
            try:
                evaluate(app, habits, args.evaluations, rng)
            finally:
                with app.app_context():
                    db.engine.dispose()
    finally:
        if args.keep:
            print(f"kept schema {schema}: {url}")
        else:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            print(f"dropped schema {schema}")
        admin.dispose()


if __name__ == "__main__":
    main()
