"""Server CPU per refused guess (account locked, IP throttled) next to one argon2 verify.

    python bench/attack_bench.py [--guesses 1000] [--rounds 5] [--database-url ...]

Serves the product with `idp serve` (one worker, its default threads) at the default
password cost (argon2id 64 MiB, t=3, p=4), locks an account and throttles an address, then
posts the sign-in form over HTTP with keep-alive. The worker's own CPU time (/proc, user +
system) over the refused guesses is divided by their number: the whole request, from the
socket to the 50053 page and its sign-in log row. Each round measures, side by side, the
CPU of one argon2 verify in this process and the guesses; the share printed is the median
of the rounds' shares. Target: a refused guess costs under 1% of a verify. Linux only.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from risk_bench import cpu_model

PASSWORD = "correct horse battery"


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def idp(*args: str, env: dict[str, str], stdin: str | None = None) -> str:
    return subprocess.run(
        [sys.executable, "-m", "idp", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


class Browser:
    """A browser at one address (X-Forwarded-For from loopback, which the server trusts)."""

    def __init__(self, base: str, client_id: str, ip: str) -> None:
        self.http = requests.Session()
        self.http.headers["X-Forwarded-For"] = ip
        start = self.http.get(
            f"{base}/authorize",
            params={
                "response_type": "code",
                "client_id": client_id,
                "scope": "openid",
                "redirect_uri": "https://rp.example/cb",
            },
            allow_redirects=False,
        )
        self.url = base + start.headers["Location"]
        page = self.http.get(self.url).text
        self.csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    def guess(self, username: str, password: str) -> int:
        return self.http.post(
            self.url,
            allow_redirects=False,
            data={"csrf_token": self.csrf, "username": username, "password": password},
        ).status_code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--guesses", type=int, default=1000, help="per row, over all rounds")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="idp-attack-bench-"))
    url = args.database_url or f"sqlite:///{folder / 'idp.db'}"
    config = folder / "idp.toml"
    config.write_text(
        f'secret_key = "attack-bench-secret-key-0123"\ndatabase_url = "{url}"\n'
        "[throttle]\nfailed_per_ip_per_hour = 20\n"
        '[policies.mfa_registration]\nstate = "off"\n'
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IDP_")},
        "IDP_CONFIG": str(config),
    }
    idp("db", "upgrade", env=env)
    # A name of this run's own: a PostgreSQL database may hold an earlier run's users.
    user = f"alice-{os.getpid()}"
    idp("users", "add", user, "--password-stdin", env=env, stdin=PASSWORD + "\n")
    client_id = json.loads(
        idp("clients", "add", "bench", "--redirect-uri", "https://rp.example/cb", "--json", env=env)
    )["client_id"]
    port = free_port()
    log = folder / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "idp",
                "serve",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        worker = None
        for _ in range(300):
            found = re.search(r"Booting worker with pid: (\d+)", log.read_text())
            if found:
                worker = int(found.group(1))
                break
            time.sleep(0.1)
        if worker is None:
            sys.exit(f"idp serve did not start:\n{log.read_text()}")
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(f"{base}/jwks.json", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.1)

        # Addresses of this run's own in RFC 2544's benchmarking range: on PostgreSQL the
        # counters of an earlier run within the hour are still there.
        first, second = random.sample(range(2**17), 2)
        locked = Browser(base, client_id, str(ipaddress.ip_address("198.18.0.0") + first))
        for _ in range(10):
            locked.guess(user, "wrong guess")
        assert locked.guess(user, PASSWORD) == 403
        throttled = Browser(base, client_id, str(ipaddress.ip_address("198.18.0.0") + second))
        for n in range(20):
            throttled.guess(f"user{n}", "wrong guess")
        assert throttled.guess(user, PASSWORD) == 429

        # Rounds, each measuring verifies and guesses side by side, so that both share the
        # machine's state of the moment (CPU time per request moves with what else runs).
        plain = requests.Session()
        per_round = max(1, args.guesses // args.rounds)
        rounds: list[dict[str, float]] = []
        for _ in range(args.rounds):
            verify = verify_ms()
            found = {"verify": verify}
            before = process_cpu_seconds(worker)
            for _ in range(per_round):
                plain.get(f"{base}/jwks.json")
            found["for scale: GET /jwks.json"] = (
                (process_cpu_seconds(worker) - before) * 1000 / per_round
            )
            for name, browser, typed, status in (
                ("account locked", locked, user, 403),
                ("IP throttled", throttled, "bob", 429),
            ):
                before = process_cpu_seconds(worker)
                statuses = {browser.guess(typed, f"guess {n}") for n in range(per_round)}
                assert statuses == {status}, statuses
                found[name] = (process_cpu_seconds(worker) - before) * 1000 / per_round
            rounds.append(found)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)

    print(
        f"CPU {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"database {url.split(':')[0]}, load average {os.getloadavg()[0]:.2f}, "
        f"{args.rounds} rounds of {per_round} requests a row"
    )
    verifies = [found["verify"] for found in rounds]
    print(
        "one argon2id verify (64 MiB, t=3, p=4): "
        f"{statistics.median(verifies):.1f} ms CPU (median of the rounds' medians of 3; "
        f"{min(verifies):.1f} to {max(verifies):.1f})"
    )
    for name in rounds[0]:
        if name == "verify":
            continue
        costs = [found[name] for found in rounds]
        shares = [100 * found[name] / found["verify"] for found in rounds]
        label = name if name.startswith("for scale") else f"refused guess, {name}"
        print(
            f"{label}: {statistics.median(costs):.2f} ms server CPU per request "
            f"= {statistics.median(shares):.2f}% of a verify "
            f"(median of the rounds; {min(shares):.2f}% to {max(shares):.2f}%)"
        )


def verify_ms() -> float:
    """The CPU of one argon2 verify at the default cost, in this process (median of 3)."""
    from idp.config import PasswordSettings
    from idp.passwords import PasswordHasher

    hasher = PasswordHasher(PasswordSettings())
    stored = hasher.hash(PASSWORD)
    costs = []
    for _ in range(3):
        start = time.process_time()
        hasher.verify(PASSWORD, stored)
        costs.append((time.process_time() - start) * 1000)
    return statistics.median(costs)


if __name__ == "__main__":
    main()
