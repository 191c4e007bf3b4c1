"""`idp serve` as operators run it: real gunicorn processes, real sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path):
    """`idp serve` with one worker of four threads on a migrated SQLite database."""
    config = tmp_path / "idp.toml"
    config.write_text('secret_key = "serve-test-secret-key-0123"\n'
                      f'database_url = "sqlite:///{tmp_path / "idp.db"}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    subprocess.run([sys.executable, "-m", "idp", "db", "upgrade", "--config", str(config)],
                   check=True, env=env, capture_output=True, timeout=120)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "idp", "serve", "--config", str(config), "--port", str(port),
         "--workers", "1", "--threads", "4"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/jwks.json", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.2)
    yield base, port
    os.killpg(proc.pid, signal.SIGTERM)
    log = proc.communicate(timeout=30)[0].decode()
    assert "Traceback" not in log, log


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
            assert [keepalive.get(f"{base}/jwks.json", timeout=60).status_code
                    for _ in range(3)] == [200, 200, 200]
    finally:
        for sock in stalled + idle:
            sock.close()
