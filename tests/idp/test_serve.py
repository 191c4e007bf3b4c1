"""`idp serve` as operators run it: real gunicorn (or granian) processes, real sockets."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest
import requests


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _migrated(tmp_path: Path, env: dict[str, str], extra: str = "") -> Path:
    """A config naming a new SQLite database in `tmp_path`, migrated; `extra` is appended."""
    config = tmp_path / "idp.toml"
    config.write_text(
        'secret_key = "serve-test-secret-key-0123"\n'
        f'database_url = "sqlite:///{tmp_path / "idp.db"}"\n{extra}'
    )
    subprocess.run(
        [sys.executable, "-m", "idp", "db", "upgrade", "--config", str(config)],
        check=True,
        env=env,
        capture_output=True,
        timeout=120,
    )
    return config


def _env(**extra: str) -> dict[str, str]:
    """This environment without the test run's IDP_ and PROMETHEUS_ settings, plus `extra`."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "PROMETHEUS_"))}
    return {**kept, **extra}


def _launch(
    args: list[str], tmp_path: Path, env: dict[str, str], log: str | None = None
) -> tuple[subprocess.Popen[bytes], IO[bytes] | None]:
    """`idp ARGS` in `tmp_path` and a session of its own, its output to the file `log` (a
    file, not a pipe: a full pipe would stop a server that logs every request) or nowhere."""
    output = (tmp_path / log).open("wb") if log else None
    proc = subprocess.Popen(
        [sys.executable, "-m", "idp", *args],
        cwd=tmp_path,
        env=env,
        stdout=output or subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return proc, output


def _ready(proc: subprocess.Popen[bytes], base: str, path: str) -> str:
    """`base`, once `path` answers 200 there; AssertionError if the server exits or a
    minute passes first."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if requests.get(f"{base}{path}", timeout=2).status_code == 200:
                return base
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"the server at {base} did not start")


@pytest.fixture(params=["gunicorn", "granian"])
def server(request, tmp_path: Path):
    """`idp serve` with one worker of four threads on a migrated SQLite database, with
    each server engine."""
    # A temporary folder of the test's own, to see the metrics folder the server makes.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = _env(TMPDIR=str(scratch), HOME=str(tmp_path / "home"))
    config = _migrated(tmp_path, env, f'[server]\nengine = "{request.param}"\n')
    port = _free_port()
    args = ["serve", "--config", str(config), "--port", str(port), "--workers", "1"]
    proc, output = _launch([*args, "--threads", "4"], tmp_path, env, "serve.log")
    base = _ready(proc, f"http://127.0.0.1:{port}", "/jwks.json")
    assert len(list(scratch.glob("idp-metrics-*"))) == 1
    yield base, port
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)
    output.close()
    # The metrics folder the server made for its workers went with it.
    assert not list(scratch.glob("idp-metrics-*"))
    # No gunicorn control socket in the user's home, where every server would share it.
    assert not (tmp_path / "home").exists()
    log = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in log, log
    # The workers log one JSON object a line; request lines carry paths, never queries.
    import json

    requests_seen = [
        json.loads(line)
        for line in log.splitlines()
        if line.startswith("{") and '"event": "request"' in line
    ]
    assert any(r["path"] == "/jwks.json" and r["status"] == 200 for r in requests_seen)
    assert all("?" not in r["path"] and r["request_id"] for r in requests_seen)


def test_stalled_clients_do_not_stop_the_server(server):
    """Clients that send half a request and stall, and clients that connect and say nothing,
    do not take the threads that answer everyone else."""
    base, port = server
    stalled = []
    for _ in range(3):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"GET /jwks.json HTTP/1.1\r\nHost: idp\r\n")
        stalled.append(sock)
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    try:
        # With plain gthread the idle clients alone would hold the four threads for ~25 s;
        # 10 s is a bound on liveness, far above the answer's usual milliseconds.
        response = requests.get(f"{base}/.well-known/openid-configuration", timeout=10)
        assert response.status_code == 200 and response.json()["issuer"]
        with requests.Session() as keepalive:
            assert [
                keepalive.get(f"{base}/jwks.json", timeout=60).status_code for _ in range(3)
            ] == [200, 200, 200]
        # The worker's metrics reach /metrics through prometheus_client's multiprocess files.
        metrics = requests.get(f"{base}/metrics", timeout=10).text
        count = re.search(
            r'idp_request_duration_seconds_count\{endpoint="oauth.jwks",'
            r'method="GET"\} ([0-9.]+)',
            metrics,
        )
        assert count is not None and float(count.group(1)) >= 3
    finally:
        for sock in stalled + idle:
            sock.close()


def _let_go(stalled: list[socket.socket]) -> None:
    """Each stalled client's connection is closed without an answer, well within a minute
    (the server's read timeout is 10 s)."""
    for sock in stalled:
        sock.settimeout(60)
        try:
            assert sock.recv(1024) == b""
        except ConnectionResetError:
            pass


@pytest.mark.parametrize("server", ["gunicorn"], indirect=True)
def test_a_client_stalled_in_its_request_is_let_go(server):
    """Four clients that send half a request and stall hold all four threads, until the
    read timeout (the kernel's, on a blocking socket) ends each one."""
    base, port = server
    stalled = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
    try:
        for sock in stalled:
            sock.sendall(b"GET /jwks.json HTTP/1.1\r\nHost: idp\r\n")
        _let_go(stalled)
        assert requests.get(f"{base}/jwks.json", timeout=10).status_code == 200
    finally:
        for sock in stalled:
            sock.close()


@pytest.fixture
def demo(tmp_path: Path):
    """`idp demo` in a folder of its own, as a user starts it; stopped with Ctrl+C."""
    env = _env(HOME=str(tmp_path / "home"))
    port = _free_port()
    proc, output = _launch(["demo", "--port", str(port)], tmp_path, env, "demo.log")
    base = _ready(proc, f"http://127.0.0.1:{port}", "/demo")
    yield base, port
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    output.close()
    log = (tmp_path / "demo.log").read_text()
    assert "Traceback" not in log and "ERROR" not in log, log
    assert not (tmp_path / "home").exists()


def test_the_demo_is_served_by_gunicorn_and_lets_stalled_clients_go(demo):
    """The README's first command serves what an attacker reaches with the server `idp
    serve` uses: clients that stall or say nothing neither hold a thread each for ever nor
    stop the others being answered."""
    base, port = demo
    stalled = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    try:
        for sock in stalled:
            sock.sendall(b"GET /demo HTTP/1.1\r\nHost: idp\r\n")
        page = requests.get(f"{base}/demo", timeout=10)
        assert page.status_code == 200 and "Sign in" in page.text
        assert not page.headers.get("Server", "").startswith("Werkzeug")
        _let_go(stalled)
    finally:
        for sock in stalled + idle:
            sock.close()


@pytest.mark.parametrize("command", ["demo", "serve"])
def test_a_port_in_use_or_a_foreign_address_stops_start_up_in_one_line(
    tmp_path: Path, command: str
):
    env = _env()
    config = ["--config", str(_migrated(tmp_path, env))] if command == "serve" else []
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cases = {
            ("127.0.0.1", port): f"idp: cannot listen on 127.0.0.1:{port}: Address already in use",
            # TEST-NET-3: an address no interface of this machine has.
            ("203.0.113.7", port): (
                f"idp: cannot listen on 203.0.113.7:{port}: Cannot assign requested address"
            ),
        }
        for (host, at), message in cases.items():
            run = subprocess.run(
                [sys.executable, "-m", "idp", command, *config, "--host", host, "--port", str(at)],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            # One line, and no banner for a server that never ran.
            assert (run.returncode, run.stdout, run.stderr) == (2, "", message + "\n")


def _whole_answers(sock: socket.socket, count: int) -> list[bytes]:
    """`count` whole answers (head and body) read off a kept-alive connection: each body as
    long as its Content-Length, none for a 304."""
    data, answers = b"", []
    while len(answers) < count:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            chunk = sock.recv(65536)
            assert chunk, "connection closed early"
            data += chunk
            continue
        if head.startswith(b"HTTP/1.1 304 "):
            length = 0
        else:
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        if len(rest) < length:
            data += sock.recv(65536)
            continue
        answers.append(head + sep + rest[:length])
        data = rest[length:]
    return answers


def _answers(sock: socket.socket, count: int) -> list[bytes]:
    """The status lines of `count` answers read off a kept-alive connection."""
    return [answer.split(b"\r\n")[0] for answer in _whole_answers(sock, count)]


def test_kept_alive_clients_are_answered_in_turn_and_cannot_take_every_thread(server):
    """Requests sent back to back, or several in one packet, on one connection are all
    answered in order; clients that keep all four threads' worth of connections busy
    leave the server answering a newcomer."""
    import threading

    base, port = server
    request = b"GET /jwks.json HTTP/1.1\r\nHost: idp\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request * 3)
        assert _answers(sock, 3) == [b"HTTP/1.1 200 OK"] * 3
        for _ in range(50):
            sock.sendall(request)
            assert _answers(sock, 1) == [b"HTTP/1.1 200 OK"]

    stop = threading.Event()
    statuses: list[bytes] = []

    def flood() -> None:
        # Ten requests at a time on one connection, the next ten as soon as they are
        # answered: a client that always has a request waiting.
        with socket.create_connection(("127.0.0.1", port), timeout=30) as flooder:
            while not stop.is_set():
                flooder.sendall(request * 10)
                statuses.extend(_answers(flooder, 10))

    flooders = [threading.Thread(target=flood) for _ in range(4)]
    for thread in flooders:
        thread.start()
    try:
        time.sleep(0.5)
        for _ in range(10):
            # 10 s is a bound on liveness, far above the answer's usual milliseconds.
            with requests.Session() as newcomer:
                answer = newcomer.get(f"{base}/.well-known/openid-configuration", timeout=10)
                assert answer.status_code == 200
    finally:
        stop.set()
        for thread in flooders:
            thread.join(timeout=60)
    assert statuses and set(statuses) == {b"HTTP/1.1 200 OK"}


@pytest.mark.parametrize("server", ["gunicorn"], indirect=True)
def test_a_kept_alive_clients_plain_gets_get_gunicorns_bytes_from_the_socket(server):
    """A connection's first request is gunicorn's to read; its later plain GETs and HEADs of
    discovery and JWKS are answered from the socket (idp.serve.SocketAnswers) with the
    same bytes but the Date, and anything else on the same connection is gunicorn's again."""
    base, port = server
    # Both documents built (a worker's first answer of each is Flask's, headers in its order).
    requests.get(f"{base}/.well-known/openid-configuration", timeout=10)
    etag = requests.get(f"{base}/jwks.json", timeout=10).headers["ETag"]
    date = re.compile(rb"\r\nDate: [^\r]*")
    statuses = set()
    for path in ("/jwks.json", "/.well-known/openid-configuration"):
        for method, extra in (("GET", ""), ("GET", f"If-None-Match: {etag}\r\n")):
            request = f"{method} {path} HTTP/1.1\r\nHost: idp\r\n{extra}\r\n".encode()
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                answers = []
                for _ in range(5):
                    sock.sendall(request)
                    answers.append(date.sub(b"", _whole_answers(sock, 1)[0]))
                    time.sleep(0.01)  # one at a time, not read ahead
                assert len(set(answers)) == 1, answers
                # The same connection then serves gunicorn's own requests as ever.
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: idp\r\n\r\n")
                assert _whole_answers(sock, 1)[0].startswith(b"HTTP/1.1 200 OK")
                sock.sendall(request.replace(b"\r\n\r\n", b"\r\nContent-Length: 0\r\n\r\n"))
                assert date.sub(b"", _whole_answers(sock, 1)[0]) == answers[0]
                statuses.add(answers[0].split(b"\r\n", 1)[0])
    assert statuses == {b"HTTP/1.1 200 OK", b"HTTP/1.1 304 NOT MODIFIED"}


def _start(config: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """`idp serve` with one worker, in the config's folder, once it answers."""
    port = _free_port()
    args = ["serve", "--config", str(config), "--port", str(port), "--workers", "1"]
    proc, _ = _launch(args, config.parent, env)
    return proc, _ready(proc, f"http://127.0.0.1:{port}", "/jwks.json")


def test_a_metrics_folder_the_operator_names_outlives_the_server(tmp_path: Path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IDP_")},
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
    }
    config = _migrated(tmp_path, env)
    proc, base = _start(config, env)
    assert requests.get(f"{base}/jwks.json", timeout=5).status_code == 200
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)
    assert list(folder.glob("*.db")), "the workers wrote their metrics there"


@pytest.fixture(params=["database", "redis"])
def two_servers(request, tmp_path: Path, database_url: str):
    """Two `idp serve` processes on one database, counting in it or in one Redis."""
    import json

    lines = [
        'secret_key = "two-servers-secret-key-0123"',
        f'database_url = "{database_url}"',
        "[policies.mfa_registration]",
        'state = "off"',
    ]
    if request.param == "redis":
        from tests.idp.test_attack_protection import redis_or_skip

        lines.insert(2, f'redis_url = "{redis_or_skip()}"')
    config = tmp_path / "idp.toml"
    config.write_text("\n".join(lines) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}

    def idp(*args: str, stdin: str | None = None) -> str:
        return subprocess.run(
            [sys.executable, "-m", "idp", *args, "--config", str(config)],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout

    idp("db", "upgrade")
    idp("users", "add", "alice", "--password-stdin", stdin="correct horse battery\n")
    client_id = json.loads(
        idp("clients", "add", "app", "--redirect-uri", "https://rp.example/cb", "--json")
    )["client_id"]
    servers = [_start(config, env) for _ in range(2)]
    yield [base for _, base in servers], client_id
    for proc, _ in servers:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_lockout_holds_across_two_server_processes(two_servers):
    (first, second), client_id = two_servers
    http = requests.Session()
    http.headers["X-Forwarded-For"] = "203.0.113.77"
    start = http.get(
        f"{first}/authorize",
        allow_redirects=False,
        params={
            "response_type": "code",
            "client_id": client_id,
            "scope": "openid",
            "redirect_uri": "https://rp.example/cb",
        },
    )
    path = start.headers["Location"]
    page = http.get(first + path).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    def guess(base: str, password: str) -> requests.Response:
        return http.post(
            base + path,
            allow_redirects=False,
            data={"csrf_token": csrf, "username": "alice", "password": password},
        )

    statuses = [guess((first, second)[n % 2], "wrong guess").status_code for n in range(10)]
    assert statuses == [401] * 10
    for base in (first, second):
        locked = guess(base, "correct horse battery")
        assert locked.status_code == 403 and locked.headers["Retry-After"]
        assert "50053" in locked.text


def test_feed_files_rewritten_under_load_kill_no_worker(tmp_path: Path, feed_files):
    """Requests keep coming (readiness checks, each looking at the feed files) while the
    GeoIP and leaked-password files are truncated and rewritten in place: the worker never
    dies and never answers 5xx other than /readyz's 503 while the leaked file is broken."""
    import shutil
    import threading

    feeds = {}
    for key in ("geoip_city_db", "leaked_passwords"):
        feeds[key] = tmp_path / Path(feed_files[key]).name
        shutil.copy(feed_files[key], feeds[key])
    config = tmp_path / "idp.toml"
    config.write_text(
        'secret_key = "feeds-under-load-secret-0123"\n'
        f'database_url = "sqlite:///{tmp_path / "idp.db"}"\n'
        '[policies.mfa_registration]\nstate = "off"\n[risk]\nfeed_check_seconds = 1\n'
        + "".join(f'{key} = "{path}"\n' for key, path in feeds.items())
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    for args in (["db", "upgrade"], ["users", "add", "alice", "--password-stdin"]):
        subprocess.run(
            [sys.executable, "-m", "idp", *args, "--config", str(config)],
            env=env,
            input="correct horse battery\n",
            text=True,
            check=True,
            capture_output=True,
            timeout=120,
        )
    proc, base = _start(config, env)
    try:
        statuses: list[bytes] = []
        stop = threading.Event()

        def ask_forever() -> None:
            http = requests.Session()
            while not stop.is_set():
                statuses.append(http.get(f"{base}/readyz", timeout=30).status_code)
                statuses.append(http.get(f"{base}/healthz", timeout=30).status_code)

        workers_before = _worker_pids(proc.pid)
        threads = [threading.Thread(target=ask_forever) for _ in range(2)]
        for thread in threads:
            thread.start()
        whole = {key: path.read_bytes() for key, path in feeds.items()}
        for size in (0, 7, 100, 4096) * 3:
            for key, path in feeds.items():
                with path.open("r+b") as handle:
                    handle.truncate(size)
                    handle.seek(0)
                    handle.write(whole[key][:size])
            time.sleep(0.4)
        for key, path in feeds.items():
            path.write_bytes(whole[key])
        time.sleep(1.5)
        stop.set()
        for thread in threads:
            thread.join(30)
        assert statuses and all(status in (200, 503) for status in statuses)
        assert 503 in statuses  # the broken leaked file showed on /readyz while it lasted
        ready = requests.get(f"{base}/readyz", timeout=30).json()
        assert ready["status"] == "ready", ready
        assert _worker_pids(proc.pid) == workers_before
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def _worker_pids(master: int) -> set[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {int(pid) for pid in children}


def test_workers_freeze_the_app_out_of_the_collectors_sight(app):
    import gc

    from idp.serve import _frozen

    try:
        assert _frozen(app) is app
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_a_closing_socket_takes_what_has_arrived_and_waits_for_nothing():
    """gunicorn's graceful close lingers for the client's side of the close on the worker's
    main thread: once shut down, the socket reads only what is already there."""
    from gunicorn import util

    from idp.serve import _Stalled

    ours, client = socket.socketpair()
    with ours, client:
        sock = _Stalled(ours)
        sock.setblocking(True)
        assert sock.gettimeout() is None  # serving: blocking, with the kernel's timeouts
        client.sendall(b"late bytes")
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(2.0)  # what gunicorn asks for while it lingers
        assert sock.gettimeout() == 0.0
        assert sock.recv(4096) == b"late bytes"
        with pytest.raises(BlockingIOError):
            sock.recv(4096)  # nothing more has arrived: no waiting for it
        # gunicorn's own graceful close ends at once, though the client never closes.
        util.close_graceful(sock)
        assert client.recv(10) == b""
