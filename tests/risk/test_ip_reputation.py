from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from risk.engine import RiskEngine
from risk.feeds import Feeds
from risk.levels import Level
from risk.repository import InMemoryHistoryRepository
from risk.settings import RiskSettings
from risk.vocabulary import RiskEventType
from tests.risk.conftest import LONDON_IP, TOR_IP, VPN_IP, FrozenClock, make_ctx, types_of


@pytest.fixture
def listed_engine(settings: RiskSettings, tmp_path: Path, clock: FrozenClock) -> RiskEngine:
    lists = {
        "anonymous_ip_list": "# tor exits\n198.98.51.189\n",
        "malicious_ip_list": "45.9.148.0/24 ; botnet C2\n",
        "infected_ip_list": "91.92.0.0/16\n2a0e:1c80::/29\n",
    }
    paths = {}
    for key, text in lists.items():
        path = tmp_path / f"{key}.txt"
        path.write_text(text, encoding="utf-8")
        paths[key] = str(path)
    configured = replace(settings, **paths)
    return RiskEngine(configured, Feeds.load(configured), InMemoryHistoryRepository(), clock)


@pytest.mark.parametrize(
    ("ip", "event_type", "level", "evidence"),
    [
        (
            TOR_IP,
            "anonymizedIPAddress",
            Level.MEDIUM,
            {"source": "anonymous_ip_db", "flags": ["Tor exit node", "anonymous"]},
        ),
        (
            VPN_IP,
            "anonymizedIPAddress",
            Level.MEDIUM,
            {"source": "anonymous_ip_db", "flags": ["anonymous VPN", "anonymous"]},
        ),
        (
            "198.98.51.189",
            "anonymizedIPAddress",
            Level.MEDIUM,
            {"source": "anonymous_ip_list", "entry": "198.98.51.189/32"},
        ),
        (
            "45.9.148.7",
            "maliciousIPAddress",
            Level.MEDIUM,
            {"list": "malicious_ip_list", "entry": "45.9.148.0/24"},
        ),
        (
            "91.92.200.1",
            "malwareInfectedIPAddress",
            Level.LOW,
            {"list": "infected_ip_list", "entry": "91.92.0.0/16"},
        ),
        ("2a0e:1c87::5", "malwareInfectedIPAddress", Level.LOW, {"entry": "2a0e:1c80::/29"}),
    ],
    ids=["tor-db", "vpn-db", "anonymous-list", "malicious-list", "infected-list", "infected-ipv6"],
)
def test_listed_ip_fires_with_the_matched_entry(
    listed_engine: RiskEngine, ip: str, event_type: str, level: Level, evidence: dict[str, object]
) -> None:
    result = listed_engine.evaluate(make_ctx(ip=ip))
    (detection,) = [d for d in result.detections if d.risk_event_type == event_type]
    assert detection.level is level
    assert evidence.items() <= detection.evidence_dict.items()
    assert detection.evidence_dict["ip"] == ip
    assert ip in detection.describe()


@pytest.mark.parametrize(
    "ip",
    [LONDON_IP, "198.98.51.190", "45.9.149.0", "91.93.0.1"],
    ids=["clean", "next-to-listed-ip", "after-malicious-block", "after-infected-block"],
)
def test_unlisted_ip_does_not_fire(listed_engine: RiskEngine, ip: str) -> None:
    result = listed_engine.evaluate(make_ctx(ip=ip))
    reputation = {"anonymizedIPAddress", "maliciousIPAddress", "malwareInfectedIPAddress"}
    assert not types_of(result) & reputation


def test_hosting_provider_fires_at_its_own_configurable_level(listed_engine: RiskEngine) -> None:
    def hosting(level: Level) -> list[tuple[Level, dict[str, object]]]:
        settings = replace(listed_engine.settings, hosting_provider_level=level)
        engine = RiskEngine(settings, listed_engine.feeds, listed_engine.repository)
        result = engine.evaluate(make_ctx(ip="52.1.2.3"))
        return [
            (d.level, d.evidence_dict)
            for d in result.detections
            if d.risk_event_type == "anonymizedIPAddress"
        ]

    ((level, evidence),) = hosting(RiskSettings().hosting_provider_level)
    assert level is Level.LOW and evidence["flags"] == ["hosting provider"]
    assert hosting(Level.HIGH)[0][0] is Level.HIGH
    assert hosting(Level.NONE) == []


def test_levels_are_configurable(listed_engine: RiskEngine) -> None:
    settings = replace(
        listed_engine.settings, levels=((RiskEventType.MALICIOUS_IP_ADDRESS, Level.HIGH),)
    )
    engine = RiskEngine(settings, listed_engine.feeds, listed_engine.repository)
    result = engine.evaluate(make_ctx(ip="45.9.148.7"))
    assert result.sign_in_risk_level is Level.HIGH


def test_detectors_without_a_configured_list_do_not_run(engine: RiskEngine) -> None:
    names = {d.name for d in engine.detectors}
    assert "maliciousIPAddress" not in names and "leakedCredentials" not in names
    assert "anonymizedIPAddress" in names
