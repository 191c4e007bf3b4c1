"""What a whole sign-in costs the provider in this process, and what it asks the database.

No HTTP server: Flask's test client runs the sign-in `oidc_bench.py` serves (authorize, the
sign-in page and its POST, which answers with the code, the token, userinfo), each as a new
browser, with a nearly free password hash. The figure is this process's CPU (user and
system) per sign-in, the median of batches: steadier than a served run on a shared
machine, so it suits comparing two commits (run each tree with `PYTHONPATH=<tree>`, in
turns). `--statements` prints what one sign-in sends to the database, step by step.

    python bench/signin_cost.py [--postgresql-url URL] [--sign-ins 150] [--batches 5]
                                [--statements]
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import hashlib
import os
import re
import secrets
import statistics
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import sqlalchemy as sa
from oidc_bench import PASSWORD, REDIRECT_URI, SIGN_IN_SCOPE, USERNAME, scratch_postgres

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Rp:
    """The relying party the sign-ins are for."""

    client_id: str
    secret: str


def build(url: str, instance: str) -> tuple[Any, Rp]:
    """The app on a migrated database at `url`, with the bench's user and client."""
    from idp import create_app
    from idp.clients import create_client
    from idp.config import PasswordSettings, demo_settings
    from idp.migrate import upgrade
    from idp.users import create_user

    upgrade(url)
    base = demo_settings(instance)
    settings = replace(
        base,
        database_url=url,
        passwords=PasswordSettings(argon2_memory_kib=8, argon2_time_cost=1, argon2_parallelism=1),
        policies=replace(
            base.policies,
            mfa_registration=replace(base.policies.mfa_registration, state="off"),
        ),
    )
    app = create_app(settings)
    with app.app_context():
        create_user(app, USERNAME, PASSWORD)
        client, secret = create_client(
            "Bench RP",
            redirect_uris=[REDIRECT_URI],
            post_logout_redirect_uris=[],
            public=False,
            grant_types=["authorization_code", "refresh_token"],
            scopes=SIGN_IN_SCOPE.split(),
        )
        assert secret is not None
        return app, Rp(client.client_id, secret)


def sign_in(app: Any, rp: Rp) -> None:
    """One whole sign-in as a new browser; raises if any step answers otherwise."""
    browser = app.test_client()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": SIGN_IN_SCOPE,
        "state": "bench",
        "nonce": secrets.token_urlsafe(12),
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    login = _redirect(browser.get("/authorize?" + urlencode(query)), "/login")
    found = CSRF.search(browser.get(login).get_data(as_text=True))
    if found is None:
        raise RuntimeError("the sign-in page has no CSRF token")
    form = {"csrf_token": found.group(1), "username": USERNAME, "password": PASSWORD}
    answer = browser.post(login, data=form)
    if "/authorize" in answer.headers.get("Location", ""):  # a server that sends it back
        answer = browser.get(answer.headers["Location"])
    code = parse_qs(urlsplit(_redirect(answer, REDIRECT_URI)).query)["code"][0]
    basic = base64.b64encode(f"{rp.client_id}:{rp.secret}".encode()).decode()
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    answer = browser.post("/token", data=form, headers={"Authorization": f"Basic {basic}"})
    if answer.status_code != 200:
        raise RuntimeError(f"token: {answer.status_code} {answer.get_data(as_text=True)[:200]}")
    bearer = {"Authorization": f"Bearer {answer.get_json()['access_token']}"}
    if browser.get("/userinfo", headers=bearer).status_code != 200:
        raise RuntimeError("userinfo refused the new access token")


def _redirect(answer: Any, to: str) -> str:
    location = answer.headers.get("Location", "")
    if answer.status_code != 302 or to not in location:
        raise RuntimeError(f"expected a redirect to {to}: {answer.status_code} {location}")
    return str(location)


def cpu_per_sign_in(app: Any, rp: Rp, sign_ins: int, batches: int) -> list[float]:
    """Milliseconds of this process's CPU per sign-in, one figure per batch (after a
    warm-up of a third of a batch)."""
    for _ in range(max(1, sign_ins // 3)):
        sign_in(app, rp)
    figures = []
    for _ in range(batches):
        before = os.times()
        for _ in range(sign_ins):
            sign_in(app, rp)
        after = os.times()
        spent = after.user - before.user + after.system - before.system
        figures.append(1000 * spent / sign_ins)
    return figures


def statements(app: Any, rp: Rp) -> dict[str, list[str]]:
    """What one sign-in sends to the database, by request: each statement's first words,
    and COMMIT where a connection's transaction that wrote ends. Lean statements included.
    A request that goes on as another (the password's POST, as its GET of /authorize) is
    named as both."""
    from flask import has_request_context, request

    from idp.extensions import db
    from idp.leansql import _OWN, Lean
    from idp.views.oauth import RESUMED_FROM

    sign_in(app, rp)  # warm: first-use work (keys, caches) is not counted
    seen: dict[str, list[str]] = collections.defaultdict(list)
    wrote: set[int] = set()

    def step() -> str:
        if not has_request_context():
            return "(in front of Flask)"
        this = f"{request.method} {request.path}"
        outer = request.environ.get(RESUMED_FROM)
        return f"{outer}, going on as {this}" if outer else this

    def note(sql: str, connection: Any) -> None:
        words = " ".join(sql.split()[:4])
        seen[step()].append(words)
        if words.split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            wrote.add(id(connection))

    def on_statement(conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        note(sql, conn)

    def on_commit(conn: Any) -> None:
        if id(conn) in wrote:
            seen[step()].append("COMMIT")
        wrote.discard(id(conn))

    with app.app_context():
        engine = db.engine
    lean_run = Lean._run

    def lean(self: Lean, params: Any, fetch: bool) -> list[Any]:
        sql = self._by_dialect[engine.dialect.name].sql if self._by_dialect else "LEAN"
        note(sql, _OWN.get() or db.session.connection())
        return lean_run(self, params, fetch)

    sa.event.listen(engine, "before_cursor_execute", on_statement)
    sa.event.listen(engine, "commit", on_commit)
    Lean._run = lean  # type: ignore[method-assign]
    try:
        sign_in(app, rp)
    finally:
        Lean._run = lean_run  # type: ignore[method-assign]
        sa.event.remove(engine, "commit", on_commit)
        sa.event.remove(engine, "before_cursor_execute", on_statement)
    return dict(seen)


@contextlib.contextmanager
def database(postgresql_url: str | None) -> Iterator[tuple[str, str]]:
    """(database URL, instance folder): a scratch PostgreSQL database, or a SQLite file."""
    with tempfile.TemporaryDirectory(prefix="idp-signin-cost-") as folder:
        if postgresql_url:
            with scratch_postgres(postgresql_url):
                yield postgresql_url, folder
        else:
            yield f"sqlite:///{folder}/idp.db", folder


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgresql-url",
        help="a scratch database the bench creates and drops (default: a SQLite file), "
        "e.g. postgresql+psycopg://postgres@127.0.0.1:5432/bench_cost",
    )
    parser.add_argument("--sign-ins", type=int, default=150, help="per batch (150)")
    parser.add_argument("--batches", type=int, default=5, help="figures, of which the median (5)")
    parser.add_argument("--statements", action="store_true", help="print one sign-in's SQL")
    args = parser.parse_args(argv)
    with database(args.postgresql_url) as (url, instance):
        app, rp = build(url, instance)
        backend = "PostgreSQL" if args.postgresql_url else "SQLite"
        if args.statements:
            for name, sent in statements(app, rp).items():
                print(f"{name}: {len(sent)}")
                for words in sent:
                    print(f"    {words}")
        figures = cpu_per_sign_in(app, rp, args.sign_ins, args.batches)
        with app.app_context():
            from idp.extensions import db

            db.session.remove()
            db.engine.dispose()
    print(
        f"{backend}: {statistics.median(figures):.2f} ms of CPU a sign-in (median of "
        f"{len(figures)} batches of {args.sign_ins}: "
        + ", ".join(f"{f:.2f}" for f in figures)
        + f"); load average {os.getloadavg()[0]:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
