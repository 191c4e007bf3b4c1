from __future__ import annotations

import argparse
import csv
from pathlib import Path

import detection_eval as de
import pytest
import rba_synth

from risk.levels import Level
from risk.replay import RBA_COLUMNS, SECOND_FACTOR_COLUMN

# (successful, attack IP, takeover, kind, episode, level the engine gave)
TINY = [
    (True, False, False, "", "", "none"),  # 1 legitimate
    (True, False, False, "", "", "medium"),  # 2 legitimate, stepped up at low+ and medium+
    (False, False, False, "", "", "high"),  # 3 a typo: not counted anywhere
    (False, True, False, "naive", "", "high"),  # 4 an attacker's failed try before E1
    (True, True, True, "naive", "E1", "low"),  # 5 E1's first login: caught at low+ only
    (True, True, True, "naive", "E1", "high"),  # 6 E1 again: too late to count
    (False, True, False, "stuffing", "", "medium"),  # 7 stuffing, flagged at low+, medium+
    (False, True, False, "stuffing", "", "none"),  # 8 stuffing, missed
    (True, True, True, "targeted", "E2", "high"),  # 9 E2's first login: caught everywhere
    (True, False, False, "", "", "none"),  # 10 legitimate
    (True, True, True, "vpn", "E3", "none"),  # 11 E3's first login: missed
    (True, True, True, "vpn", "E3", "high"),  # 12 E3 again: too late
]


def tiny_rows() -> list[dict[str, str]]:
    return [
        {
            "Login Successful": str(ok),
            "Is Attack IP": str(attack),
            "Is Account Takeover": str(takeover),
            "Attack Kind": kind,
            "Episode": episode,
        }
        for ok, attack, takeover, kind, episode, _ in TINY
    ]


def write_levels(path: Path, levels: list[str]) -> Path:
    lines = ["row,level,events", *(f"{n},{level}," for n, level in enumerate(levels, start=1))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_labels_keep_each_episodes_first_successful_login() -> None:
    labels = de.read_labels(tiny_rows())
    assert labels.rows == 12
    assert labels.legitimate == (0, 1, 9)
    assert labels.stuffing_failed == (6, 7)
    assert labels.episodes == (("E1", "naive", 4), ("E2", "targeted", 8), ("E3", "vpn", 10))


def test_metrics_on_a_hand_made_levels_file(tmp_path: Path) -> None:
    labels = de.read_labels(tiny_rows())
    path = write_levels(tmp_path / "levels.csv", [level for *_, level in TINY])
    low, medium, high = de.evaluate_levels(labels, de.read_levels(path, labels.rows))
    assert (low.level, medium.level, high.level) == (Level.LOW, Level.MEDIUM, Level.HIGH)
    assert low.legitimate == de.Rate(1, 3) and medium.legitimate == de.Rate(1, 3)
    assert high.legitimate == de.Rate(0, 3)
    assert low.episodes == de.Rate(2, 3)
    assert medium.episodes == high.episodes == de.Rate(1, 3)
    assert dict(low.by_kind) == {
        "naive": de.Rate(1, 1),
        "vpn": de.Rate(0, 1),
        "targeted": de.Rate(1, 1),
    }
    assert dict(medium.by_kind) == {
        "naive": de.Rate(0, 1),
        "vpn": de.Rate(0, 1),
        "targeted": de.Rate(1, 1),
    }
    assert low.stuffing_flagged == medium.stuffing_flagged == de.Rate(1, 2)
    assert high.stuffing_flagged == de.Rate(0, 2)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("row,level\n1,none\n", "header must be row,level,events"),
        ("row,level,events\n1,none,\n3,none,\n", "expected row 2, got 3"),
        ("row,level,events\n1,severe,\n", "must be one of none, low, medium, high"),
        ("row,level,events\n1,none,\n", "1 rows, the log has 2"),
    ],
    ids=["header", "skipped-row", "unknown-level", "too-short"],
)
def test_unusable_levels_files_are_refused(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "levels.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(de.EvalError, match=message):
        de.read_levels(path, 2)


def test_freeman_threshold_matches_the_legitimate_rate_exactly() -> None:
    labels = de.read_labels(tiny_rows())
    scores = [0.0] * 12
    scores[0], scores[1], scores[9] = 1.0, 3.0, 3.0  # two legitimate logins tie at the top
    scores[4], scores[8], scores[10] = 5.0, 3.0, 2.0  # E1 above, E2 tied, E3 below
    result = de.freeman_at_rate(labels, scores, stepped_up=1)
    assert result.threshold == 3.0
    assert result.legitimate == de.Rate(1.0, 3)  # each tied legitimate login half the time
    assert result.episodes == de.Rate(1.5, 3)
    assert dict(result.by_kind) == {
        "naive": de.Rate(1.0, 1),
        "vpn": de.Rate(0.0, 1),
        "targeted": de.Rate(0.5, 1),
    }
    none = de.freeman_at_rate(labels, scores, stepped_up=0)
    assert none.legitimate == de.Rate(0.0, 3) and none.episodes == de.Rate(1.0, 3)


def result_with(episodes: int, targeted: int, legitimate: int, freeman: float) -> de.DatasetResult:
    """A dataset result out of 100 episodes (10 targeted) and 10,000 legitimate logins."""
    medium = de.LevelResult(
        Level.MEDIUM,
        de.Rate(legitimate, 10_000),
        de.Rate(episodes, 100),
        (("naive", de.Rate(0, 45)), ("vpn", de.Rate(0, 45)), ("targeted", de.Rate(targeted, 10))),
        de.Rate(0, 0),
    )
    baseline = de.FreemanResult(0.0, de.Rate(legitimate, 10_000), de.Rate(freeman, 100), ())
    return de.DatasetResult("seed 1", 10_100, (medium,), baseline, 1.0, 1.0)


@pytest.mark.parametrize(
    ("result", "verdicts"),
    [
        (result_with(90, 8, 30, 89.5), (True, True, True, True)),
        (result_with(89, 7, 31, 89.0), (False, False, False, False)),
    ],
    ids=["on-each-threshold", "just-past-each-threshold"],
)
def test_targets_are_checked_on_both_sides(
    result: de.DatasetResult, verdicts: tuple[bool, ...]
) -> None:
    assert tuple(ok for _, ok in de.targets(result)) == verdicts


def test_the_engine_sees_no_labels(tmp_path: Path, sample_path: Path) -> None:
    copy = tmp_path / "copy.csv"
    count = de.engine_copy(sample_path, copy)
    with open(copy, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == [*RBA_COLUMNS, rba_synth.DEVICE_COLUMN]
    assert count == len(rows) > 0
    assert (
        {r["Is Attack IP"] for r in rows} == {r["Is Account Takeover"] for r in rows} == {"False"}
    )


def test_with_second_factor_only_the_owner_answers_a_step_up(
    tmp_path: Path, sample_path: Path, sample_rows: list[dict[str, str]]
) -> None:
    copy = tmp_path / "copy.csv"
    de.engine_copy(sample_path, copy, second_factor=True)
    with open(copy, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == [*RBA_COLUMNS, rba_synth.DEVICE_COLUMN, SECOND_FACTOR_COLUMN]
    owners = [
        r["Is Attack IP"] == r["Is Account Takeover"] == "False" and not r["Attack Kind"]
        for r in sample_rows
    ]
    assert True in owners and False in owners
    assert [r[SECOND_FACTOR_COLUMN] for r in rows] == [str(owner) for owner in owners]
    assert (
        {r["Is Attack IP"] for r in rows} == {r["Is Account Takeover"] for r in rows} == {"False"}
    )


def test_the_replay_cli_writes_one_level_per_row(tmp_path: Path, sample_path: Path) -> None:
    copy, levels = tmp_path / "copy.csv", tmp_path / "levels.csv"
    rows = de.engine_copy(sample_path, copy)
    config = tmp_path / "risk.toml"
    config.write_text("[risk]\n", encoding="utf-8")
    assert de.run_replay(copy, config, levels) > 0
    assert len(de.read_levels(levels, rows)) == rows
    # --cities reaches the replay: the generator's file is read, a missing one refused.
    cities = tmp_path / "cities.csv"
    with open(cities, "w", newline="", encoding="utf-8") as handle:
        rba_synth.write_cities(handle)
    assert de.run_replay(copy, config, levels, cities) > 0
    assert len(de.read_levels(levels, rows)) == rows
    with pytest.raises(de.EvalError, match="nowhere.csv"):
        de.run_replay(copy, config, levels, tmp_path / "nowhere.csv")


@pytest.mark.parametrize(
    ("option", "message"),
    [(["--per-user", "0"], "per user"), (["--days", "3"], "days"), (["--logins", "5"], "logins")],
)
def test_a_log_the_generator_cannot_make_is_refused_up_front(
    option: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        de.main(["--seeds", "1", *option])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_the_held_out_seed_needs_holdout(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        de.main(["--seeds", f"1,{de.HOLDOUT_SEED}"])
    assert "held out" in capsys.readouterr().err


def test_one_pass_gives_labels_and_a_freeman_score_per_row(
    sample_path: Path, sample_rows: list[dict[str, str]]
) -> None:
    labels, scores, seconds = de.labels_and_scores(sample_path)
    assert labels == de.read_labels(sample_rows)
    assert len(scores) == labels.rows == len(sample_rows)
    assert seconds > 0


def test_the_report_prints_each_datasets_population_statistics() -> None:
    stats = rba_synth.PopulationStats(10_000, 8_500, 30, 10, 25, 9)
    result = de.DatasetResult(
        "seed 1 (calm)",
        10_100,
        result_with(90, 8, 30, 89.5).levels,
        result_with(90, 8, 30, 89.5).freeman,
        1.0,
        1.0,
        stats,
    )
    assert de.format_results([result]).splitlines()[-1] == (
        "seed 1 (calm) population: 10,000 legitimate sign-ins, 85.0% past learning; with a new "
        "network 0.30% (in a familiar city 0.10%); with 2+ new properties 0.25%; with 4+ 0.09%"
    )


def test_a_log_of_another_shape_is_cached_and_named_apart(tmp_path: Path) -> None:
    """A robustness run (`--days`, `--per-user`) never reuses the default log's cache, and
    its rows say what differs."""
    default = de.dataset(tmp_path, 1, 400, "calm", False)
    other = de.dataset(tmp_path, 1, 400, "calm", False, days=120, per_user=20)
    assert default != other and default.exists() and other.exists()
    assert default.read_bytes() != other.read_bytes()
    args = argparse.Namespace(
        variant="calm", device_ids=True, second_factor=False, cities=False, days=120, per_user=20.0
    )
    assert de._describe(args) == ["calm", "device IDs", "120 days", "20 logins per user"]
    args.cities = True
    assert de._describe(args)[:3] == ["calm", "device IDs", "cities file"]
