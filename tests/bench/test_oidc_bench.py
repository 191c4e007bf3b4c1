"""The pure parts of bench/oidc_bench.py: no server, no node, no network (the benchmark
itself is run by hand, see its docstring)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from http.client import HTTPMessage
from typing import Any

import oidc_bench
import pytest

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="Linux /proc")


def test_cpu_seconds_reads_this_process() -> None:
    before = oidc_bench.cpu_seconds(os.getpid())
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    after = oidc_bench.cpu_seconds(os.getpid())
    assert after >= before
    # /proc counts in clock ticks (usually 10 ms): within a few ticks of Python's own count.
    assert abs(after - time.process_time()) < 0.1 + 5 / os.sysconf("SC_CLK_TCK")


def test_process_tree_and_its_cpu_include_children() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        tree = oidc_bench.process_tree(os.getpid())
        assert tree[0] == os.getpid()
        assert child.pid in tree
        cpu = oidc_bench.tree_cpu_seconds(os.getpid())
        assert set(cpu) >= {os.getpid(), child.pid}
    finally:
        child.kill()
        child.wait()


def test_cpu_delta_counts_a_new_process_from_zero() -> None:
    assert oidc_bench.cpu_delta({1: 1.0, 2: 2.0}, {1: 1.5, 2: 2.0, 3: 0.25}) == pytest.approx(0.75)


def test_percentile_interpolates() -> None:
    values = [float(v) for v in range(1, 101)]
    assert oidc_bench.percentile(values, 50) == pytest.approx(50.5)
    assert oidc_bench.percentile(values, 99) == pytest.approx(99.01)
    assert oidc_bench.percentile([3.0], 99) == 3.0
    assert oidc_bench.percentile([4.0, 1.0, 2.0, 3.0], 0) == 1.0
    assert oidc_bench.percentile([4.0, 1.0, 2.0, 3.0], 100) == 4.0
    with pytest.raises(ValueError):
        oidc_bench.percentile([], 50)


def test_summarize_takes_medians() -> None:
    runs = [
        oidc_bench.Measurement(100, 1.0, 1.0, 2.0, 9.0, 100),
        oidc_bench.Measurement(100, 0.5, 1.0, 1.0, 5.0, 100),
        oidc_bench.Measurement(100, 0.25, 1.0, 3.0, 7.0, 100),
    ]
    summary = oidc_bench.summarize(runs)
    assert summary["per_cpu_second"] == 200
    assert summary["cpu_ms_per_request"] == pytest.approx(5.0)
    assert summary["p50_ms"] == 2.0
    assert summary["p99_ms"] == 7.0
    assert summary["db_cpu_ms_per_request"] is None
    assert summary["spread"] == 4.0  # the fastest run over the slowest


def summary(rate: float, p50: float, cpu_ms: float | None = None) -> dict[str, Any]:
    return {
        "per_cpu_second": rate,
        "p50_ms": p50,
        "p99_ms": 2 * p50,
        "cpu_ms_per_request": cpu_ms if cpu_ms is not None else 1000 / rate,
        "http_per_request": 1.0,
        "runs": 1,
        "spread": 1.0,
    }


def test_table_has_the_issues_columns_ratios_and_the_argon2_rows() -> None:
    results = {
        "ours-sqlite": {
            "client_credentials": summary(105, 9.5),
            "jwks": summary(222, 4.5),
            "sign_in": summary(2.0, 440, cpu_ms=500),
        },
        "ours-postgresql": {
            "client_credentials": summary(95, 10.5),
            "jwks": {"error": "boom"},
            "sign_in": summary(2.0, 450, 500),
        },
        "node": {
            "client_credentials": summary(350, 2.8),
            "jwks": summary(4440, 0.2),
            "sign_in": summary(64, 15.6, cpu_ms=15.6),
        },
    }
    argon2 = {"cpu_ms": 400.0, "label": "argon2id m=65536 KiB, t=3, p=4"}
    table = oidc_bench.format_table(results, argon2)
    lines = table.splitlines()
    assert lines[0] == (
        "| endpoint | ours SQLite | ours PostgreSQL | node oidc-provider | ratio to node |"
    )
    assert all(line.count("|") == 6 for line in lines), table
    cc = next(line for line in lines if line.startswith("| client credentials"))
    assert "105 /CPU-s (p50 9.50 ms, p99 19.0 ms)" in cc
    assert "SQLite 0.30 · PostgreSQL 0.27" in cc
    assert "RS256 JWT" in cc
    jwks = next(line for line in lines if line.startswith("| JWKS"))
    assert "failed" in jwks and "4,440 /CPU-s" in jwks and "SQLite 0.05" in jwks
    assert not any(line.startswith("| userinfo") for line in lines)
    assert "| argon2 ceiling (argon2id m=65536 KiB, t=3, p=4) | 2.5 /CPU-s (400 ms CPU" in table
    assert "| sign-in rate / argon2 ceiling | 80% | 80% | – |" in table
    # Node hashes no password: its sign-in is compared with ours less one verify.
    assert "| 100 ms | 100 ms | 15.6 ms (no hashing) | SQLite 0.16 · PostgreSQL 0.16 |" in table
    sign_in = next(line for line in lines if line.startswith("| full sign-in"))
    assert sign_in.endswith("| see below |")


def test_table_for_one_server_has_no_ratio() -> None:
    table = oidc_bench.format_table({"node": {"discovery": summary(3052, 0.3)}})
    assert table.splitlines()[0] == "| endpoint | node oidc-provider |"
    assert "3,052 /CPU-s" in table


def test_rates_read_like_the_issue() -> None:
    assert [oidc_bench.fmt_rate(v) for v in (4664.2, 347.4, 58.2, 12.34, 2.31, 0.456)] == [
        "4,664",
        "347",
        "58",
        "12.3",
        "2.3",
        "0.46",
    ]


LOGIN = """<form method="post" action="/login?flow=abc">
  <input type="hidden" name="csrf_token" value="t0k">
  <label for="username">Username</label><input type="text" id="username" name="username">
  <input type="password" id="password" name="password"><button type="submit">Sign in</button>
</form>"""
NODE_LOGIN = """<form autocomplete="off" action="/interaction/xyz" method="post">
  <input type="hidden" name="prompt" value="login"/>
  <input required type="text" name="login" placeholder="Enter any login" autofocus="on">
  <input required type="password" name="password" placeholder="and password" >
  <button type="submit" class="login login-submit">Sign-in</button></form>"""
CONSENT = """<form method="post" action="/consent?flow=abc">
  <input type="hidden" name="csrf_token" value="t0k">
  <button type="submit" name="action" value="deny">Deny</button>
  <button type="submit" name="action" value="allow">Allow</button></form>"""
NODE_CONSENT = """<form autocomplete="off" action="/interaction/xyz" method="post">
  <input type="hidden" name="prompt" value="consent"/>
  <button autofocus type="submit" class="login login-submit">Continue</button></form>
  <form method="get" action="/interaction/xyz/abort"></form>"""


def test_fill_signs_in_and_allows() -> None:
    assert oidc_bench.fill(LOGIN, "u", "p") == (
        "/login?flow=abc",
        {"csrf_token": "t0k", "username": "u", "password": "p"},
    )
    assert oidc_bench.fill(NODE_LOGIN, "u", "p") == (
        "/interaction/xyz",
        {"prompt": "login", "login": "u", "password": "p"},
    )
    assert oidc_bench.fill(CONSENT, "u", "p") == (
        "/consent?flow=abc",
        {"csrf_token": "t0k", "action": "allow"},
    )
    assert oidc_bench.fill(NODE_CONSENT, "u", "p") == ("/interaction/xyz", {"prompt": "consent"})
    with pytest.raises(oidc_bench.BenchError):
        oidc_bench.fill("<p>no form</p>", "u", "p")


def test_browser_keeps_and_drops_cookies() -> None:
    browser = oidc_bench.Browser(oidc_bench.Connection("http://127.0.0.1:9"))
    headers = HTTPMessage()
    headers["Set-Cookie"] = "_interaction=abc; path=/interaction/xyz; httponly"
    headers["Set-Cookie"] = "session=s1; Path=/; HttpOnly; SameSite=Lax"
    browser.store(headers)
    assert browser.cookies == {"_interaction": "abc", "session": "s1"}
    gone = HTTPMessage()
    gone["Set-Cookie"] = "_interaction=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT"
    gone["Set-Cookie"] = "session=s2; Max-Age=0"
    browser.store(gone)
    assert browser.cookies == {}


def test_token_format_tells_a_jwt_from_an_opaque_token() -> None:
    jwt = "eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJjYyJ9.c2ln"
    assert oidc_bench.token_format(jwt) == "JWT RS256"
    assert oidc_bench.token_format("Zm9vYmFy.opaque") == "opaque"
    assert oidc_bench.token_format("a.b.c") == "opaque"


def test_config_raises_the_throttles_and_keeps_the_test_database_safe() -> None:
    text = oidc_bench.ours_config(5000, "sqlite:///x.db", (19456, 2, 1))
    assert "failed_per_ip_per_hour = 1000000" in text
    assert 'issuer = "http://127.0.0.1:5000"' in text
    assert "argon2_memory_kib = 19456" in text
    assert 'engine = "gunicorn"' in text
    assert 'engine = "granian"' in oidc_bench.ours_config(5000, "sqlite:///x.db", None, "granian")
    assert "test" in oidc_bench.PG_PROTECTED
    args = oidc_bench.parse_args(["--quick", "--only", "ours", "--rows", "jwks,discovery"])
    assert (args.runs, args.seconds, args.rows) == (1, 1.0, ["jwks", "discovery"])
    with pytest.raises(SystemExit):
        oidc_bench.parse_args(["--rows", "nope"])
    assert oidc_bench.parse_args(["--quick", "--runs", "2"]).runs == 2
    assert oidc_bench.parse_args([]).runs == 3


def test_a_populated_twin_has_its_column_and_its_share_of_the_empty_database() -> None:
    args = oidc_bench.parse_args(["--quick", "--populate", "--backend", "sqlite"])
    assert args.populate
    assert [oidc_bench.backend_of(t) for t in oidc_bench.TARGETS] == [
        *["sqlite", "sqlite", "postgresql", "postgresql"] * 2,
        "node",
    ]
    results = {
        "ours-sqlite": {"refresh": summary(500, 2.0), "jwks": summary(8000, 0.3)},
        "ours-sqlite-populated": {"refresh": summary(450, 2.2), "jwks": {"error": "boom"}},
    }
    now = datetime.now(UTC)
    text = oidc_bench.report(results, None, args, now, (0.5,), (1.0,), "pinned", {})
    assert "| endpoint | ours SQLite | ours SQLite populated |" in text
    note = next(line for line in text.splitlines() if "as a share of the empty" in line)
    # 450 / 500 per CPU-second; a failed row is reported as failed, not as a share.
    assert note.endswith("the empty database's: refresh 0.90")
