from __future__ import annotations

from pathlib import Path

import pytest

from risk.levels import Level
from risk.replay import RBA_COLUMNS, ReplayError, ThresholdResult, format_report, replay
from risk.settings import RiskSettings
from tests.risk import make_rba_sample

SAMPLE = Path(__file__).with_name("data") / "rba_sample.csv"


def test_sample_is_what_the_committed_script_generates() -> None:
    assert SAMPLE.read_text(encoding="utf-8") == make_rba_sample.render()
    assert SAMPLE.read_text(encoding="utf-8").splitlines()[0] == ",".join(RBA_COLUMNS)


def test_replay_of_the_sample_reports_recall_and_false_positives() -> None:
    report = replay(SAMPLE, RiskSettings())
    assert (report.rows, report.takeovers, report.attack_ip_logins) == (605, 14, 42)
    assert report.legitimate_logins == 525
    assert report.thresholds == (
        ThresholdResult(Level.LOW, 14, 42, 5),
        ThresholdResult(Level.MEDIUM, 14, 42, 5),
        ThresholdResult(Level.HIGH, 10, 35, 0),
    )
    assert dict(report.detection_counts)["passwordSpray"] == 2
    assert dict(report.not_evaluated_counts)["unlikelyTravel"] == 605


def test_stricter_learning_changes_the_outcome() -> None:
    report = replay(SAMPLE, RiskSettings(learning_min_sign_ins=1000))
    assert "unfamiliarFeatures" not in dict(report.detection_counts)
    assert report.at(Level.MEDIUM).takeovers_caught < 14


def test_format_report_prints_a_table() -> None:
    text = format_report(replay(SAMPLE, RiskSettings()))
    lines = text.splitlines()
    assert lines[0] == (
        "605 sign-ins replayed: 14 account takeovers, 42 from attack IPs, 525 legitimate successful"
    )
    assert lines[3].split() == ["low+", "14", "100.0%", "42", "100.0%", "5", "1.0%"]
    assert lines[5].split() == ["high+", "10", "71.4%", "35", "83.3%", "0", "0.0%"]


HEADER = ",".join(RBA_COLUMNS)


def row(ok: str = "True", ip: str = "84.208.1.2", time: str = "2024-01-01 07:00:00.000") -> str:
    return f"{time},1,{ip},NO,Oslo,Oslo,2119,UA,Chrome,Windows,desktop,{ok},False,False"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("User ID,IP Address\n1,84.208.1.2\n", "missing columns: Login Timestamp, Country"),
        (f"{HEADER}\n{row(ok='maybe')}\n", "line 2: Login Successful must be True or False"),
        (f"{HEADER}\n{row(ip='nowhere')}\n", "line 2: 'nowhere' is not an IP"),
        (f"{HEADER}\n{row(time='yesterday')}\n", "line 2: Login Timestamp 'yesterday' is not"),
        (
            f"{HEADER}\n{row()}\n{row(time='2024-01-01 06:00:00')}\n",
            "line 3: rows must be ordered by Login Timestamp",
        ),
    ],
    ids=["missing-columns", "bad-flag", "bad-ip", "bad-time", "out-of-order"],
)
def test_malformed_files_are_reported_with_the_line(
    tmp_path: Path, body: str, message: str
) -> None:
    path = tmp_path / "log.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ReplayError) as caught:
        replay(path, RiskSettings())
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_missing_file_is_a_replay_error(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="No such file or directory"):
        replay(tmp_path / "absent.csv", RiskSettings())
