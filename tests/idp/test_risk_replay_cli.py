"""`idp risk replay`, run as a real process like an operator would."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from risk.replay import RBA_COLUMNS
from tests.risk.rba_log import trip_log, write_log

IDP = [sys.executable, "-m", "idp"]
SAMPLE = Path(__file__).resolve().parents[1] / "risk" / "data" / "rba_sample.csv"
HEADER = ",".join(RBA_COLUMNS)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    return subprocess.run(
        [*IDP, *args],
        capture_output=True,
        text=True,
        env={**environ, **(env or {})},
        timeout=120,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single `idp: ...` line a failed command must print, and nothing else."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("idp: "), result.stderr
    return lines[0]


def row(time: str = "2024-01-01 07:00:00.000", ok: str = "True") -> str:
    return f"{time},1,84.208.1.2,NO,Oslo,Oslo,2119,UA,Chrome,Windows,desktop,{ok},False,False"


def test_replay_of_the_sample_prints_the_figures() -> None:
    result = run("risk", "replay", str(SAMPLE))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "605 sign-ins replayed: 14 account takeovers, 42 from attack IPs, 525 legitimate successful"
    )
    assert [line.split() for line in lines[3:6]] == [
        ["low+", "14", "100.0%", "42", "100.0%", "2", "0.4%"],
        ["medium+", "12", "85.7%", "38", "90.5%", "1", "0.2%"],
        ["high+", "12", "85.7%", "34", "81.0%", "1", "0.2%"],
    ]
    assert lines[7:9] == [
        "8 takeover episodes (one user's consecutive takeover sign-ins; "
        "caught if the first one is)",
        "40 failed sign-ins from attack IPs",
    ]
    assert [line.split() for line in lines[11:14]] == [
        ["low+", "8", "100.0%", "40", "100.0%"],
        ["medium+", "7", "87.5%", "36", "90.0%"],
        ["high+", "7", "87.5%", "32", "80.0%"],
    ]
    assert lines[15] == "sign-in risk levels: none 549, low 7, medium 4, high 45"
    assert lines[16] == (
        "detections: newCountry 40, passwordSpray 2, suspiciousIPAddress 12, unfamiliarFeatures 48"
    )
    assert lines[17] == "not evaluated: newCountry 21, unfamiliarFeatures 21, unlikelyTravel 605"
    assert re.fullmatch(r"replay speed: 605 rows in \d+\.\d\d s, [\d,]+ rows per second", lines[18])
    assert len(lines) == 19
    assert result.stderr == ""


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_replay_uses_the_risk_table_of_the_config(tmp_path: Path, how: str) -> None:
    # No secret key or database in the file: replay reads only [risk].
    config = tmp_path / "idp.toml"
    config.write_text("[risk]\nlearning_min_sign_ins = 1000\n")
    if how == "flag":
        result = run("risk", "replay", str(SAMPLE), "--config", str(config))
    else:
        result = run("risk", "replay", str(SAMPLE), env={"IDP_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr
    # Everyone is still learning, and no level is reachable for learning users until
    # enough of their sign-ins are counted: only the low level's bar is known.
    assert result.stdout.splitlines()[4].split()[:3] == ["medium+", "2", "14.3%"]


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    absent = tmp_path / "absent.csv"
    line = one_error_line(run("risk", "replay", str(absent)))
    assert line == f"idp: {absent}: No such file or directory"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("User ID,IP Address\n1,84.208.1.2\n", "missing columns: Login Timestamp"),
        (f"{HEADER}\n{row(time='yesterday')}\n", "line 2: Login Timestamp 'yesterday'"),
        (f"{HEADER}\n{row(ok='maybe')}\n", "line 2: Login Successful must be True or False"),
    ],
    ids=["missing-columns", "bad-timestamp", "bad-flag"],
)
def test_malformed_csv_is_one_line_naming_the_problem(
    tmp_path: Path, body: str, message: str
) -> None:
    path = tmp_path / "log.csv"
    path.write_text(body, encoding="utf-8")
    line = one_error_line(run("risk", "replay", str(path)))
    assert line.startswith(f"idp: {path}: ") and message in line


def test_a_log_out_of_time_order_is_replayed_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    times = ["2024-01-01 08:00:00", "2024-01-01 07:00:00", "2024-01-01 09:00:00"]
    path.write_text(f"{HEADER}\n" + "".join(f"{row(time=t)}\n" for t in times), encoding="utf-8")
    out = tmp_path / "levels.csv"
    result = run("risk", "replay", str(path), "--levels-out", str(out))
    assert result.returncode == 0, result.stderr
    assert "out of time order: 1 row earlier than the row before it;" in result.stdout
    assert out.read_text(encoding="utf-8").splitlines() == [
        "row,level,events",
        "1,none,",
        "2,none,",
        "3,none,",
    ]


def test_a_binary_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes(b"\x85\xff\x00binary")
    line = one_error_line(run("risk", "replay", str(path)))
    assert line.startswith(f"idp: {path}: not a readable UTF-8 CSV file")


def test_a_row_with_missing_fields_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(f"{HEADER}\n2024-01-01 07:00:00,1\n", encoding="utf-8")
    line = one_error_line(run("risk", "replay", str(path)))
    assert line.startswith(f"idp: {path}: line 2: ")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("[risk]\nimpossible_travel_kmh = 5\n", "risk.impossible_travel_kmh: must be a number"),
        ("[risk]\nno_such_key = 1\n", "risk.no_such_key: unknown key"),
        ("[risk]\ngeoip_city_db = '/nonexistent/city.mmdb'\n", "risk.geoip_city_db: cannot read"),
        ("this is not toml\n", "not valid TOML"),
    ],
    ids=["out-of-range", "unknown-key", "missing-feed", "not-toml"],
)
def test_bad_config_is_one_line(tmp_path: Path, config: str, message: str) -> None:
    path = tmp_path / "idp.toml"
    path.write_text(config)
    line = one_error_line(run("risk", "replay", str(SAMPLE), "--config", str(path)))
    assert line.startswith("idp: configuration error: ") and message in line


def test_missing_config_file_is_one_line(tmp_path: Path) -> None:
    line = one_error_line(run("risk", "replay", str(SAMPLE), "--config", str(tmp_path / "x")))
    assert "not found" in line


def test_the_module_imports_on_its_own() -> None:
    # A command module imported before the package that puts the commands together.
    code = "import idp.cli.risk, idp.cli; print(sorted(idp.cli.cli.commands['risk'].commands))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['replay']"


def test_levels_out_writes_a_line_per_row(tmp_path: Path) -> None:
    out = tmp_path / "levels.csv"
    result = run("risk", "replay", str(SAMPLE), "--levels-out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("605 sign-ins replayed: ")
    with out.open(newline="", encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    assert table[0] == ["row", "level", "events"]
    assert [row[0] for row in table[1:]] == [str(n) for n in range(1, 606)]
    assert {row[1] for row in table[1:]} <= {"none", "low", "medium", "high"}
    # The printed level counts are those of the written rows.
    counts = result.stdout.split("sign-in risk levels: ")[1].splitlines()[0]
    written = [row[1] for row in table[1:]]
    assert counts == ", ".join(
        f"{level} {written.count(level)}" for level in ("none", "low", "medium", "high")
    )


@pytest.mark.parametrize(
    ("policy", "second_visit"),
    [
        ('mfa_at = "low"', "low"),
        ('mfa_at = "low"\nstate = "report-only"', "none"),
        ('block_at = "low"', "low"),
    ],
    ids=["stepped-up", "report-only", "blocked"],
)
def test_the_policy_of_the_config_decides_which_sign_ins_are_not_learned(
    tmp_path: Path, policy: str, second_visit: str
) -> None:
    log = write_log(tmp_path / "log.csv", trip_log("False"))
    config = tmp_path / "idp.toml"
    config.write_text(f"[policies.sign_in_risk]\n{policy}\n", encoding="utf-8")
    out = tmp_path / "levels.csv"
    result = run("risk", "replay", str(log), "--config", str(config), "--levels-out", str(out))
    assert result.returncode == 0, result.stderr
    with out.open(newline="", encoding="utf-8") as handle:
        levels = [row[1] for row in csv.reader(handle)][1:]
    assert levels[20:] == ["low", second_visit]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"], ids=["plain", "byte-order-mark"])
def test_cities_let_unlikely_travel_run(tmp_path: Path, encoding: str) -> None:
    # A spreadsheet's "CSV UTF-8" starts both files with a byte-order mark: read all the same.
    log = tmp_path / "log.csv"
    log.write_text(
        f"{HEADER}\n{row()}\n"
        "2024-01-01 07:30:00,1,1.120.1.1,AU,New South Wales,Sydney,1221,UA,Chrome,Windows,"
        "desktop,True,False,True\n",
        encoding=encoding,
    )
    cities = tmp_path / "cities.csv"
    cities.write_text(
        "country,region,city,latitude,longitude\nNO,Oslo,Oslo,59.91,10.74\n"
        "AU,,Sydney,-33.87,151.21\n",
        encoding=encoding,
    )
    out = tmp_path / "levels.csv"
    result = run("risk", "replay", str(log), "--cities", str(cities), "--levels-out", str(out))
    assert result.returncode == 0, result.stderr
    assert "unlikelyTravel 1" in result.stdout.split("detections: ")[1].splitlines()[0]
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[1] == "1,none,"
    assert lines[2].startswith("2,high,") and "unlikelyTravel" in lines[2]
    assert result.stdout.splitlines()[11].split() == ["low+", "1", "100.0%", "0", "-"]


@pytest.mark.parametrize(
    ("option", "make", "message"),
    [
        (
            "--levels-out",
            lambda d: d / "missing" / "levels.csv",
            "{path}: cannot write: No such file or directory",
        ),
        ("--levels-out", lambda d: d, "{path}: cannot write: Is a directory"),
        ("--levels-out", lambda d: d / "log.csv", "{path}: is an input of this replay"),
        ("--cities", lambda d: d / "absent.csv", "{path}: No such file or directory"),
        (
            "--cities",
            lambda d: _write(d / "cities.csv", "country,city\nNO,Oslo\n"),
            "{path}: missing columns: region, latitude, longitude",
        ),
        (
            "--cities",
            lambda d: _write(
                d / "cities.csv", "country,region,city,latitude,longitude\nNO,,Oslo,59,x\n"
            ),
            "{path}: line 2: longitude 'x' is not a number from -180 to 180",
        ),
        (
            "--cities",
            lambda d: _write(d / "cities.csv", b"\x85\xff\x00binary"),
            "{path}: not a readable UTF-8 CSV file",
        ),
    ],
    ids=[
        "levels-out-folder-missing",
        "levels-out-folder",
        "levels-out-is-the-log",
        "cities-missing",
        "cities-columns",
        "cities-bad-line",
        "cities-binary",
    ],
)
def test_a_bad_output_or_cities_file_is_one_line(
    tmp_path: Path, option: str, make: Callable[[Path], Path], message: str
) -> None:
    log = _write(tmp_path / "log.csv", SAMPLE.read_bytes())
    path = make(tmp_path)
    line = one_error_line(run("risk", "replay", str(log), option, str(path)))
    assert line.startswith("idp: " + message.format(path=path)), line
    assert log.read_bytes() == SAMPLE.read_bytes()


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path
