"""`idp risk replay`, run as a real process like an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from risk.replay import RBA_COLUMNS

IDP = [sys.executable, "-m", "idp"]
SAMPLE = Path(__file__).resolve().parents[1] / "risk" / "data" / "rba_sample.csv"
HEADER = ",".join(RBA_COLUMNS)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    return subprocess.run(
        [*IDP, *args], capture_output=True, text=True, env={**environ, **(env or {})},
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
        ["low+", "14", "100.0%", "42", "100.0%", "5", "1.0%"],
        ["medium+", "14", "100.0%", "42", "100.0%", "5", "1.0%"],
        ["high+", "10", "71.4%", "35", "83.3%", "0", "0.0%"],
    ]
    assert lines[7] == "sign-in risk levels: none 546, low 0, medium 16, high 43"
    assert lines[8] == (
        "detections: newCountry 40, passwordSpray 2, suspiciousIPAddress 12, "
        "unfamiliarFeatures 59"
    )
    assert lines[9] == "not evaluated: newCountry 21, unfamiliarFeatures 206, unlikelyTravel 605"
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
    assert "unfamiliarFeatures" not in result.stdout.split("not evaluated:")[0]
    assert result.stdout.splitlines()[4].split()[:3] != ["medium+", "14", "100.0%"]


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
        (f"{HEADER}\n{row()}\n{row(time='2024-01-01 06:00:00')}\n", "line 3: rows must be"),
    ],
    ids=["missing-columns", "bad-timestamp", "bad-flag", "out-of-order"],
)
def test_malformed_csv_is_one_line_naming_the_problem(
    tmp_path: Path, body: str, message: str
) -> None:
    path = tmp_path / "log.csv"
    path.write_text(body, encoding="utf-8")
    line = one_error_line(run("risk", "replay", str(path)))
    assert line.startswith(f"idp: {path}: ") and message in line


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
    # idp.cli imports idp.cli_risk at its end; importing them the other way round must work.
    code = "import idp.cli_risk, idp.cli; print(sorted(idp.cli.cli.commands['risk'].commands))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['replay']"
