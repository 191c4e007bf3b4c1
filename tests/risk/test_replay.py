from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from risk.assessment import Assessment
from risk.levels import Level
from risk.replay import (
    LABEL_COLUMNS,
    RBA_COLUMNS,
    ReplayError,
    ScoredRow,
    ThresholdResult,
    format_report,
    replay,
    score_rows,
    tally,
)
from risk.settings import RiskSettings
from tests.risk import make_rba_sample
from tests.risk.rba_log import (
    ATTACKER,
    attack_log,
    entry,
    shared_network_log,
    trip_log,
    write_log,
)

SAMPLE = Path(__file__).with_name("data") / "rba_sample.csv"
EPISODES = "(one user's consecutive takeover sign-ins; caught if the first one is)"


def test_sample_is_what_the_committed_script_generates() -> None:
    assert SAMPLE.read_text(encoding="utf-8") == make_rba_sample.render()
    assert SAMPLE.read_text(encoding="utf-8").splitlines()[0] == ",".join(RBA_COLUMNS)


def test_replay_of_the_sample_reports_recall_and_false_positives() -> None:
    report = replay(SAMPLE, RiskSettings())
    assert (report.rows, report.takeovers, report.attack_ip_logins) == (605, 14, 42)
    assert report.legitimate_logins == 525
    assert report.thresholds == (
        ThresholdResult(Level.LOW, 14, 42, 2, 8, 40),
        # Attacks whose pattern takeovers rarely show weigh less (risk.novelty.ATTACKERS): the
        # takeover from Sao Paulo with the victim's own browser and OS is only low.
        ThresholdResult(Level.MEDIUM, 12, 38, 1, 7, 36),
        ThresholdResult(Level.HIGH, 12, 34, 1, 7, 32),
    )
    # Labels alone decide these: 6 planted takeovers and 2 cracked by the spray.
    assert (report.takeover_episodes, report.failed_attack_attempts) == (8, 40)
    assert dict(report.detection_counts)["passwordSpray"] == 2
    assert dict(report.not_evaluated_counts)["unlikelyTravel"] == 605


def test_stricter_learning_changes_the_outcome() -> None:
    report = replay(SAMPLE, RiskSettings(learning_min_sign_ins=1000))
    assert report.at(Level.MEDIUM).takeovers_caught == 2
    assert report.at(Level.LOW).takeovers_caught == 14


def test_format_report_prints_a_table() -> None:
    text = format_report(replay(SAMPLE, RiskSettings()))
    lines = text.splitlines()
    assert lines[0] == (
        "605 sign-ins replayed: 14 account takeovers, 42 from attack IPs, 525 legitimate successful"
    )
    assert lines[3].split() == ["low+", "14", "100.0%", "42", "100.0%", "2", "0.4%"]
    assert lines[5].split() == ["high+", "12", "85.7%", "34", "81.0%", "1", "0.2%"]
    assert lines[7:9] == [
        f"8 takeover episodes {EPISODES}",
        "40 failed sign-ins from attack IPs",
    ]
    assert lines[10].split() == [
        "step",
        "up",
        "at",
        "episodes",
        "caught",
        "failed",
        "attacks",
        "flagged",
    ]
    assert lines[13].split() == ["high+", "7", "87.5%", "32", "80.0%"]
    assert lines[-1].startswith("replay speed: 605 rows in ")
    assert max(len(line) for line in lines) <= 100


HEADER = ",".join(RBA_COLUMNS)


def row(
    ok: str = "True",
    ip: str = "84.208.1.2",
    time: str = "2024-01-01 07:00:00.000",
    asn: str = "2119",
) -> str:
    return f"{time},1,{ip},NO,Oslo,Oslo,{asn},UA,Chrome,Windows,desktop,{ok},False,False"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("User ID,IP Address\n1,84.208.1.2\n", "missing columns: Login Timestamp, Country"),
        (f"{HEADER}\n{row(ok='maybe')}\n", "line 2: Login Successful must be True or False"),
        (f"{HEADER}\n{row(ip='nowhere')}\n", "line 2: 'nowhere' is not an IP"),
        (f"{HEADER}\n{row(time='yesterday')}\n", "line 2: Login Timestamp 'yesterday' is not"),
        (f"{HEADER}\n{row(time='9' * 20)}\n", "line 2: Login Timestamp '99999999999999999999' is"),
        (f"{HEADER}\n{row(asn='inf')}\n", "line 2: ASN 'inf' is not an AS number"),
        (f"{HEADER}\n{row(asn='1e400')}\n", "line 2: ASN '1e400' is not an AS number"),
        (f"{HEADER}\n{row(asn='-5')}\n", "line 2: ASN '-5' is not an AS number"),
        (f"{HEADER}\n{row(asn='4294967296')}\n", "line 2: ASN '4294967296' is not an AS number"),
    ],
    ids=[
        "missing-columns",
        "bad-flag",
        "bad-ip",
        "bad-time",
        "time-past-any-calendar",
        "asn-infinite",
        "asn-overflowing",
        "asn-negative",
        "asn-past-32-bits",
    ],
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


@pytest.mark.parametrize(
    ("time", "asn"),
    [
        ("2024-01-01 07:00:00", "2119"),
        ("2024-01-01T08:00:00+01:00", "AS2119"),
        ("1704092400", "as2119"),
        ("1704092400000", "2119.0"),
    ],
    ids=["rba", "iso-offset-and-as-prefix", "epoch-seconds", "epoch-milliseconds-and-float"],
)
def test_other_common_spellings_of_a_time_and_an_as_number(time: str, asn: str) -> None:
    assessment = _assess_one(row(time=time, asn=asn))
    assert assessment.evaluated_at == datetime(2024, 1, 1, 7, tzinfo=UTC)
    assert assessment.ip_info.asn == 2119
    assert ("asn", "2119") in assessment.features


@pytest.mark.parametrize("asn", ["", "-"])
def test_an_unknown_as_number_leaves_the_network_out(asn: str) -> None:
    assessment = _assess_one(row(asn=asn))
    assert assessment.ip_info.asn is None
    assert not any(kind == "asn" for kind, _ in assessment.features)


def _assess_one(line: str) -> Assessment:
    """The engine's assessment of a log holding just `line`."""
    [scored] = score_rows(csv.DictReader(io.StringIO(f"{HEADER}\n{line}\n")), RiskSettings())
    return scored.assessment


def test_missing_file_is_a_replay_error(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="No such file or directory"):
        replay(tmp_path / "absent.csv", RiskSettings())


# attack_log(): rows 1-12 fail from one attack IP for 12 accounts; from the 11th on, the IP
# has failed for 10 accounts (suspiciousIPAddress, medium). Every right password from it
# after that is also passwordSpray (high). The rest is one home network and one country.
ATTACK_LEVELS = ["none"] * 10 + [
    "medium",
    "medium",
    "none",
    "high",
    "none",
    "high",
    "none",
    "none",
    "high",
    "high",
]
SPRAY = "passwordSpray;suspiciousIPAddress"
ATTACK_EVENTS = (
    [""] * 10 + ["suspiciousIPAddress"] * 2 + ["", SPRAY, "", SPRAY, "", "", SPRAY, SPRAY]
)


def test_every_row_is_scored_in_order() -> None:
    scored = list(score_rows(attack_log(), RiskSettings()))
    assert [s.row for s in scored] == list(range(1, 21))
    assert [s.level.value for s in scored] == ATTACK_LEVELS
    assert [";".join(sorted(s.events)) for s in scored] == ATTACK_EVENTS
    assert [s.user for s in scored[12:15]] == ["u1", "u2", "u1"]


def test_takeover_episodes_count_once_and_only_by_their_first_sign_in() -> None:
    report = tally(score_rows(attack_log(), RiskSettings()))
    assert (report.takeovers, report.takeover_episodes) == (4, 2)
    # Episode 2 starts unflagged; its flagged second sign-in does not make it caught.
    assert [r.episodes_caught for r in report.thresholds] == [1, 1, 1]
    assert [r.takeovers_caught for r in report.thresholds] == [3, 3, 3]


def test_failed_attack_attempts_are_counted_apart_from_takeovers() -> None:
    report = tally(score_rows(attack_log(), RiskSettings()))
    assert (report.attack_ip_logins, report.failed_attack_attempts) == (16, 12)
    assert [r.failed_attacks_flagged for r in report.thresholds] == [2, 2, 0]
    assert [r.attack_ip_caught for r in report.thresholds] == [6, 6, 4]
    assert report.legitimate_logins == 3
    assert [r.legitimate_stepped_up for r in report.thresholds] == [0, 0, 0]
    assert report.level_counts == (
        (Level.NONE, 14),
        (Level.LOW, 0),
        (Level.MEDIUM, 2),
        (Level.HIGH, 4),
    )


@pytest.mark.parametrize(
    ("labels", "episodes"),
    [
        ([True, True, True], 1),
        ([True, False, True], 2),
        ([False, True, False], 1),
        ([False, False, False], 0),
    ],
    ids=["one-run", "interrupted", "single", "none"],
)
def test_an_episode_ends_at_the_users_own_non_takeover_row(
    labels: list[bool], episodes: int
) -> None:
    log = attack_log()
    own = [log[13], log[15], log[16]]  # u2's rows, with u1's between the first two
    rows = log[12:13] + [
        dict(row, **{"Is Account Takeover": str(flag)})
        for row, flag in zip(own, labels, strict=True)
    ]
    rows.insert(2, log[14])
    assert tally(score_rows(rows, RiskSettings())).takeover_episodes == episodes


def test_levels_out_has_one_line_per_row_in_input_order(tmp_path: Path) -> None:
    log = write_log(tmp_path / "log.csv", attack_log())
    out = tmp_path / "levels.csv"
    report = replay(log, RiskSettings(), levels_out=out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "row,level,events"
    assert lines[1] == "1,none,"
    assert lines[11] == "11,medium,suspiciousIPAddress"
    table = list(csv.reader(lines[1:]))
    assert [int(row) for row, _, _ in table] == list(range(1, 21))
    assert [level for _, level, _ in table] == ATTACK_LEVELS
    assert [";".join(sorted(events.split(";"))) for _, _, events in table] == ATTACK_EVENTS
    assert report.rows == 20 and report.failed_attack_attempts == 12


def test_a_log_out_of_time_order_is_replayed_in_time_order(tmp_path: Path) -> None:
    # Rows merged from two sources: the same log with its rows in a shuffled order.
    rows = attack_log()
    order = list(range(len(rows)))
    random.Random(7).shuffle(order)
    ordered_out, shuffled_out = tmp_path / "ordered.csv", tmp_path / "shuffled.csv"
    ordered = replay(write_log(tmp_path / "a.csv", rows), RiskSettings(), levels_out=ordered_out)
    shuffled = replay(
        write_log(tmp_path / "b.csv", [rows[i] for i in order]),
        RiskSettings(),
        levels_out=shuffled_out,
    )
    earlier = sum(b < a for a, b in zip(order, order[1:], strict=False))
    assert (ordered.out_of_order, shuffled.out_of_order) == (0, earlier) and earlier > 0
    assert replace(shuffled, elapsed_seconds=0, out_of_order=0) == replace(
        ordered, elapsed_seconds=0
    )
    # --levels-out keeps the file's rows in the file's order, each with its own level.
    table = list(csv.reader(shuffled_out.read_text(encoding="utf-8").splitlines()[1:]))
    assert [int(number) for number, _, _ in table] == list(range(1, len(rows) + 1))
    assert [level for _, level, _ in table] == [ATTACK_LEVELS[i] for i in order]
    assert f"out of time order: {earlier} rows earlier than the row before them" in (
        format_report(shuffled)
    )
    assert "out of time order" not in format_report(ordered)


def test_scoring_a_stream_refuses_rows_out_of_order() -> None:
    rows = attack_log()
    rows[1], rows[2] = rows[2], rows[1]
    with pytest.raises(ReplayError, match="line 4: rows must be ordered by Login Timestamp"):
        list(score_rows(rows, RiskSettings()))


def test_a_bad_row_after_rows_out_of_order_is_named(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text(
        f"{HEADER}\n{row()}\n{row(time='2024-01-01 06:00:00')}\n{row(ip='nowhere')}\n",
        encoding="utf-8",
    )
    with pytest.raises(ReplayError, match="line 4: 'nowhere' is not an IP address"):
        replay(log, RiskSettings())


def test_levels_out_matches_the_report_of_the_same_pass(tmp_path: Path) -> None:
    out = tmp_path / "levels.csv"
    report = replay(SAMPLE, RiskSettings(), levels_out=out)
    with out.open(newline="", encoding="utf-8") as handle:
        levels = [row["level"] for row in csv.DictReader(handle)]
    assert len(levels) == report.rows == 605
    assert tuple((lvl, levels.count(lvl.value)) for lvl in Level) == report.level_counts


def _shuffled_labels(rows: list[dict[str, str]], seed: int) -> list[dict[str, str]]:
    shuffle = random.Random(seed)
    attack = [row["Is Attack IP"] for row in rows]
    takeover = [row["Is Account Takeover"] for row in rows]
    shuffle.shuffle(attack)
    shuffle.shuffle(takeover)
    return [
        dict(row, **{"Is Attack IP": a, "Is Account Takeover": t})
        for row, a, t in zip(rows, attack, takeover, strict=True)
    ]


def _levels(scored: list[ScoredRow]) -> list[tuple[int, str, tuple[str, ...]]]:
    return [(s.row, s.level.value, s.events) for s in scored]


def _sample_rows() -> list[dict[str, str]]:
    with SAMPLE.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("source", ["sample", "attack-log"])
def test_labels_never_change_a_level(source: str) -> None:
    rows = _sample_rows() if source == "sample" else attack_log()
    baseline = _levels(list(score_rows(rows, RiskSettings())))
    inverted = [
        dict(row, **{column: str(row[column] != "True") for column in LABEL_COLUMNS})
        for row in rows
    ]
    for relabelled in (inverted, _shuffled_labels(rows, 1), _shuffled_labels(rows, 2)):
        assert relabelled != rows
        assert _levels(list(score_rows(relabelled, RiskSettings()))) == baseline


def test_a_row_is_scored_before_any_later_row_is_read() -> None:
    rows = _sample_rows()
    full = _levels(list(score_rows(rows, RiskSettings())))
    for cut in (1, 100, 347, 500):
        assert _levels(list(score_rows(rows[:cut], RiskSettings()))) == full[:cut]


def test_a_row_is_scored_before_the_next_one_is_read() -> None:
    read = 0

    def counting() -> Iterator[dict[str, str]]:
        nonlocal read
        for row in attack_log():
            read += 1
            yield row

    for scored in score_rows(counting(), RiskSettings()):
        assert read == scored.row


def test_throughput_is_rows_per_second_of_the_pass() -> None:
    ticks = iter([10.0, 12.5])
    report = tally(score_rows(attack_log(), RiskSettings()), timer=lambda: next(ticks))
    assert report.elapsed_seconds == 2.5
    assert report.rows_per_second == 8.0
    assert format_report(report).splitlines()[-1] == (
        "replay speed: 20 rows in 2.50 s, 8 rows per second"
    )


def test_the_report_of_the_attack_log(tmp_path: Path) -> None:
    report = replay(write_log(tmp_path / "log.csv", attack_log()), RiskSettings())
    lines = format_report(report).splitlines()
    assert lines[0] == (
        "20 sign-ins replayed: 4 account takeovers, 16 from attack IPs, 3 legitimate successful"
    )
    assert [line.split() for line in lines[3:6]] == [
        ["low+", "3", "75.0%", "6", "37.5%", "0", "0.0%"],
        ["medium+", "3", "75.0%", "6", "37.5%", "0", "0.0%"],
        ["high+", "3", "75.0%", "4", "25.0%", "0", "0.0%"],
    ]
    assert lines[7:9] == [
        f"2 takeover episodes {EPISODES}",
        "12 failed sign-ins from attack IPs",
    ]
    assert [line.split() for line in lines[11:14]] == [
        ["low+", "1", "50.0%", "2", "16.7%"],
        ["medium+", "1", "50.0%", "2", "16.7%"],
        ["high+", "1", "50.0%", "0", "0.0%"],
    ]
    assert lines[15] == "sign-in risk levels: none 14, low 0, medium 2, high 4"
    assert lines[16] == "detections: passwordSpray 4, suspiciousIPAddress 6"


def test_an_empty_log_reports_no_rates(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text(HEADER + "\n", encoding="utf-8")
    out = tmp_path / "levels.csv"
    report = replay(log, RiskSettings(), levels_out=out)
    assert out.read_text(encoding="utf-8") == "row,level,events\n"
    lines = format_report(report).splitlines()
    assert lines[3].split() == ["low+", "0", "-", "0", "-", "0", "-"]
    assert lines[11].split() == ["low+", "0", "-", "0", "-"]


def test_counts_of_one_are_singular(tmp_path: Path) -> None:
    log = write_log(tmp_path / "log.csv", [entry(0, "u1", ATTACKER, attack=True, takeover=True)])
    lines = format_report(replay(log, RiskSettings())).splitlines()
    assert lines[0] == (
        "1 sign-in replayed: 1 account takeover, 1 from attack IPs, 0 legitimate successful"
    )
    assert lines[7] == f"1 takeover episode {EPISODES}"
    assert lines[8] == "0 failed sign-ins from attack IPs"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("missing-dir/levels.csv", "cannot write: No such file or directory"),
        (".", "cannot write: Is a directory"),
    ],
    ids=["missing-folder", "a-folder"],
)
def test_an_unwritable_levels_out_is_a_replay_error(
    tmp_path: Path, target: str, message: str
) -> None:
    out = tmp_path / target
    with pytest.raises(ReplayError) as caught:
        replay(SAMPLE, RiskSettings(), levels_out=out)
    assert str(caught.value) == f"{out}: {message}"


def test_levels_out_never_overwrites_the_log(tmp_path: Path) -> None:
    log = write_log(tmp_path / "log.csv", attack_log())
    before = log.read_bytes()
    with pytest.raises(ReplayError, match="is an input of this replay"):
        replay(log, RiskSettings(), levels_out=tmp_path / "." / "log.csv")
    assert log.read_bytes() == before


def test_a_malformed_log_names_the_log_not_the_levels_file(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text(f"{HEADER}\n{row()}\n{row(ok='maybe')}\n", encoding="utf-8")
    out = tmp_path / "levels.csv"
    with pytest.raises(ReplayError) as caught:
        replay(log, RiskSettings(), levels_out=out)
    assert str(caught.value).startswith(f"{log}: line 3: Login Successful")
    # What was scored before the bad row is written.
    assert out.read_text(encoding="utf-8").splitlines() == ["row,level,events", "1,none,"]


def trip_levels(
    answered: str | None, step_up_at: Level | None, block_at: Level | None = None
) -> list[str]:
    log = trip_log(answered)
    scored = list(score_rows(log, RiskSettings(), step_up_at=step_up_at, block_at=block_at))
    return [s.level.value for s in scored[20:]]


@pytest.mark.parametrize(
    ("answered", "step_up_at", "levels"),
    [
        ("False", Level.LOW, ["low", "low"]),
        ("True", Level.LOW, ["low", "none"]),
        (None, Level.LOW, ["low", "none"]),
        ("", Level.LOW, ["low", "none"]),
        ("False", Level.MEDIUM, ["low", "none"]),
        ("False", None, ["low", "none"]),
    ],
    ids=["failed", "answered", "no-column", "empty", "not-stepped-up", "policy-off"],
)
def test_a_stepped_up_sign_in_is_learned_only_once_its_second_factor_is_answered(
    answered: str | None, step_up_at: Level | None, levels: list[str]
) -> None:
    """As in the server: New York stays new after a step-up nobody answered, and becomes
    familiar after one that was answered, or that the policy never asked for."""
    assert trip_levels(answered, step_up_at) == levels


UNCONFIRMED = "7 days if first used at a step-up not known to be answered"


@pytest.mark.parametrize(
    ("answered", "kept_days", "others"),
    [
        (None, 2, f"by no other user here for a day or more ({UNCONFIRMED});"),
        ("", 2, f"by no other user here for a day or more ({UNCONFIRMED});"),
        ("True", 2, "by 1 other user here for a day or more;"),
        (None, 8, f"by 1 other user here for a day or more ({UNCONFIRMED});"),
    ],
    ids=["no-column", "empty", "answered", "kept-a-week"],
)
def test_a_network_learned_at_an_unanswered_step_up_is_a_colleagues_only_once_kept_a_week(
    answered: str | None, kept_days: int, others: str
) -> None:
    """A step-up the log does not say was answered teaches its user, but the network it
    brought counts as one colleagues keep only after `UNCONFIRMED_KEPT_DAYS`: an attacker
    the server would have stopped must not make their exit a colleague's."""
    settings = RiskSettings.from_mapping({"novelty_org_common_users": 1, "novelty_min_counted": 0})
    log = shared_network_log(answered, kept_days)
    scored = list(score_rows(log, settings, step_up_at=Level.MEDIUM))
    brought, kept, colleague = scored[40:]
    assert (brought.level, kept.level) == (Level.MEDIUM, Level.NONE)
    (network,) = [
        line
        for detection in colleague.assessment.detections
        for line in dict(detection.evidence).get("new_features", ())
        if line.startswith("network 64500")
    ]
    assert f"never used by this user in 20 sign-ins, {others}" in network


@pytest.mark.parametrize(
    ("block_at", "levels"),
    [(Level.LOW, ["low", "low"]), (Level.MEDIUM, ["low", "none"])],
    ids=["blocked", "below-the-block"],
)
def test_a_blocked_sign_in_is_never_learned(block_at: Level, levels: list[str]) -> None:
    assert trip_levels("True", Level.LOW, block_at) == levels


@pytest.mark.parametrize("step_up_at", [Level.LOW, None], ids=["stepped-up", "policy-off"])
def test_a_bad_second_factor_value_names_its_line(tmp_path: Path, step_up_at: Level | None) -> None:
    path = write_log(tmp_path / "log.csv", trip_log("perhaps"))
    with pytest.raises(ReplayError, match="line 22: Second Factor Passed must be True or False"):
        replay(path, RiskSettings(), step_up_at=step_up_at)


def test_the_report_counts_what_was_not_learned(tmp_path: Path) -> None:
    failed = replay(
        write_log(tmp_path / "failed.csv", trip_log("False")), RiskSettings(), step_up_at=Level.LOW
    )
    assert failed.not_learned == 1
    assert (
        "not learned: 1 successful sign-in blocked, or stepped up without the second factor "
        "answered" in " ".join(format_report(failed).split())
    )
    answered = replay(
        write_log(tmp_path / "answered.csv", trip_log("True")), RiskSettings(), step_up_at=Level.LOW
    )
    assert answered.not_learned == 0
    assert "not learned" not in format_report(answered)
