"""What replay knows about a row's IP: coordinates from a cities file or GeoIP, the device."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from risk.feeds import Feeds
from risk.levels import Level
from risk.replay import (
    CITY_ACCURACY_RADIUS_KM,
    CityCoordinates,
    ReplayError,
    ScoredRow,
    load_cities,
    replay,
    score_rows,
)
from risk.settings import RiskSettings
from tests.risk.conftest import CHANGCHUN_IP, LONDON_IP
from tests.risk.rba_log import entry, write_log

CITIES = """country,region,city,latitude,longitude
NO,Oslo,Oslo,59.9133,10.7389
AU,New South Wales,Sydney,-33.8688,151.2093
NO,,Bergen,60.3913,5.3221
US,Illinois,Springfield,39.7817,-89.6501
US,Missouri,Springfield,37.2153,-93.2982
SE,Stockholm County,Stockholm,59.3293,18.0686
"""
OSLO = (59.9133, 10.7389)


def cities_file(tmp_path: Path, text: str = CITIES) -> Path:
    path = tmp_path / "cities.csv"
    path.write_text(text, encoding="utf-8")
    return path


def trip() -> list[dict[str, str]]:
    """Oslo, then Sydney half an hour later."""
    return [
        entry(0, "u1", "84.208.1.1"),
        entry(
            30, "u1", "1.120.1.1", country="AU", region="New South Wales", city="Sydney", asn="1221"
        ),
    ]


@pytest.mark.parametrize(
    ("place", "found"),
    [
        (("NO", "Oslo", "Oslo"), OSLO),
        (("no", " oslo ", "OSLO"), OSLO),
        (("NO", "Viken", "Oslo"), OSLO),  # the region is wrong; Oslo is listed once
        (("NO", "Vestland", "Bergen"), (60.3913, 5.3221)),  # listed without a region
        (("NO", None, "Bergen"), (60.3913, 5.3221)),
        (("SE", "-", "Stockholm"), (59.3293, 18.0686)),
        (("US", "Missouri", "Springfield"), (37.2153, -93.2982)),
        (("US", "Ohio", "Springfield"), None),  # two Springfields: no guessing
        (("US", None, "Springfield"), None),
        (("DK", None, "Oslo"), None),
        (("NO", "Oslo", None), None),
        ((None, "Oslo", "Oslo"), None),
    ],
    ids=[
        "exact",
        "case-and-space",
        "other-region",
        "no-region-listed",
        "no-region-given",
        "dash-region",
        "ambiguous-exact",
        "ambiguous",
        "ambiguous-no-region",
        "other-country",
        "no-city",
        "no-country",
    ],
)
def test_places_match_by_region_then_by_city(
    tmp_path: Path,
    place: tuple[str | None, str | None, str | None],
    found: tuple[float, float] | None,
) -> None:
    cities = load_cities(cities_file(tmp_path))
    assert len(cities) == 6
    assert cities.find(*place) == found


def test_cities_give_coordinates_so_unlikely_travel_runs(tmp_path: Path) -> None:
    cities = load_cities(cities_file(tmp_path))
    without = list(score_rows(trip(), RiskSettings()))
    with_cities = list(score_rows(trip(), RiskSettings(), cities=cities))
    for row in without:
        assert "unlikelyTravel" in {n.detector for n in row.assessment.not_evaluated}
        assert not row.assessment.ip_info.has_location
    oslo, sydney = (row.assessment.ip_info for row in with_cities)
    assert (oslo.latitude, oslo.longitude, oslo.accuracy_radius_km) == (
        *OSLO,
        CITY_ACCURACY_RADIUS_KM,
    )
    assert (sydney.city, sydney.latitude, sydney.longitude) == ("Sydney", -33.8688, 151.2093)
    assert "unlikelyTravel" in with_cities[1].events
    assert "unlikelyTravel" not in without[1].events
    assert with_cities[1].level is Level.HIGH  # about 32,000 km/h


@pytest.mark.parametrize(
    ("radius_km", "travel"), [(25.0, False), (0.0, True)], ids=["city-radius", "no-radius"]
)
def test_the_city_radius_counts_against_the_distance(
    monkeypatch: pytest.MonkeyPatch, radius_km: float, travel: bool
) -> None:
    # Oslo to Lillehammer is 134 km: over the 100 km minimum, but not once both cities'
    # radii (25 km each) are taken off.
    monkeypatch.setattr("risk.replay.CITY_ACCURACY_RADIUS_KM", radius_km)
    lillehammer = (61.1153, 10.4662)
    cities = CityCoordinates({("NO", "", "Oslo"): OSLO, ("NO", "", "Lillehammer"): lillehammer})
    rows = [entry(0, "u1", "84.208.1.1"), entry(1, "u1", "84.208.9.9", city="Lillehammer")]
    scored = list(score_rows(rows, RiskSettings(), cities=cities))
    assert scored[1].assessment.ip_info.accuracy_radius_km == radius_km
    assert ("unlikelyTravel" in scored[1].events) is travel
    assert "unlikelyTravel" not in {n.detector for n in scored[1].assessment.not_evaluated}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("country,city,latitude,longitude\nNO,Oslo,59,10\n", "missing columns: region"),
        ("", "missing columns: country, region, city, latitude, longitude"),
        (
            "country,region,city,latitude,longitude\nNO,Oslo,Oslo,91,10\n",
            "line 2: latitude '91' is not a number from -90 to 90",
        ),
        (
            "country,region,city,latitude,longitude\nNO,Oslo,Oslo,59,east\n",
            "line 2: longitude 'east' is not a number from -180 to 180",
        ),
        (
            "country,region,city,latitude,longitude\nNO,Oslo,Oslo,nan,10\n",
            "line 2: latitude 'nan' is not a number",
        ),
        (
            "country,region,city,latitude,longitude\nNO,Oslo,Oslo,59,10\nNO,Oslo,Bergen,60\n",
            "line 3: missing fields: longitude",
        ),
        (
            "country,region,city,latitude,longitude\nNO,Oslo,,59,10\n",
            "line 2: country and city must not be empty",
        ),
        (
            "country,region,city,latitude,longitude\nNO,Oslo,Oslo,59,10\nNO,Oslo,oslo,60,10\n",
            "line 3: no, oslo, oslo is listed on line 2 with other coordinates",
        ),
    ],
    ids=[
        "missing-column",
        "empty-file",
        "latitude-range",
        "longitude-text",
        "nan",
        "short-row",
        "empty-city",
        "conflicting-duplicate",
    ],
)
def test_a_bad_cities_file_is_one_line_naming_file_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = cities_file(tmp_path, text)
    with pytest.raises(ReplayError) as caught:
        load_cities(path)
    assert str(caught.value).startswith(f"{path}: {message}")
    assert "\n" not in str(caught.value)


def test_a_repeated_place_with_the_same_coordinates_is_fine(tmp_path: Path) -> None:
    path = cities_file(tmp_path, CITIES + "NO,Oslo,Oslo,59.9133,10.7389\n")
    assert load_cities(path).find("NO", "Oslo", "Oslo") == OSLO


def test_an_unreadable_cities_file_is_a_replay_error(tmp_path: Path) -> None:
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\x85\xff\x00binary")
    with pytest.raises(ReplayError, match=f"^{binary}: not a readable UTF-8 CSV file"):
        load_cities(binary)
    with pytest.raises(ReplayError, match=f"^{tmp_path / 'absent.csv'}: No such file"):
        load_cities(tmp_path / "absent.csv")


def test_replay_reads_the_cities_file_before_the_log(tmp_path: Path) -> None:
    log = write_log(tmp_path / "log.csv", trip())
    report = replay(log, RiskSettings(), cities=cities_file(tmp_path))
    assert dict(report.detection_counts)["unlikelyTravel"] == 1
    # Only Oslo's first sign-in, with nothing before it, cannot be judged.
    assert dict(report.not_evaluated_counts)["unlikelyTravel"] == 1
    with pytest.raises(ReplayError, match="line 2: latitude"):
        replay(
            tmp_path / "absent.csv",
            RiskSettings(),
            cities=cities_file(tmp_path, "country,region,city,latitude,longitude\nNO,,A,x,1\n"),
        )


def geo_rows() -> list[dict[str, str]]:
    return [
        # The CSV's place and ASN stay; GeoIP adds the coordinates.
        entry(0, "u1", LONDON_IP, country="GB", region="-", city="Camden", asn="2856"),
        # Nothing in the CSV: GeoIP says it all.
        entry(1, "u2", LONDON_IP, country="", region="", city="", asn=""),
        # GeoIP places the IP in another country than the CSV: no coordinates.
        entry(2, "u3", LONDON_IP, country="NO", region="Oslo", city="Oslo"),
        entry(5, "u1", CHANGCHUN_IP, country="CN", region="Jilin", city="Changchun", asn="4837"),
    ]


def _infos(scored: list[ScoredRow]) -> list[tuple[object, ...]]:
    return [
        (
            i.country,
            i.region,
            i.city,
            i.latitude,
            i.longitude,
            i.accuracy_radius_km,
            i.asn,
            i.asn_org,
        )
        for i in (row.assessment.ip_info for row in scored)
    ]


def test_geoip_supplies_coordinates_and_keeps_the_csv_place(feeds: Feeds) -> None:
    scored = list(score_rows(geo_rows(), RiskSettings(), feeds))
    assert _infos(scored) == [
        ("GB", None, "Camden", 51.5142, -0.0931, 10.0, 2856, None),
        ("GB", "England", "London", 51.5142, -0.0931, 10.0, 20712, "Andrews & Arnold"),
        ("NO", "Oslo", "Oslo", None, None, None, 2119, None),
        ("CN", "Jilin", "Changchun", 43.88, 125.3228, 100.0, 4837, "China Unicom"),
    ]
    assert "unlikelyTravel" in scored[3].events
    assert scored[3].level is Level.HIGH


def test_cities_come_before_geoip(tmp_path: Path, feeds: Feeds) -> None:
    cities = CityCoordinates({("GB", "", "Camden"): (51.54, -0.14)})
    scored = list(score_rows(geo_rows()[:1], RiskSettings(), feeds, cities=cities))
    info = scored[0].assessment.ip_info
    assert (info.latitude, info.longitude, info.accuracy_radius_km) == (
        51.54,
        -0.14,
        CITY_ACCURACY_RADIUS_KM,
    )


def test_replay_opens_the_configured_geoip_database(tmp_path: Path, settings: RiskSettings) -> None:
    log = write_log(tmp_path / "log.csv", geo_rows())
    report = replay(log, settings)
    assert dict(report.detection_counts)["unlikelyTravel"] == 1
    assert replay(log, RiskSettings()).not_evaluated_counts[-1] == ("unlikelyTravel", 4)


@pytest.mark.parametrize(
    ("devices", "expected"),
    [
        (["d-1", " d-1 "], [("device", "d-1"), ("device", "d-1")]),
        (["d-1", ""], [("device", "d-1"), None]),
        (None, [None, None]),
    ],
    ids=["column", "empty-value", "no-column"],
)
def test_the_device_id_column_is_the_device_cookie(
    tmp_path: Path, devices: list[str] | None, expected: list[tuple[str, str] | None]
) -> None:
    rows = [entry(0, "u1", "84.208.1.1"), entry(1, "u1", "84.208.1.1")]
    if devices is not None:
        rows = [
            dict(row, **{"Device ID": device}) for row, device in zip(rows, devices, strict=True)
        ]
    log = write_log(tmp_path / "log.csv", rows)
    with log.open(newline="", encoding="utf-8") as handle:
        scored = list(score_rows(csv.DictReader(handle), RiskSettings()))
    found = [next((f for f in row.assessment.features if f[0] == "device"), None) for row in scored]
    assert found == expected
