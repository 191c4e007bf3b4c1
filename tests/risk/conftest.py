"""Shared fixtures: a frozen clock, mmdb files built with mmdb-writer, and sign-in helpers."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mmdb_writer import MmdbF64, MmdbU16, MmdbU32, MMDBWriter
from netaddr import IPSet

from risk.context import IpInfo, SignInContext, SignInKind
from risk.engine import Assessment, RiskEngine
from risk.feeds import Feeds
from risk.repository import InMemoryHistoryRepository
from risk.settings import RiskSettings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"

# network -> (city, region, country, latitude, longitude, radius km, asn, asn org)
CITIES: dict[str, tuple[str, str, str, float, float, int, int, str]] = {
    "81.2.69.0/24": ("London", "England", "GB", 51.5142, -0.0931, 10, 20712, "Andrews & Arnold"),
    "2.125.160.0/24": ("Boxford", "England", "GB", 51.75, -1.25, 100, 5607, "Sky UK"),
    "89.160.20.0/24": ("Linköping", "Östergötland", "SE", 58.4167, 15.6167, 76, 29518, "Bredband2"),
    "175.16.199.0/24": ("Changchun", "Jilin", "CN", 43.88, 125.3228, 100, 4837, "China Unicom"),
    "216.160.83.0/24": ("Milton", "Washington", "US", 47.2513, -122.3149, 22, 209, "CenturyLink"),
    "2a02:8010::/32": ("London", "England", "GB", 51.5142, -0.0931, 50, 20712, "Andrews & Arnold"),
}
LONDON_IP = "81.2.69.142"
LONDON2_IP = "81.2.69.7"
BOXFORD_IP = "2.125.160.216"
LINKOPING_IP = "89.160.20.112"
CHANGCHUN_IP = "175.16.199.10"
MILTON_IP = "216.160.83.60"
LONDON_V6_IP = "2a02:8010::1"
NO_RECORD_IP = "8.8.4.4"
TOR_IP = "185.220.101.1"
VPN_IP = "1.2.3.4"


def _writer(database_type: str) -> MMDBWriter:
    return MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=database_type)


def build_city_db(path: Path) -> Path:
    """A GeoIP2-City-shaped database over CITIES."""
    writer = _writer("GeoLite2-City")
    for network, (city, region, country, lat, lon, radius, _, _) in CITIES.items():
        writer.insert_network(
            IPSet([network]),
            {
                "city": {"names": {"en": city}},
                "subdivisions": [{"names": {"en": region}}],
                "country": {"iso_code": country, "names": {"en": country}},
                "location": {
                    "latitude": MmdbF64(lat),
                    "longitude": MmdbF64(lon),
                    "accuracy_radius": MmdbU16(radius),
                },
            },
        )
    writer.to_db_file(str(path))
    return path


def build_asn_db(path: Path) -> Path:
    """A GeoLite2-ASN-shaped database over CITIES."""
    writer = _writer("GeoLite2-ASN")
    for network, (*_, asn, org) in CITIES.items():
        writer.insert_network(
            IPSet([network]),
            {"autonomous_system_number": MmdbU32(asn), "autonomous_system_organization": org},
        )
    writer.to_db_file(str(path))
    return path


def build_anonymous_db(path: Path) -> Path:
    """A GeoIP2-Anonymous-IP-shaped database: Tor exit, VPN and hosting provider ranges."""
    writer = _writer("GeoIP2-Anonymous-IP")
    writer.insert_network(
        IPSet(["185.220.101.0/24"]), {"is_anonymous": True, "is_tor_exit_node": True}
    )
    writer.insert_network(IPSet(["1.2.0.0/16"]), {"is_anonymous": True, "is_anonymous_vpn": True})
    # MaxMind marks hosting providers anonymous too.
    writer.insert_network(
        IPSet(["52.0.0.0/11"]), {"is_anonymous": True, "is_hosting_provider": True}
    )
    writer.to_db_file(str(path))
    return path


@pytest.fixture(scope="session")
def mmdb_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Paths of the three test databases, built once per session."""
    folder = tmp_path_factory.mktemp("mmdb")
    return {
        "geoip_city_db": str(build_city_db(folder / "city.mmdb")),
        "geoip_asn_db": str(build_asn_db(folder / "asn.mmdb")),
        "anonymous_ip_db": str(build_anonymous_db(folder / "anonymous.mmdb")),
    }


@pytest.fixture
def settings(mmdb_paths: dict[str, str]) -> RiskSettings:
    """Default settings with the three test databases configured."""
    return RiskSettings.from_mapping(mmdb_paths)


@pytest.fixture
def feeds(settings: RiskSettings) -> Iterator[Feeds]:
    """Feeds opened from `settings`, closed after the test."""
    with Feeds.load(settings) as loaded:
        yield loaded


class FrozenClock:
    """A clock that only moves when a test says so."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FrozenClock:
    """A frozen clock at T0."""
    return FrozenClock()


@pytest.fixture
def repo() -> InMemoryHistoryRepository:
    """An empty in-memory history."""
    return InMemoryHistoryRepository()


_ids = itertools.count(1)


def make_ctx(**overrides: Any) -> SignInContext:
    """A successful password sign-in by alice from London at T0, with `overrides` applied."""
    base = SignInContext(
        correlation_id=f"corr-{next(_ids)}",
        time=T0,
        ip=LONDON_IP,
        user_agent=CHROME_WINDOWS,
        client_id="app",
        username="alice",
        user_id="u-alice",
        kind=SignInKind.PASSWORD,
        password_valid=True,
        device_id="dev-alice",
    )
    return replace(base, **overrides)


def place(
    ip: str,
    lat: float | None,
    lon: float | None,
    radius: float | None = 0,
    country: str | None = "GB",
    city: str | None = "Somewhere",
    asn: int | None = 64500,
) -> IpInfo:
    """A pre-resolved IpInfo at exact coordinates, for threshold tests."""
    return IpInfo(
        ip=ip,
        country=country,
        city=city,
        latitude=lat,
        longitude=lon,
        accuracy_radius_km=radius,
        asn=asn,
    )


Signer = Callable[..., Assessment]


@pytest.fixture
def engine(
    settings: RiskSettings, feeds: Feeds, repo: InMemoryHistoryRepository, clock: FrozenClock
) -> RiskEngine:
    """An engine over the test feeds, an empty history and the frozen clock."""
    return RiskEngine(settings, feeds, repo, clock=clock)


def sign_in(engine: RiskEngine, succeeded: bool | None = None, **overrides: Any) -> Assessment:
    """Evaluate a context built by make_ctx(**overrides), then record it as idp/ would."""
    ctx = make_ctx(**overrides)
    assessment = engine.evaluate(ctx)
    if succeeded is None:
        succeeded = ctx.password_valid is not False and ctx.kind != SignInKind.MFA_FAILED
    engine.repository.record(ctx, assessment.ip_info, assessment, succeeded)
    return assessment


def types_of(assessment: Assessment) -> set[str]:
    """The riskEventType strings an assessment holds."""
    return set(assessment.risk_event_types)


def reasons_of(assessment: Assessment) -> dict[str, str]:
    """NotEvaluated reasons by detector name."""
    return {n.detector: n.reason for n in assessment.not_evaluated}
