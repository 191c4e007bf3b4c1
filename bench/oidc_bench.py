"""Requests per server CPU-second, this provider beside node oidc-provider (issue 16).

    python bench/oidc_bench.py [--runs 3] [--seconds 3] [--backend sqlite|postgresql|both]
                               [--only ours|node] [--quick] [--json OUT] [--rows a,b]
                               [--argon2 M,T,P] [--threads N] [--concurrency 1]
                               [--populate]

Serves the product (`idp serve`, one worker, on a temporary SQLite file and on a scratch
PostgreSQL database it creates and drops, `bench_oidc`) and node `oidc-provider` (in
memory; bench/node, `npm install` there on first use) side by side. Each server is pinned
to CPU 0 and this load generator to CPU 1. Per endpoint row: a warm-up, then keep-alive
HTTP requests for --seconds; the server's CPU time (utime + stime from /proc/<pid>/stat,
summed over its process tree: gunicorn's master and worker, node's one process) is read
before and after, and the row's figure is requests divided by that CPU time, with the
p50/p99 of the requests' latencies, as the median of --runs runs.

Rows: client credentials (node: RS256 JWT access tokens through a resource indicator),
refresh (rotating refresh tokens on both), userinfo, JWKS, discovery, and a full sign-in
(authorize, sign-in form, code, token, userinfo; node through its development
interactions: any login name, then consent). For the product also the argon2 ceiling
(1 / CPU seconds of one verify at the configured cost, measured in this process through
the product's own hasher) and the non-hashing CPU of a sign-in (server CPU per sign-in
minus one verify). On PostgreSQL the database backends' CPU is reported beside the table
(it is not in the server's figure). Linux only (/proc, CPU affinity).

With --populate, each of our servers also runs on a twin database that bench/populate.py
filled first (10^4 clients, 10^5 users with their risk history, 10^6 sign-in log rows,
10^5 live tokens; a few minutes to load), measured in the same runs, and the report gives
each row's figure there as a share of the empty database's.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE / "node"
SERVER_CPU = 0
LOAD_CPU = 1
PASSWORD = "bench password 0123"
USERNAME = "bench-user"
REDIRECT_URI = "https://rp.example/cb"
CC_SCOPE = "idp.admin"
NODE_RESOURCE = "urn:idp-bench:api"
SIGN_IN_SCOPE = "openid profile email offline_access"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_oidc"
# Databases the bench never creates or drops: the test suite's and the maintenance one.
PG_PROTECTED = {"test", "postgres", "template0", "template1"}

# The product's per-IP and per-account limits, raised: every request comes from one
# address, and a benchmark must not be throttled. Only wrong passwords count towards
# them, and the benchmark sends none, but a failed run must not lock the next one out.
THROTTLE_CONFIG = """\
[throttle]
failed_per_ip_per_hour = 1000000
[lockout]
threshold = 1000
"""
# The risk engine still evaluates every sign-in, but a new user at one address must not
# be sent to TOTP registration or blocked (53004) by it in the middle of a benchmark.
POLICY_CONFIG = """\
[policies.mfa_registration]
state = "off"
[policies.sign_in_risk]
state = "report-only"
[policies.user_risk]
state = "report-only"
"""

ROWS = ("client_credentials", "refresh", "userinfo", "jwks", "discovery", "sign_in")
ROW_TITLES = {
    "client_credentials": "client credentials",
    "refresh": "refresh (rotating)",
    "userinfo": "userinfo",
    "jwks": "JWKS",
    "discovery": "discovery",
    "sign_in": "full sign-in (authorize, login, code, token, userinfo)",
}
POPULATED = "-populated"
"""The suffix of a target served on a database bench/populate.py filled (--populate)."""
TARGETS = (
    "ours-sqlite",
    "ours-sqlite" + POPULATED,
    "ours-postgresql",
    "ours-postgresql" + POPULATED,
    "ours-granian-sqlite",
    "ours-granian-sqlite" + POPULATED,
    "ours-granian-postgresql",
    "ours-granian-postgresql" + POPULATED,
    "node",
)
TARGET_TITLES = {
    "ours-sqlite": "ours SQLite",
    "ours-postgresql": "ours PostgreSQL",
    "ours-granian-sqlite": "ours granian SQLite",
    "ours-granian-postgresql": "ours granian PostgreSQL",
    "node": "node oidc-provider",
}
TARGET_TITLES.update(
    {key + POPULATED: title + " populated" for key, title in TARGET_TITLES.items() if key != "node"}
)


def backend_of(target: str) -> str:
    """A target's database ("sqlite", "postgresql"), or "node" for node's."""
    return target.removesuffix(POPULATED).rsplit("-", 1)[-1]


class BenchError(Exception):
    """A server answered what the benchmark did not expect, or would not start."""


# --- pure parts: CPU time, percentiles, the table ------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads, live and exited), in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text.rsplit(")", 1)[1].split()
    # After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """pid and every live descendant (gunicorn's master and its worker)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(text.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


def tree_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds of each process in pid's tree (a process that ended is left out)."""
    cpu = {}
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            cpu[member] = cpu_seconds(member)
    return cpu


def cpu_delta(before: Mapping[int, float], after: Mapping[int, float]) -> float:
    """CPU spent between two readings; a process born in between counts from zero."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100), interpolated between the closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Measurement:
    """One run of one row on one server."""

    requests: int  # operations: HTTP requests, or whole sign-ins on the sign-in row
    cpu_seconds: float  # the server's process tree
    wall_seconds: float
    p50_ms: float
    p99_ms: float
    http_requests: int = 0  # HTTP requests behind the operations
    db_cpu_seconds: float | None = None  # PostgreSQL backends, when known
    load_average: float | None = None  # the machine's, 1 minute, at the row's end

    @property
    def per_cpu_second(self) -> float:
        return self.requests / self.cpu_seconds if self.cpu_seconds > 0 else float("inf")


def summarize(runs: Sequence[Measurement]) -> dict[str, Any]:
    """Medians over runs of a row's figures."""
    rates = [run.per_cpu_second for run in runs]
    cpu_per_op = [run.cpu_seconds / run.requests for run in runs if run.requests]
    db = [
        run.db_cpu_seconds / run.requests
        for run in runs
        if run.db_cpu_seconds is not None and run.requests
    ]
    return {
        "per_cpu_second": statistics.median(rates),
        "spread": max(rates) / min(rates) if min(rates) > 0 else float("inf"),
        "cpu_ms_per_request": 1000 * statistics.median(cpu_per_op) if cpu_per_op else None,
        "p50_ms": statistics.median(run.p50_ms for run in runs),
        "p99_ms": statistics.median(run.p99_ms for run in runs),
        "requests": sum(run.requests for run in runs),
        "http_per_request": (
            sum(run.http_requests for run in runs) / max(1, sum(run.requests for run in runs))
        ),
        "db_cpu_ms_per_request": 1000 * statistics.median(db) if db else None,
        "runs": len(runs),
    }


def fmt_rate(value: float) -> str:
    """Requests per CPU-second as the issue writes them: 4,664 · 347 · 58 · 2.3."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}" if value < 20 else f"{value:.0f}"
    return f"{value:.2f}" if value < 1 else f"{value:.1f}"


def fmt_ms(value: float) -> str:
    if value >= 100:
        return f"{value:.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def cell(summary: Mapping[str, Any] | None) -> str:
    if summary is None:
        return "–"
    if "error" in summary:
        return "failed"
    return (
        f"{fmt_rate(summary['per_cpu_second'])} /CPU-s "
        f"(p50 {fmt_ms(summary['p50_ms'])}, p99 {fmt_ms(summary['p99_ms'])})"
    )


def format_table(
    results: Mapping[str, Mapping[str, Mapping[str, Any]]], argon2: Mapping[str, Any] | None = None
) -> str:
    """The Markdown table: endpoint | ours SQLite | ours PostgreSQL | node | ratio to node.

    results[target][row] is a summary (see summarize) or {"error": text}; argon2 holds the
    verify's "cpu_ms" and "label" for the ceiling rows."""
    targets = [t for t in TARGETS if t in results]
    ours = [t for t in targets if t != "node"]
    node = results.get("node", {})
    head = ["endpoint", *(TARGET_TITLES[t] for t in targets)]
    if ours and "node" in results:
        head.append("ratio to node")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def ratios(row: str, hashing_ms: float = 0.0) -> str:
        """Ours per CPU-second over node's; with hashing_ms, without one verify's CPU."""
        theirs = node.get(row)
        if not theirs or "error" in theirs:
            return "–"
        parts = []
        for target in ours:
            mine = results[target].get(row)
            if not mine or "error" in mine:
                continue
            spent = (mine["cpu_ms_per_request"] or 0.0) - hashing_ms
            if spent > 0 and theirs["cpu_ms_per_request"]:
                ratio = theirs["cpu_ms_per_request"] / spent
                label = TARGET_TITLES[target].removeprefix("ours ")
                parts.append(f"{label} {ratio:.2f}" if len(ours) > 1 else f"{ratio:.2f}")
        return " · ".join(parts) or "–"

    for row in ROWS:
        if not any(row in results[t] for t in targets):
            continue
        title = ROW_TITLES[row]
        if row == "client_credentials" and "node" in results:
            title += " (node: RS256 JWT)"
        values = [cell(results[t].get(row)) for t in targets]
        if ours and "node" in results:
            # A sign-in's ratio means little while ours hashes a password and node does
            # not: the ratio without the verify is on the non-hashing row below.
            values.append(ratios(row) if row != "sign_in" or not argon2 else "see below")
        lines.append("| " + " | ".join([title, *values]) + " |")

    if argon2 and ours:
        verify_ms = argon2["cpu_ms"]
        has_node = "node" in results

        def line(title: str, mine: list[str], theirs: str, ratio: str = "") -> None:
            lines.append(
                "| " + " | ".join([title, *mine, *([theirs, ratio] if has_node else [])]) + " |"
            )

        signins = [results[t].get("sign_in") for t in ours]
        done = [s if s and "error" not in s else None for s in signins]
        line(
            f"argon2 ceiling ({argon2['label']})",
            [
                f"{fmt_rate(1000 / verify_ms)} /CPU-s ({fmt_ms(verify_ms)} CPU a verify)"
                for _ in ours
            ],
            "–",
        )
        line(
            "sign-in rate / argon2 ceiling",
            [f"{100 * s['per_cpu_second'] * verify_ms / 1000:.0f}%" if s else "–" for s in done],
            "–",
        )
        theirs = node.get("sign_in")
        line(
            "non-hashing CPU of a sign-in (server CPU per sign-in minus one verify)",
            [fmt_ms(s["cpu_ms_per_request"] - verify_ms) if s else "–" for s in done],
            f"{fmt_ms(theirs['cpu_ms_per_request'])} (no hashing)"
            if theirs and "error" not in theirs
            else "–",
            ratios("sign_in", verify_ms) if has_node else "",
        )
    return "\n".join(lines)


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


# --- HTTP with keep-alive, cookies and forms ------------------------------------------


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def location(self) -> str:
        return self.headers.get("Location", "")


class Connection:
    """One keep-alive HTTP/1.1 connection; reopened once when the server closed it idle."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.conn: http.client.HTTPConnection | None = None
        self.count = 0

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=dict(headers or {}))
                answer = self.conn.getresponse()
                data = answer.read()
            except (
                http.client.RemoteDisconnected,
                ConnectionResetError,
                BrokenPipeError,
                http.client.CannotSendRequest,
            ):
                # The server closed an idle keep-alive connection before reading this one.
                self.close()
                if attempt:
                    raise
                continue
            self.count += 1
            if answer.will_close:
                self.close()
            return Response(answer.status, answer.headers, data)
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Browser:
    """A cookie jar over a keep-alive connection, following one server's redirects."""

    def __init__(self, connection: Connection) -> None:
        self.http = connection
        self.cookies: dict[str, str] = {}

    def store(self, headers: http.client.HTTPMessage) -> None:
        for header in headers.get_all("Set-Cookie") or []:
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                expires = morsel["expires"]
                gone = (
                    morsel["max-age"] in ("0", "-1")
                    or (expires and _past(expires))
                    or not morsel.value
                )
                if gone:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.coded_value

    def go(self, method: str, url: str, form: Mapping[str, str] | None = None) -> Response:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {"Accept": "text/html,application/json"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        answer = self.http.request(method, path or "/", body, headers)
        self.store(answer.headers)
        return answer


def _past(expires: str) -> bool:
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(expires) <= datetime.now(UTC)
    except (TypeError, ValueError):
        return False


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # name, type, value
    buttons: list[tuple[str, str, str]] = field(default_factory=list)  # name, value, text


class FormParser(HTMLParser):
    """The forms of a page: action, method, inputs and submit buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._button: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower()))
        elif not self.forms:
            return
        elif tag == "input":
            kind = a.get("type", "text").lower()
            if kind == "submit":
                self.forms[-1].buttons.append(
                    (a.get("name", ""), a.get("value", ""), a.get("value", ""))
                )
            elif a.get("name"):
                self.forms[-1].fields.append((a["name"], kind, a.get("value", "")))
        elif tag == "button" and a.get("type", "submit").lower() == "submit":
            self._button = [a.get("name", ""), a.get("value", ""), ""]

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button[2] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button is not None and self.forms:
            name, value, text = self._button
            self.forms[-1].buttons.append((name, value, text.strip()))
            self._button = None


YES = re.compile(r"allow|accept|continue|confirm|authori[sz]e|yes|sign.?in", re.I)


def fill(page: str, username: str, password: str) -> tuple[str, dict[str, str]]:
    """The action and the values a person would send: the sign-in form filled in, or the
    consent form's allowing button."""
    parser = FormParser()
    parser.feed(page)
    forms = [f for f in parser.forms if f.method == "post"]
    if not forms:
        raise BenchError(f"no form on the page: {page[:300]!r}")
    form = next((f for f in forms if any(kind == "password" for _, kind, _ in f.fields)), forms[0])
    values: dict[str, str] = {}
    for name, kind, value in form.fields:
        if kind == "password":
            values[name] = password
        elif name in ("username", "login", "user", "email") and kind != "hidden":
            values[name] = username
        elif kind in ("checkbox", "radio"):
            continue
        else:
            values[name] = value
    named = [b for b in form.buttons if b[0]]
    if named:
        button = next((b for b in named if YES.search(b[1] + " " + b[2])), named[0])
        values[button[0]] = button[1]
    return form.action, values


# --- the servers ---------------------------------------------------------------------


@dataclass
class Target:
    """A served provider and what a client needs to talk to it."""

    key: str
    base: str
    pid: int  # the process whose tree is the server
    cc: dict[str, str]
    rp: dict[str, str]
    endpoints: dict[str, str] = field(default_factory=dict)
    cc_extra: dict[str, str] = field(default_factory=dict)
    db_backends: Callable[[], dict[int, float]] | None = None
    facts: dict[str, str] = field(default_factory=dict)  # token formats, rotation

    def path(self, name: str) -> str:
        url = self.endpoints[name]
        parts = urlsplit(url)
        return parts.path + (f"?{parts.query}" if parts.query else "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pin(cpu: int) -> Callable[[], None] | None:
    """A preexec_fn pinning the child to one CPU (none on a one-core machine)."""
    if not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def wait_until_up(base: str, log: Path, process: subprocess.Popen[Any], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(
                f"the server exited ({process.returncode}):\n{log.read_text()[-3000:]}"
            )
        try:
            answer = Connection(base).request("GET", "/.well-known/openid-configuration")
            if answer.status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise BenchError(
        f"the server at {base} did not answer within {seconds:.0f} s:\n{log.read_text()[-3000:]}"
    )


def discover(target: Target) -> None:
    found = Connection(target.base).request("GET", "/.well-known/openid-configuration").json()
    target.endpoints = {
        "discovery": f"{target.base}/.well-known/openid-configuration",
        "authorize": found["authorization_endpoint"],
        "token": found["token_endpoint"],
        "userinfo": found["userinfo_endpoint"],
        "jwks": found["jwks_uri"],
    }


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def idp_env(config: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("IDP_")},
        "IDP_CONFIG": str(config),
    }


def idp(*args: str, env: Mapping[str, str], stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "idp", *args],
        env=dict(env),
        input=stdin,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise BenchError(f"idp {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def ours_config(
    port: int, url: str, argon2: tuple[int, int, int] | None, engine: str = "gunicorn"
) -> str:
    text = (
        f'issuer = "http://127.0.0.1:{port}"\n'
        f'secret_key = "oidc-bench-{secrets.token_urlsafe(24)}"\n'
        f'database_url = "{url}"\n'
        + THROTTLE_CONFIG
        + POLICY_CONFIG
        + f'[server]\nengine = "{engine}"\n'
    )
    if argon2:
        memory, time_cost, parallelism = argon2
        text += (
            f"[passwords]\nargon2_memory_kib = {memory}\nargon2_time_cost = {time_cost}\n"
            f"argon2_parallelism = {parallelism}\n"
        )
    return text


@contextlib.contextmanager
def serve_ours(
    key: str,
    url: str,
    folder: Path,
    args: argparse.Namespace,
    backends: Callable[[], dict[int, float]] | None,
) -> Iterator[Target]:
    port = free_port()
    config = folder / f"{key}.toml"
    config.write_text(
        ours_config(port, url, args.argon2, "granian" if "-granian-" in key else "gunicorn")
    )
    env = idp_env(config)
    idp("db", "upgrade", env=env)
    idp(
        "users",
        "add",
        USERNAME,
        "--email",
        "bench@example.org",
        "--password-stdin",
        env=env,
        stdin=PASSWORD + "\n",
    )
    cc = json.loads(
        idp(
            "clients",
            "add",
            "bench-cc",
            "--grant-type",
            "client_credentials",
            "--scope",
            CC_SCOPE,
            "--json",
            env=env,
        )
    )
    rp = json.loads(
        idp(
            "clients",
            "add",
            "bench-rp",
            "--redirect-uri",
            REDIRECT_URI,
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            *[x for s in SIGN_IN_SCOPE.split() for x in ("--scope", s)],
            "--json",
            env=env,
        )
    )
    if key.endswith(POPULATED):
        from populate import populate  # noqa: PLC0415 (bench/populate.py, beside this file)

        print(f"populating {key}", file=sys.stderr)
        populate(url, say=lambda text: print(text, file=sys.stderr))
    log = folder / f"{key}.log"
    metrics = folder / f"{key}-metrics"
    metrics.mkdir()
    command = [sys.executable, "-m", "idp", "serve", "--port", str(port), "--workers", "1"]
    if args.threads:
        command += ["--threads", str(args.threads)]
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            env={**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=pin(SERVER_CPU),
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base, log, process, 60)
        target = Target(
            key,
            base,
            process.pid,
            {**cc, "scope": CC_SCOPE},
            {**rp, "redirect_uri": REDIRECT_URI},
            db_backends=backends,
        )
        discover(target)
        yield target
    finally:
        stop(process)


def node_modules_ready() -> bool:
    return (NODE_DIR / "node_modules" / "oidc-provider" / "package.json").is_file()


def ensure_node() -> str:
    node = shutil.which("node")
    if node is None:
        raise BenchError(
            "node is not installed: the node oidc-provider rows need node 20.19 "
            "or later (or run with --only ours)"
        )
    if not node_modules_ready():
        npm = shutil.which("npm")
        print(
            f"installing node oidc-provider into {NODE_DIR / 'node_modules'} (npm install)",
            file=sys.stderr,
        )
        done = (
            subprocess.run(
                [npm or "npm", "install", "--no-package-lock", "--no-audit", "--no-fund"],
                cwd=NODE_DIR,
                capture_output=True,
                text=True,
            )
            if npm
            else None
        )
        if done is None or done.returncode or not node_modules_ready():
            detail = done.stderr[-2000:] if done else "npm is not installed"
            raise BenchError(
                f"could not install node oidc-provider with `npm install` in "
                f"{NODE_DIR} (it needs the npm registry, or copy a node_modules "
                f"there); or run with --only ours.\n{detail}"
            )
    return node


@contextlib.contextmanager
def serve_node(folder: Path) -> Iterator[Target]:
    node = ensure_node()
    port = free_port()
    cc = {"client_id": "bench-cc", "client_secret": secrets.token_urlsafe(32), "scope": CC_SCOPE}
    rp = {
        "client_id": "bench-rp",
        "client_secret": secrets.token_urlsafe(32),
        "redirect_uri": REDIRECT_URI,
    }
    clients = folder / "node-clients.json"
    clients.write_text(json.dumps({"cc": cc, "rp": rp}))
    log = folder / "node.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [node, str(NODE_DIR / "server.mjs"), "--port", str(port), "--clients", str(clients)],
            cwd=NODE_DIR,
            env={**os.environ, "NODE_ENV": "production"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=pin(SERVER_CPU),
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base, log, process, 30)
        target = Target("node", base, process.pid, cc, rp, cc_extra={"resource": NODE_RESOURCE})
        discover(target)
        yield target
    finally:
        stop(process)


@contextlib.contextmanager
def scratch_postgres(url: str) -> Iterator[Callable[[], dict[int, float]]]:
    """Create the scratch database (dropping a leftover one), yield a reader of its backends'
    CPU, and drop it afterwards."""
    import psycopg

    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://", 1))
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or name in PG_PROTECTED:
        raise BenchError(
            f"refusing to create and drop database {name!r}: name a scratch one "
            "(default bench_oidc)"
        )
    admin = parts._replace(path="/postgres").geturl()
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
        watcher = psycopg.connect(admin, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise BenchError(
            f"PostgreSQL at {parts.hostname}:{parts.port or 5432}: {exc}"
            " (or run with --backend sqlite)"
        ) from None

    def backends() -> dict[int, float]:
        rows = watcher.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
        cpu = {}
        for (pid,) in rows:
            with contextlib.suppress(OSError):
                cpu[pid] = cpu_seconds(pid)
        return cpu

    try:
        yield backends
    finally:
        watcher.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# --- what a client does on each row -------------------------------------------------


def basic(client: Mapping[str, str]) -> str:
    raw = f"{client['client_id']}:{client['client_secret']}".encode()
    return "Basic " + base64.b64encode(raw).decode()


FORM = "application/x-www-form-urlencoded"


def token_request(
    target: Target, conn: Connection, client: Mapping[str, str], form: Mapping[str, str]
) -> dict[str, Any]:
    answer = conn.request(
        "POST",
        target.path("token"),
        urlencode(form).encode(),
        {"Authorization": basic(client), "Content-Type": FORM, "Accept": "application/json"},
    )
    if answer.status != 200:
        raise BenchError(
            f"{target.key} token ({form.get('grant_type')}): {answer.status} {answer.body[:300]!r}"
        )
    data: dict[str, Any] = answer.json()
    return data


def sign_in(target: Target, conn: Connection) -> dict[str, Any]:
    """A whole sign-in as a new browser: authorize, the sign-in form (node: then consent),
    the code at the redirect URI, the token request, userinfo. Returns the tokens."""
    browser = Browser(conn)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    state = secrets.token_urlsafe(12)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": target.rp["client_id"],
            "redirect_uri": REDIRECT_URI,
            "scope": SIGN_IN_SCOPE,
            "state": state,
            "nonce": secrets.token_urlsafe(12),
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }
    )
    url = f"{target.endpoints['authorize']}?{query}"
    answer = browser.go("GET", url)
    for _ in range(12):
        if answer.status in (301, 302, 303, 307):
            url = urljoin(url, answer.location())
            if url.startswith(REDIRECT_URI):
                break
            answer = browser.go("GET", url)
        elif answer.status == 200:
            action, values = fill(answer.body.decode("utf-8", "replace"), USERNAME, PASSWORD)
            url = urljoin(url, action or url)
            answer = browser.go("POST", url, values)
        else:
            raise BenchError(
                f"{target.key} sign-in at {urlsplit(url).path}: {answer.status} "
                f"{answer.body[:300]!r}"
            )
    else:
        raise BenchError(f"{target.key} sign-in did not come back to the client")
    params = parse_qs(urlsplit(url).query)
    if params.get("state") != [state] or "code" not in params:
        raise BenchError(f"{target.key} sign-in came back without a code: {url}")
    tokens = token_request(
        target,
        conn,
        target.rp,
        {
            "grant_type": "authorization_code",
            "code": params["code"][0],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
    )
    userinfo(target, conn, tokens["access_token"])
    if "refresh_token" not in tokens:
        raise BenchError(f"{target.key} issued no refresh token: {sorted(tokens)}")
    return tokens


def token_format(token: str) -> str:
    """ "JWT RS256" for a signed JWT, "opaque" for anything else."""
    parts = token.split(".")
    if len(parts) == 3:
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
            if isinstance(header, dict):
                return f"JWT {header.get('alg', '?')}"
    return "opaque"


def userinfo(target: Target, conn: Connection, access_token: str) -> None:
    answer = conn.request(
        "GET",
        target.path("userinfo"),
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
    )
    if answer.status != 200:
        raise BenchError(f"{target.key} userinfo: {answer.status} {answer.body[:300]!r}")


def get_ok(target: Target, conn: Connection, name: str) -> None:
    answer = conn.request("GET", target.path(name), headers={"Accept": "application/json"})
    if answer.status != 200:
        raise BenchError(f"{target.key} {name}: {answer.status} {answer.body[:300]!r}")


def operation(row: str, target: Target, conn: Connection) -> Callable[[], None]:
    """One repeatable operation of a row on its own connection (with its own tokens)."""
    if row == "client_credentials":
        form = {"grant_type": "client_credentials", "scope": CC_SCOPE, **target.cc_extra}
        target.facts["client_credentials"] = token_format(
            token_request(target, conn, target.cc, form)["access_token"]
        )

        def client_credentials() -> None:
            token_request(target, conn, target.cc, form)

        return client_credentials
    if row == "refresh":
        first = sign_in(target, conn)["refresh_token"]
        second = token_request(
            target, conn, target.rp, {"grant_type": "refresh_token", "refresh_token": first}
        ).get("refresh_token")
        target.facts["refresh"] = (
            "rotated on every use" if second and second != first else "NOT rotated"
        )
        state = {"refresh_token": second or first}

        def refresh() -> None:
            tokens = token_request(
                target,
                conn,
                target.rp,
                {"grant_type": "refresh_token", "refresh_token": state["refresh_token"]},
            )
            state["refresh_token"] = tokens.get("refresh_token", state["refresh_token"])

        return refresh
    if row == "userinfo":
        access_token = sign_in(target, conn)["access_token"]
        return lambda: userinfo(target, conn, access_token)
    if row in ("jwks", "discovery"):
        return lambda: get_ok(target, conn, row)
    if row == "sign_in":

        def whole_sign_in() -> None:
            sign_in(target, conn)

        return whole_sign_in
    raise ValueError(row)


def measure(
    target: Target, row: str, seconds: float, warmup: float, concurrency: int
) -> Measurement:
    """Warm up, then run the row for `seconds` on `concurrency` keep-alive connections,
    reading the server's CPU time just before and just after."""
    conns = [Connection(target.base) for _ in range(concurrency)]
    ops = [operation(row, target, conn) for conn in conns]
    latencies: list[list[float]] = [[] for _ in ops]
    errors: list[BaseException] = []
    ready, go = threading.Barrier(concurrency + 1), threading.Barrier(concurrency + 1)
    deadline = [0.0]

    def work(index: int) -> None:
        op, mine = ops[index], latencies[index]
        try:
            until = time.monotonic() + warmup
            while time.monotonic() < until:
                op()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
            ready.abort()
            return
        try:
            ready.wait()
            go.wait()
        except threading.BrokenBarrierError:  # another connection failed in its warm-up
            return
        try:
            while time.perf_counter() < deadline[0]:
                start = time.perf_counter()
                op()
                mine.append(time.perf_counter() - start)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    try:
        ready.wait()
    except threading.BrokenBarrierError:
        for thread in threads:
            thread.join()
        raise errors[0] from None
    http_before = sum(c.count for c in conns)
    db_before = target.db_backends() if target.db_backends else None
    before = tree_cpu_seconds(target.pid)
    start = time.perf_counter()
    deadline[0] = start + seconds
    go.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    after = tree_cpu_seconds(target.pid)
    db_after = target.db_backends() if target.db_backends else None
    for conn in conns:
        conn.close()
    if errors:
        raise errors[0]
    flat = [x * 1000 for chunk in latencies for x in chunk]
    if not flat:
        raise BenchError(f"{target.key} {row}: no request finished in {seconds} s")
    return Measurement(
        requests=len(flat),
        cpu_seconds=cpu_delta(before, after),
        wall_seconds=wall,
        p50_ms=percentile(flat, 50),
        p99_ms=percentile(flat, 99),
        http_requests=sum(c.count for c in conns) - http_before,
        db_cpu_seconds=(
            cpu_delta(db_before, db_after)
            if db_before is not None and db_after is not None
            else None
        ),
        load_average=os.getloadavg()[0],
    )


# --- argon2 -------------------------------------------------------------------------


def argon2_verify_cpu(cost: tuple[int, int, int] | None, repeat: int) -> dict[str, Any]:
    """CPU of one verify at the configured cost, through the product's own hasher."""
    from idp.config import PasswordSettings
    from idp.passwords import PasswordHasher

    settings = PasswordSettings()
    if cost:
        settings = PasswordSettings(
            argon2_memory_kib=cost[0], argon2_time_cost=cost[1], argon2_parallelism=cost[2]
        )
    hasher = PasswordHasher(settings)
    stored = hasher.hash(PASSWORD)
    costs = []
    for _ in range(repeat):
        start = time.process_time()
        hasher.verify(PASSWORD, stored)
        costs.append(time.process_time() - start)
    label = (
        f"argon2id m={settings.argon2_memory_kib} KiB, t={settings.argon2_time_cost}, "
        f"p={settings.argon2_parallelism}"
    )
    return {
        "cpu_ms": 1000 * statistics.median(costs),
        "label": label,
        "memory_kib": settings.argon2_memory_kib,
        "time_cost": settings.argon2_time_cost,
        "parallelism": settings.argon2_parallelism,
        "repeat": repeat,
    }


# --- the run ------------------------------------------------------------------------


def parse_cost(text: str) -> tuple[int, int, int]:
    try:
        memory, time_cost, parallelism = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            "give MEMORY_KIB,TIME_COST,PARALLELISM, e.g. 19456,2,1"
        ) from None
    return memory, time_cost, parallelism


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--runs", type=int, help="runs per row, of which the median (3)")
    parser.add_argument(
        "--seconds",
        type=float,
        help="measured seconds per row and run, the sign-in row twice that (3)",
    )
    parser.add_argument("--warmup", type=float, help="warm-up seconds per row (1)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="keep-alive connections at once (1: latency without queueing)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: one run, 1 s a row, 0.3 s warm-ups (unless given)",
    )
    parser.add_argument("--only", choices=("ours", "node"))
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--engine",
        choices=("gunicorn", "granian", "both"),
        default="both",
        help="our server engine ([server] engine; default: both)",
    )
    parser.add_argument(
        "--postgresql-url",
        default=PG_DEFAULT,
        help="a scratch database the bench creates and drops (bench_oidc)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="idp serve --threads (default: the product's [server] threads)",
    )
    parser.add_argument(
        "--argon2",
        type=parse_cost,
        default=None,
        metavar="M,T,P",
        help="password cost for our server, e.g. 19456,2,1 (default: the product's default)",
    )
    parser.add_argument(
        "--rows", default=",".join(ROWS), help=f"comma-separated subset of {','.join(ROWS)}"
    )
    parser.add_argument(
        "--populate",
        action="store_true",
        help="also serve ours on databases filled by bench/populate.py (10^4 clients, 10^5 "
        "users, 10^6 sign-in rows), beside the empty ones",
    )
    parser.add_argument("--json", dest="json_out", type=Path, help="write the raw figures here")
    args = parser.parse_args(argv)
    defaults = (1, 1.0, 0.3) if args.quick else (3, 3.0, 1.0)
    for name, default in zip(("runs", "seconds", "warmup"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.runs < 1 or args.seconds <= 0 or args.warmup < 0 or args.concurrency < 1:
        parser.error("--runs, --seconds and --concurrency must be positive")
    args.rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = set(args.rows) - set(ROWS)
    if unknown:
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # A plain kill stops the servers and drops the scratch database as Ctrl+C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {LOAD_CPU})
        pinning = f"servers pinned to CPU {SERVER_CPU}, load generator to CPU {LOAD_CPU}"
    else:
        pinning = "one CPU: nothing pinned"
    targets: list[str] = []
    if args.only != "node":
        for engine in ("gunicorn", "granian"):
            if args.engine not in (engine, "both"):
                continue
            prefix = "ours-" if engine == "gunicorn" else "ours-granian-"
            for backend in ("sqlite", "postgresql"):
                if args.backend in (backend, "both"):
                    targets.append(prefix + backend)
                    if args.populate:
                        targets.append(prefix + backend + POPULATED)
    if args.only != "ours":
        targets.append("node")
    started = datetime.now(UTC)
    load_start = os.getloadavg()
    print(
        f"oidc_bench {started:%Y-%m-%d %H:%M} UTC: {cpu_model()}, {os.cpu_count()} cores, "
        f"load average {load_start[0]:.2f}; {pinning}",
        file=sys.stderr,
    )

    argon2 = None
    if any(t != "node" for t in targets) and "sign_in" in args.rows:
        argon2 = argon2_verify_cpu(args.argon2, 3 if args.quick else 5)
        print(f"one verify ({argon2['label']}): {argon2['cpu_ms']:.1f} ms CPU", file=sys.stderr)

    raw: dict[str, dict[str, list[Measurement]]] = {t: {} for t in targets}
    failures: dict[str, dict[str, str]] = {t: {} for t in targets}
    folder = Path(tempfile.mkdtemp(prefix="idp-oidc-bench-"))
    try:
        with contextlib.ExitStack() as stack:
            served: dict[str, Target] = {}
            for key in targets:
                print(f"starting {key}", file=sys.stderr)
                if backend_of(key) == "sqlite":
                    served[key] = stack.enter_context(
                        serve_ours(key, f"sqlite:///{folder / key}.db", folder, args, None)
                    )
                elif backend_of(key) == "postgresql":
                    # One scratch database each: the engines run one after the other.
                    url = args.postgresql_url + ("_granian" if "-granian-" in key else "")
                    url += "_populated" if key.endswith(POPULATED) else ""
                    backends = stack.enter_context(scratch_postgres(url))
                    served[key] = stack.enter_context(serve_ours(key, url, folder, args, backends))
                else:
                    served[key] = stack.enter_context(serve_node(folder))
            # One unmeasured pass over every row first: node's JIT and Python's caches and
            # connection pools are warm before the first run, which also finds a broken row.
            print("warm-up pass", file=sys.stderr)
            for key in targets:
                for row in args.rows:
                    try:
                        measure(served[key], row, args.warmup, 0.0, args.concurrency)
                    except (BenchError, OSError, KeyError, ValueError) as exc:
                        failures[key][row] = str(exc)
                        print(f"{key} {row}: failed: {exc}", file=sys.stderr)
            for run in range(args.runs):
                # Each run starts with another server, so drift over time is spread.
                order = targets[run % len(targets) :] + targets[: run % len(targets)]
                for key in order:
                    for row in args.rows:
                        if row in failures[key]:
                            continue
                        seconds = args.seconds * (2 if row == "sign_in" else 1)
                        try:
                            result = measure(
                                served[key], row, seconds, args.warmup, args.concurrency
                            )
                        except (BenchError, OSError, KeyError, ValueError) as exc:
                            failures[key][row] = str(exc)
                            print(f"{key} {row}: failed: {exc}", file=sys.stderr)
                            continue
                        raw[key].setdefault(row, []).append(result)
                        print(
                            f"run {run + 1}/{args.runs} {key:16} {row:18} "
                            f"{result.per_cpu_second:9.1f} /CPU-s  p50 {result.p50_ms:7.2f} ms"
                            f"  p99 {result.p99_ms:7.2f} ms  ({result.requests} in "
                            f"{result.wall_seconds:.1f} s, {result.cpu_seconds:.2f} CPU-s)",
                            file=sys.stderr,
                        )
            facts = {key: dict(target.facts) for key, target in served.items()}
    except BenchError as exc:
        print(f"oidc_bench: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    summaries: dict[str, dict[str, dict[str, Any]]] = {}
    for key in targets:
        summaries[key] = {row: summarize(runs) for row, runs in raw[key].items()}
        for row, message in failures[key].items():
            summaries[key][row] = {"error": message}
    load_end = os.getloadavg()
    print(report(summaries, argon2, args, started, load_start, load_end, pinning, facts))
    if args.json_out:
        args.json_out.write_text(
            json.dumps(
                {
                    "date": started.isoformat(),
                    "machine": {
                        "cpu": cpu_model(),
                        "cores": os.cpu_count(),
                        "python": platform.python_version(),
                        "node": node_version(targets),
                        "load_average_start": load_start,
                        "load_average_end": load_end,
                        "pinning": pinning,
                    },
                    "settings": {
                        "runs": args.runs,
                        "seconds": args.seconds,
                        "warmup": args.warmup,
                        "concurrency": args.concurrency,
                        "threads": args.threads or None,
                        "ours_config": THROTTLE_CONFIG + POLICY_CONFIG,
                    },
                    "argon2": argon2,
                    "facts": facts,
                    "summary": summaries,
                    "runs": {
                        key: {
                            row: [{**asdict(m), "per_cpu_second": m.per_cpu_second} for m in runs]
                            for row, runs in raw[key].items()
                        }
                        for key in targets
                    },
                },
                indent=2,
            )
            + "\n"
        )
    return 1 if any(failures.values()) else 0


def node_version(targets: Sequence[str]) -> str | None:
    if "node" not in targets or not shutil.which("node"):
        return None
    version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    with contextlib.suppress(OSError, ValueError):
        package = NODE_DIR / "node_modules" / "oidc-provider" / "package.json"
        version += f", oidc-provider {json.loads(package.read_text())['version']}"
    return version


def report(
    summaries: Mapping[str, Mapping[str, Mapping[str, Any]]],
    argon2: Mapping[str, Any] | None,
    args: argparse.Namespace,
    started: datetime,
    load_start: Sequence[float],
    load_end: Sequence[float],
    pinning: str,
    facts: Mapping[str, Mapping[str, str]],
) -> str:
    lines = [
        f"## OIDC benchmark, {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"{cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}"
        + (f"; node {node_version(list(summaries))}" if "node" in summaries else "")
        + f"; load average {load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end.",
        f"{pinning}; medians of {args.runs} run(s) of {args.seconds:g} s a row (sign-in "
        f"{2 * args.seconds:g} s), each after {args.warmup:g} s of warm-up (and one unmeasured "
        f"pass over all rows first); {args.concurrency} "
        "keep-alive connection(s). Figures: operations per server CPU-second (the server's "
        "process tree, from /proc), with the p50/p99 latency.",
        "",
        format_table(summaries, argon2),
        "",
    ]
    notes = []
    if any(k != "node" for k in summaries):
        notes.append(
            f"ours: `idp serve --workers 1`{f' --threads {args.threads}' if args.threads else ''}"
            ' with [server] engine = "gunicorn" (the default) or "granian" (ours granian),'
            " as configured otherwise; for one address hammering it, the throttles are "
            "raised ([throttle] failed_per_ip_per_hour = 1000000, [lockout] threshold = "
            "1000), MFA registration is off and the risk policies are report-only (the risk "
            "engine still runs on every sign-in)."
        )
    if "node" in summaries:
        notes.append(
            "node: oidc-provider in memory, RS256 JWT access tokens for client "
            "credentials (resource indicator), refresh tokens rotated, sign-in "
            "through its development interactions (login, then consent)."
        )
    for fact, label in (
        ("client_credentials", "client-credentials access tokens"),
        ("refresh", "refresh tokens"),
    ):
        seen = [f"{TARGET_TITLES[k]} {f[fact]}" for k, f in facts.items() if fact in f]
        if seen:
            notes.append(f"{label}: " + ", ".join(seen))
    if argon2 and argon2["cpu_ms"] > 1 and any(k != "node" for k in summaries):
        notes.append(
            "the non-hashing row subtracts one verify measured in this process from "
            "the server's CPU per sign-in: with a costly hash it is within the noise "
            "of the verify (it can even come out negative); `--argon2 8,1,1 --rows "
            "sign_in` measures it directly, the verify then costing about 0.04 ms."
        )
    signin_http = {
        k: s["sign_in"]["http_per_request"]
        for k, s in summaries.items()
        if "sign_in" in s and "error" not in s["sign_in"]
    }
    if signin_http:
        notes.append(
            "HTTP requests per sign-in: "
            + ", ".join(f"{TARGET_TITLES[k]} {v:.0f}" for k, v in signin_http.items())
        )
    for key in (k for k in summaries if backend_of(k) == "postgresql"):
        db = [
            f"{ROW_TITLES[row].split(' (')[0]} {fmt_ms(s['db_cpu_ms_per_request'])}"
            for row, s in summaries[key].items()
            if "error" not in s and s.get("db_cpu_ms_per_request")
        ]
        if db:
            notes.append(
                f"{TARGET_TITLES[key]}: the PostgreSQL backends' CPU per operation "
                "(not in the figures above): " + ", ".join(db)
            )
    noisy = [
        f"{TARGET_TITLES[key]} {ROW_TITLES[row].split(' (')[0]} {s['spread']:.2f}x"
        for key, rows in summaries.items()
        for row, s in rows.items()
        if "error" not in s and s["runs"] > 1 and s["spread"] > 1.25
    ]
    if noisy:
        notes.append(
            "runs of a row that differ by more than 25% (fastest / slowest; a busy "
            "machine or a drifting server, see --json): " + ", ".join(noisy)
        )
    for key in (k for k in summaries if k.endswith(POPULATED)):
        empty = summaries.get(key.removesuffix(POPULATED), {})
        shares = [
            f"{ROW_TITLES[row].split(' (')[0]} "
            f"{full['per_cpu_second'] / base['per_cpu_second']:.2f}"
            for row, full in summaries[key].items()
            if "error" not in full
            and (base := empty.get(row))
            and "error" not in base
            and base["per_cpu_second"]
        ]
        if shares:
            notes.append(
                f"{TARGET_TITLES[key]} (10^4 clients, 10^5 users, 10^6 sign-in rows, 10^5 "
                "tokens: bench/populate.py), per CPU-second as a share of the empty "
                "database's: " + ", ".join(shares)
            )
    for key, rows in summaries.items():
        for row, summary in rows.items():
            if "error" in summary:
                notes.append(
                    f"{TARGET_TITLES[key]} {ROW_TITLES[row]} failed: {summary['error'][:500]}"
                )
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
