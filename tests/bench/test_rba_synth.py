from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import rba_synth

from risk.geo import distance_km
from risk.replay import RBA_COLUMNS, load_cities
from risk.useragent import parse_user_agent
from tests.bench.conftest import LOGINS, SEED

STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$")
BROWSER_FAMILIES = {
    "Chrome": "Chrome",
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Chrome Mobile WebView": "Chrome",
    "HeadlessChrome": "Chrome",
    "Edge": "Edge",
    "Firefox": "Firefox",
    "Firefox Mobile": "Firefox",
    "Safari": "Safari",
    "Mobile Safari": "Safari",
    "Samsung Internet": "Samsung Internet",
    "Mobile Safari UI/WKWebView": "Other",
}
OS_FAMILIES = {
    "Windows": "Windows",
    "Mac OS X": "macOS",
    "iOS": "iOS",
    "Android": "Android",
    "Linux": "Linux",
    "Ubuntu": "Linux",
    "Chrome OS": "ChromeOS",
    "Other": "Other",
}


def family(text: str) -> str:
    """The name part of "Name 1.2.3" (names may contain spaces)."""
    name, _, version = text.rpartition(" ")
    return name if name and version[:1].isdigit() else text


def legit(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in rows if r["Login Successful"] == "True" and r["Is Attack IP"] == "False"]


def test_same_seed_same_file_and_other_seed_another(tmp_path: Path) -> None:
    paths = [tmp_path / name for name in ("a.csv", "b.csv", "c.csv")]
    for path, seed in zip(paths, (SEED, SEED, SEED + 1), strict=True):
        rba_synth.generate(path, seed, 1500)
    first, second, other = (path.read_bytes() for path in paths)
    assert first == second
    assert first != other


def test_columns_formats_and_order(sample_path: Path, sample_rows: list[dict[str, str]]) -> None:
    header = sample_path.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header == [*RBA_COLUMNS, "Attack Kind", "Episode", "Device ID"]
    assert abs(len(sample_rows) - LOGINS) < LOGINS * 0.1
    stamps = [r["Login Timestamp"] for r in sample_rows]
    assert all(STAMP.match(s) for s in stamps)
    assert stamps == sorted(stamps)
    for column in ("Login Successful", "Is Attack IP", "Is Account Takeover"):
        assert {r[column] for r in sample_rows} == {"True", "False"}
    assert {r["Attack Kind"] for r in sample_rows} == {"", "naive", "vpn", "targeted", "stuffing"}
    assert all(r["ASN"].isdigit() and r["User ID"].lstrip("-").isdigit() for r in sample_rows)


def test_without_device_ids_there_is_no_device_column(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    rba_synth.generate(path, SEED, 500)
    assert path.read_text(encoding="utf-8").splitlines()[0].split(",") == [
        *RBA_COLUMNS,
        "Attack Kind",
        "Episode",
    ]


def test_every_attacker_kind_is_present_and_labelled(sample_rows: list[dict[str, str]]) -> None:
    first_kind: dict[str, str] = {}
    for row in sample_rows:
        attacker = row["Attack Kind"] != ""
        assert (row["Is Attack IP"] == "True") == attacker
        takeover = row["Is Account Takeover"] == "True"
        assert takeover == (attacker and row["Login Successful"] == "True")
        assert (row["Episode"] != "") == takeover
        if takeover:
            first_kind.setdefault(row["Episode"], row["Attack Kind"])
    kinds = Counter(first_kind.values())
    assert set(kinds) == {"naive", "vpn", "targeted"}
    assert min(kinds.values()) >= 3
    stuffing = [r for r in sample_rows if r["Attack Kind"] == "stuffing"]
    assert len(stuffing) > 50
    assert all(r["Login Successful"] == "False" for r in stuffing)


def test_targeted_rows_copy_the_victim_from_a_new_network(
    sample_rows: list[dict[str, str]],
) -> None:
    history: dict[str, list[dict[str, str]]] = defaultdict(list)
    checked = 0
    for row in sample_rows:
        if row["Attack Kind"] == "targeted" and row["Is Account Takeover"] == "True":
            before = history[row["User ID"]]
            assert before, "a victim has signed in before"
            places = {(r["Country"], r["Region"], r["City"]) for r in before}
            agents = {(r["Browser Name and Version"], r["OS Name and Version"]) for r in before}
            assert (row["Country"], row["Region"], row["City"]) in places
            assert (row["Browser Name and Version"], row["OS Name and Version"]) in agents
            assert row["User Agent String"] in {r["User Agent String"] for r in before}
            assert row["ASN"] not in {r["ASN"] for r in before}
            checked += 1
        elif row["Login Successful"] == "True" and row["Is Attack IP"] == "False":
            history[row["User ID"]].append(row)
    assert checked >= 3


def test_vpn_takeovers_come_from_the_victims_country(sample_rows: list[dict[str, str]]) -> None:
    countries: dict[str, Counter[str]] = defaultdict(Counter)
    for row in legit(sample_rows):
        countries[row["User ID"]][row["Country"]] += 1
    vpn = [r for r in sample_rows if r["Attack Kind"] == "vpn" and r["Episode"]]
    assert vpn
    assert all(r["Country"] in countries[r["User ID"]] for r in vpn)


def test_user_agents_name_the_families_in_their_columns(
    sample_rows: list[dict[str, str]],
) -> None:
    for row in sample_rows:
        agent = parse_user_agent(row["User Agent String"])
        browser = family(row["Browser Name and Version"])
        if browser in BROWSER_FAMILIES:
            assert agent.browser_family == BROWSER_FAMILIES[browser], row
        else:  # scripts and HTTP libraries used by credential stuffing
            assert row["Device Type"] == "bot" and agent.browser_family == "Other", row
        assert agent.os_family == OS_FAMILIES[family(row["OS Name and Version"])], row


def test_a_slash_24_has_one_asn_and_one_location(sample_rows: list[dict[str, str]]) -> None:
    blocks: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for row in sample_rows:
        prefix = row["IP Address"].rsplit(".", 1)[0]
        blocks[prefix].add((row["ASN"], row["Country"], row["Region"], row["City"]))
    assert all(len(found) == 1 for found in blocks.values())


def test_browsers_upgrade_over_the_year(sample_rows: list[dict[str, str]]) -> None:
    def newest(month: str) -> int:
        return max(
            int(r["Browser Name and Version"].rpartition(" ")[2].split(".")[0])
            for r in legit(sample_rows)
            if family(r["Browser Name and Version"]) == "Chrome"
            and r["Login Timestamp"].startswith(month)
        )

    assert newest("2024-12") >= newest("2024-01") + 9


def test_device_ids_are_mostly_present_and_never_the_victims(
    sample_rows: list[dict[str, str]],
) -> None:
    owners = legit(sample_rows)
    empty = sum(1 for r in owners if not r["Device ID"]) / len(owners)
    assert 0.02 < empty < 0.10
    cookies = {r["Device ID"] for r in owners if r["Device ID"]}
    attackers = [r for r in sample_rows if r["Is Attack IP"] == "True" and r["Device ID"]]
    assert attackers
    assert not any(r["Device ID"] in cookies for r in attackers)


@pytest.mark.parametrize(
    ("logins", "variant", "days", "per_user", "message"),
    [
        (10, "standard", 365, 65, "logins"),
        (1000, "easy", 365, 65, "variant"),
        (1000, "hard", 3, 65, "days"),
        (1000, "calm", 365, 1, "per user"),
        (1000, "calm", 365, float("nan"), "per user"),
    ],
    ids=["too-few-logins", "unknown-variant", "too-few-days", "one-per-user", "nan-per-user"],
)
def test_bad_parameters_are_refused(
    logins: int, variant: str, days: int, per_user: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        rba_synth.Generator(1, logins, variant, days=days, per_user=per_user)


def test_fewer_logins_per_user_means_more_people(tmp_path: Path) -> None:
    """`--per-user` shapes the organisation: the same volume from more, less known people."""
    people = {}
    for per_user in (20, 80):
        path = tmp_path / f"{per_user}.csv"
        rba_synth.generate(path, SEED, 20_000, variant="calm", per_user=per_user)
        with open(path, newline="", encoding="utf-8") as handle:
            legit = [r for r in csv.DictReader(handle) if r["Is Attack IP"] == "False"]
        people[per_user] = len({r["User ID"] for r in legit})
        assert 18_000 < len(legit) < 19_500
    assert people[20] > 3 * people[80]


@pytest.mark.parametrize("variant", sorted(rba_synth.COPYING_VPN))
def test_hard_variants_vpn_attackers_copy_the_victims_agent(tmp_path: Path, variant: str) -> None:
    path = tmp_path / f"{variant}.csv"
    rba_synth.generate(path, SEED, 3000, variant=variant)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    agents: dict[str, set[str]] = defaultdict(set)
    vpn = 0
    for row in rows:
        if row["Attack Kind"] == "vpn" and row["Episode"]:
            assert row["User Agent String"] in agents[row["User ID"]]
            vpn += 1
        elif row["Login Successful"] == "True" and row["Is Attack IP"] == "False":
            agents[row["User ID"]].add(row["User Agent String"])
    assert vpn >= 3


def stats_row(
    when: str, user: str, ip: str, city: str, asn: str, agent: str = "", attack: bool = False
) -> dict[str, str]:
    agent = agent or (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
    )
    return {
        "Login Timestamp": f"{when} 09:00:00.000",
        "User ID": user,
        "IP Address": ip,
        "Country": "NO",
        "City": city,
        "ASN": asn,
        "User Agent String": agent,
        "Login Successful": "True",
        "Is Attack IP": str(attack),
        "Is Account Takeover": str(attack),
    }


def test_population_stats_count_like_the_old_count_based_engine() -> None:
    rows = [
        stats_row(f"2024-01-{day:02d}", "u", "84.208.1.7", "Oslo", "2119") for day in range(1, 11)
    ]
    rows += [
        # Ten sign-ins over nine days: still learning, so not counted.
        stats_row("2024-01-12", "u", "10.0.0.1", "Oslo", "64500"),
        # Past learning: a new network and its /24 in a familiar city (two new properties).
        stats_row("2024-01-20", "u", "10.0.1.1", "Oslo", "64501"),
        # A trip: country stays, city, network and /24 are new (three).
        stats_row("2024-01-21", "u", "10.0.2.1", "Bergen", "64502"),
        # An attacker's row is no legitimate sign-in, but the user's history learns it.
        stats_row("2024-01-22", "u", "10.0.3.1", "Oslo", "64503", attack=True),
    ]
    stats = rba_synth.population_stats(rows)
    assert stats == rba_synth.PopulationStats(
        legitimate=13,
        past_learning=2,
        new_network=2,
        new_network_familiar_city=1,
        two_new=2,
        four_new=0,
    )
    assert stats.describe() == (
        "13 legitimate sign-ins, 15.4% past learning; with a new network 15.38% (in a "
        "familiar city 7.69%); with 2+ new properties 15.38%; with 4+ 0.00%"
    )


def test_the_calm_variant_is_calmer(tmp_path: Path) -> None:
    paths = {variant: tmp_path / f"{variant}.csv" for variant in ("standard", "calm")}
    for variant, path in paths.items():
        rba_synth.generate(path, SEED, 20_000, variant=variant)
    standard, calm = (rba_synth.file_stats(path) for path in paths.values())
    assert calm.share(calm.two_new) < standard.share(standard.two_new) / 3
    assert calm.share(calm.new_network) < standard.share(standard.new_network) / 3


def _victims_past_learning(path: Path) -> list[tuple[str, bool]]:
    """(attack kind, whether the victim had 10 successful sign-ins over 14 days before it)
    for each takeover episode's first row."""
    history: dict[str, list[datetime]] = defaultdict(list)
    seen: set[str] = set()
    victims = []
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            when = datetime.fromisoformat(row["Login Timestamp"])
            if row["Is Account Takeover"] == "True" and row["Episode"] not in seen:
                seen.add(row["Episode"])
                earlier = history[row["User ID"]]
                past = len(earlier) >= 10 and when - earlier[0] >= timedelta(14)
                victims.append((row["Attack Kind"], past))
            elif row["Login Successful"] == "True" and row["Is Attack IP"] == "False":
                history[row["User ID"]].append(when)
    return victims


@pytest.mark.parametrize("share", [1.0, 0.0])
def test_the_calm_variant_draws_whether_a_victim_is_past_learning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, share: float
) -> None:
    """STUDIED_SHARE decides, for every attacker kind, stuffing hits included."""
    monkeypatch.setattr(rba_synth, "STUDIED_SHARE", dict.fromkeys(rba_synth.TAKEOVER_KINDS, share))
    path = tmp_path / "calm.csv"
    rba_synth.generate(path, SEED, 40_000, variant="calm")
    victims = _victims_past_learning(path)
    assert {kind for kind, _ in victims} == set(rba_synth.TAKEOVER_KINDS)
    assert all(past == (share == 1.0) for _, past in victims), victims


def test_the_standard_variant_draws_no_calm_factors() -> None:
    assert rba_synth.MOBILITY["standard"] == rba_synth.MOBILITY["hard"] == rba_synth.Mobility()
    assert "standard" not in rba_synth.STUDIED_VICTIMS


def test_the_calm_hard_variant_has_the_calm_variants_legitimate_sign_ins(tmp_path: Path) -> None:
    """Only the attackers differ: the same seed gives the same people signing in."""
    legitimate = {}
    for variant in ("calm", "calm-hard"):
        path = tmp_path / f"{variant}.csv"
        rba_synth.generate(path, SEED, 3000, variant=variant)
        with open(path, newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.DictReader(handle) if row["Is Attack IP"] == "False"]
        legitimate[variant] = rows
    assert len(legitimate["calm"]) > 2000
    assert legitimate["calm-hard"] == legitimate["calm"]


def test_the_cities_file_places_every_row_of_a_log(
    tmp_path: Path, sample_rows: list[dict[str, str]]
) -> None:
    """`--cities-out` writes coordinates for every city the generator uses, in the replay's
    cities format, so that unlikelyTravel can run on a generated log."""
    log, path = tmp_path / "log.csv", tmp_path / "cities.csv"
    assert (
        rba_synth.main([str(log), "--seed", "3", "--logins", "400", "--cities-out", str(path)]) == 0
    )
    cities = load_cities(path)
    places = {(r["Country"], r["Region"], r["City"]) for r in sample_rows if r["City"] != "-"}
    assert len(places) > 20
    for country, region, city in places:
        point = cities.find(country, region, city)
        assert point is not None, (country, region, city)
        assert -90 <= point[0] <= 90 and -180 <= point[1] <= 180
    with open(path, newline="", encoding="utf-8") as handle:
        listed = list(csv.DictReader(handle))
    assert len(listed) == sum(len(names) for _, _, names in rba_synth.GEOGRAPHY.values())
    oslo, bergen = (cities.find("NO", "", name) for name in ("Oslo", "Bergen"))
    assert oslo is not None and bergen is not None
    assert 290 < distance_km(*oslo, *bergen) < 320  # what a map says
