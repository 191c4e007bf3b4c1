"""OpenID Connect Back-Channel Logout 1.0: a real HTTP receiver gets a logout token, signed
with a key from the JWKS, whenever a session its client was used in ends."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
import sqlalchemy as sa

from idp import admin_actions, backchannel
from idp.clock import FrozenClock
from idp.models import BackchannelLogout, Client
from tests.conftest import ISSUER, Provider, RelyingParty, csrf_from
from tests.idp.conftest import LONDON, StepUp, submit_code
from tests.idp.test_api_support import AdminApi

EVENT = "http://schemas.openid.net/event/backchannel-logout"


class Receiver:
    """A relying party's back-channel logout endpoint: an HTTP server on 127.0.0.1 that
    records every request and answers with the statuses it is given (then 200)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[int] = []
        self.hang = False
        self.drip = False
        self.raw: bytes | None = None
        self.release = threading.Event()
        self.got = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                receiver.requests.append(
                    {
                        "path": self.path,
                        "body": body,
                        "content_type": self.headers.get("Content-Type"),
                    }
                )
                receiver.got.set()
                if receiver.hang:
                    receiver.release.wait(10)
                if receiver.drip:
                    self.drip_headers()
                    return
                if receiver.raw is not None:
                    self.wfile.write(receiver.raw)
                    self.close_connection = True
                    return
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", f"{receiver.url}/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def drip_headers(self) -> None:
                # A header a little faster than the client's timeout, never ending.
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                while not receiver.release.wait(0.2):
                    self.wfile.write(b"X-Drip: 1\r\n")
                    self.wfile.flush()

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                # A hung request whose client gave up: the broken pipe is expected.
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}
        )
        self.thread.start()

    @property
    def tokens(self) -> list[str]:
        return [parse_qs(r["body"])["logout_token"][0] for r in self.requests]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def receiver() -> Any:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def clock() -> FrozenClock:
    # Now, not a date in the past: receivers check the logout token's exp.
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def bcl(make_app: Any, clock: FrozenClock) -> Provider:
    return Provider(make_app(clock=clock))


def logout_rp(
    provider: Provider,
    uri: str | None,
    *,
    session_required: bool = False,
    dynamic: bool = False,
    browser_of: RelyingParty | None = None,
) -> RelyingParty:
    """A confidential client with a back-channel logout URI (or none), optionally sharing
    another RP's browser (so its sign-in joins that browser's session)."""
    from idp.clients import create_client
    from idp.extensions import db

    with provider.app.app_context():
        client, secret = create_client(
            "Back-channel RP",
            redirect_uris=["https://rp.example/cb"],
            post_logout_redirect_uris=[],
            public=False,
            grant_types=[],
            scopes=[],
            backchannel_logout_uri=f"{uri}/backchannel" if uri else None,
            backchannel_logout_session_required=session_required,
        )
        if dynamic:
            client.registered_dynamically = True
            db.session.commit()
        rp = RelyingParty(provider.app, client.client_id, secret)
    if browser_of is not None:
        rp.browser = browser_of.browser
    return rp


def rows(app: Any) -> list[BackchannelLogout]:
    from idp.extensions import db

    with app.app_context():
        found = list(db.session.scalars(sa.select(BackchannelLogout)))
        db.session.expunge_all()
        # Sorted here: PostgreSQL's collation orders '-' and '_' unlike Python.
        return sorted(found, key=lambda r: (r.client_id, r.sid or ""))


def deliver(app: Any, **kwargs: Any) -> backchannel.DeliveryRun:
    from idp.extensions import db

    with app.app_context():
        try:
            return backchannel.deliver_due(**kwargs)
        finally:
            db.session.remove()


def verify(
    app: Any, token: str, client_id: str, check_times: bool = True
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check a logout token as a relying party would: signature against /jwks.json, then
    iss, aud and (unless told not to) iat and exp."""
    header = jwt.get_unverified_header(token)
    keys = app.test_client().get("/jwks.json").get_json()["keys"]
    key = next(jwt.PyJWK(k) for k in keys if k["kid"] == header["kid"])
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=client_id,
        issuer=ISSUER,
        options={
            "require": ["iat", "exp", "jti"],
            "verify_exp": check_times,
            "verify_iat": check_times,
        },
    )
    return header, dict(claims)


def rp_logout(provider: Provider, rp: RelyingParty, tokens: dict[str, Any], user_id: str) -> None:
    response = rp.browser.get(f"/logout?id_token_hint={tokens['id_token']}")
    assert response.status_code == 200, response.get_data(as_text=True)


def api_revoke(provider: Provider, rp: RelyingParty, tokens: dict[str, Any], user_id: str) -> None:
    response = AdminApi(provider).post(f"/users/{user_id}/revokeSignInSessions")
    assert response.status_code == 200 and response.get_json() == {"value": True}


def api_confirm_compromised(
    provider: Provider, rp: RelyingParty, tokens: dict[str, Any], user_id: str
) -> None:
    response = AdminApi(provider).post(
        "/identityProtection/riskyUsers/confirmCompromised", {"userIds": [user_id]}
    )
    assert response.status_code == 204


def api_temporary_password(
    provider: Provider, rp: RelyingParty, tokens: dict[str, Any], user_id: str
) -> None:
    response = AdminApi(provider).post(
        f"/users/{user_id}/resetPassword", {"mode": "temporaryPassword"}
    )
    assert response.status_code == 200


def admin_disable(
    provider: Provider, rp: RelyingParty, tokens: dict[str, Any], user_id: str
) -> None:
    with provider.app.app_context():
        admin_actions.disable_user(user_id, "root")


def admin_delete(
    provider: Provider, rp: RelyingParty, tokens: dict[str, Any], user_id: str
) -> None:
    with provider.app.app_context():
        admin_actions.remove_user(user_id, "root")


TRIGGERS: list[tuple[Callable[..., None], str]] = [
    (rp_logout, "logout"),
    (api_revoke, "admin_revoke"),
    (api_confirm_compromised, "compromised"),
    (api_temporary_password, "temporary_password"),
    (admin_disable, "user_disabled"),
    (admin_delete, "user_deleted"),
]


@pytest.mark.parametrize(("trigger", "reason"), TRIGGERS, ids=[reason for _, reason in TRIGGERS])
def test_session_end_delivers_a_logout_token_that_verifies(bcl, receiver, trigger, reason):
    user_id = bcl.user()
    rp = logout_rp(bcl, receiver.url, session_required=True)
    tokens = rp.tokens()
    sid = rp.verify_id_token(tokens["id_token"])["sid"]
    trigger(bcl, rp, tokens, user_id)
    [row] = rows(bcl.app)
    assert (row.client_id, row.user_id, row.sid, row.reason, row.attempts) == (
        rp.client_id,
        user_id,
        sid,
        reason,
        0,
    )
    assert receiver.requests == []  # nothing is sent inside the user's request
    run = deliver(bcl.app)
    assert (run.delivered, run.failed) == (1, 0)
    [request] = receiver.requests
    assert request["path"] == "/backchannel"
    assert request["content_type"] == "application/x-www-form-urlencoded"
    header, claims = verify(bcl.app, receiver.tokens[0], rp.client_id)
    assert header["typ"] == "logout+jwt" and header["alg"] == "RS256" and header["kid"]
    assert claims == {
        "iss": ISSUER,
        "aud": rp.client_id,
        "sub": user_id,
        "sid": sid,
        "jti": row.jti,
        "events": {EVENT: {}},
        "iat": claims["iat"],
        "exp": claims["iat"] + 120,
    }
    assert "nonce" not in claims
    [done] = rows(bcl.app)
    assert (done.attempts, done.last_status, done.last_error, done.next_attempt_at) == (
        1,
        200,
        None,
        None,
    )
    assert done.delivered_at is not None
    metrics = bcl.app.test_client().get("/metrics").get_data(as_text=True)
    assert 'idp_backchannel_logout_total{result="delivered"}' in metrics


def test_remediated_compromise_tells_the_other_sessions_clients(
    make_app, risky_settings, clock, receiver
):
    """A compromised account is remediated by a secured password change in a new session:
    the apps of every other session get a logout token, the new session's app none."""
    from idp import user_risk
    from risk.detections import admin_confirmed_compromised

    stepup = StepUp(make_app(risky_settings, clock=clock), clock)
    user_id = stepup.user("alice", "first-password-1")
    secret = stepup.register_totp()
    laptop = logout_rp(stepup, receiver.url)
    laptop.browser.environ_base["HTTP_X_FORWARDED_FOR"] = LONDON
    laptop_sid = laptop.verify_id_token(laptop.tokens("alice", "first-password-1")["id_token"])[
        "sid"
    ]
    stepup.with_app(
        lambda: user_risk.raise_user_detection(
            user_id, admin_confirmed_compromised(admin="root"), correlation_id="c"
        )
    )
    phone = logout_rp(stepup, receiver.url)
    phone.browser.environ_base["HTTP_X_FORWARDED_FOR"] = LONDON
    challenge = phone.sign_in("alice", "first-password-1")
    change = phone.browser.get(submit_code(phone, challenge.location, stepup.code(secret)).location)
    assert "/password/change" in change.location
    page = phone.browser.get(change.location)
    done = phone.browser.post(
        change.location,
        data={
            "csrf_token": csrf_from(page),
            "new_password": "second-password-2",
            "confirm_password": "second-password-2",
        },
    )
    assert phone.code_from(phone.browser.get(done.location))
    assert [(r.client_id, r.sid, r.reason) for r in rows(stepup.app)] == [
        (laptop.client_id, laptop_sid, "risk_remediation")
    ]
    assert deliver(stepup.app).delivered == 1
    _, claims = verify(stepup.app, receiver.tokens[0], laptop.client_id)
    assert (claims["sub"], claims["sid"], claims["events"]) == (user_id, laptop_sid, {EVENT: {}})


def test_only_clients_used_in_the_ended_session_and_registered_are_told(bcl, receiver):
    user_id = bcl.user()
    used = logout_rp(bcl, receiver.url)
    tokens = used.tokens()
    without_uri = logout_rp(bcl, None, browser_of=used)
    without_uri.tokens()
    logout_rp(bcl, receiver.url)  # registered, never used by this user
    # Another browser's session of the same user, with the same app: it stays signed in.
    other_browser = RelyingParty(bcl.app, used.client_id, used.secret)
    other_sid = used.verify_id_token(other_browser.tokens()["id_token"])["sid"]
    sid = used.verify_id_token(tokens["id_token"])["sid"]
    rp_logout(bcl, used, tokens, user_id)
    assert [(r.client_id, r.sid) for r in rows(bcl.app)] == [(used.client_id, sid)]
    assert deliver(bcl.app).delivered == 1
    assert [verify(bcl.app, t, used.client_id)[1]["sid"] for t in receiver.tokens] == [sid]
    assert other_sid != sid


def test_revoking_every_session_tells_each_sessions_clients_with_its_sid(bcl, receiver):
    user_id = bcl.user()
    first = logout_rp(bcl, receiver.url)
    second = logout_rp(bcl, receiver.url, browser_of=first)
    sid_a = first.verify_id_token(first.tokens()["id_token"])["sid"]
    assert second.verify_id_token(second.tokens()["id_token"])["sid"] == sid_a
    elsewhere = RelyingParty(bcl.app, first.client_id, first.secret)
    sid_b = first.verify_id_token(elsewhere.tokens()["id_token"])["sid"]
    api_revoke(bcl, first, {}, user_id)
    expected = sorted(
        [(first.client_id, sid_a), (first.client_id, sid_b), (second.client_id, sid_a)]
    )
    assert [(r.client_id, r.sid) for r in rows(bcl.app)] == expected
    assert deliver(bcl.app).delivered == 3
    seen = []
    for token in receiver.tokens:
        aud = jwt.decode(token, options={"verify_signature": False})["aud"]
        seen.append((aud, verify(bcl.app, token, aud)[1]["sid"]))
    assert sorted(seen) == expected
    # A second revoke finds nothing live: nobody is told twice.
    api_revoke(bcl, first, {}, user_id)
    assert len(rows(bcl.app)) == 3


RETRIES = [
    ([500, 200], 2, True),
    ([503, 502, 404, 204], 4, True),
    ([302, 200], 2, True),
    ([500] * 6, 6, False),
    ([400] * 6, 6, False),
]


@pytest.mark.parametrize(
    ("answers", "attempts", "delivered"),
    RETRIES,
    ids=["500-then-200", "errors-then-204", "redirect-not-followed", "always-500", "always-400"],
)
def test_failed_deliveries_retry_with_backoff(
    bcl, receiver, clock, caplog, answers, attempts, delivered
):
    bcl.user()
    rp = logout_rp(bcl, receiver.url)
    tokens = rp.tokens()
    rp_logout(bcl, rp, tokens, "")
    receiver.answers = list(answers)
    caplog.set_level(logging.INFO, logger="idp.backchannel")
    waits = [timedelta(0), *backchannel.BACKOFF]
    for number in range(attempts):
        clock.advance(seconds=waits[number].total_seconds() - 1)
        assert deliver(bcl.app).attempted == 0, "delivered before its backoff was over"
        clock.advance(seconds=1)
        assert deliver(bcl.app).attempted == 1
        [row] = rows(bcl.app)
        assert (row.attempts, row.last_status) == (number + 1, answers[number])
    clock.advance(hours=24)
    assert deliver(bcl.app).attempted == 0
    [row] = rows(bcl.app)
    assert (row.delivered_at is not None) is delivered and row.next_attempt_at is None
    assert row.last_error == (None if delivered else f"HTTP {answers[-1]}")
    # The redirect went unfollowed: every request came to the registered path.
    assert [r["path"] for r in receiver.requests] == ["/backchannel"] * attempts
    # A fresh token per attempt, all with the row's jti.
    claims = [verify(bcl.app, t, rp.client_id, check_times=False)[1] for t in receiver.tokens]
    assert {c["jti"] for c in claims} == {row.jti}
    assert len({c["iat"] for c in claims}) == attempts
    if not delivered:
        assert any(
            "given up" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records
        )
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert rp.client_id in text
    assert not any(token in text or token.split(".")[1] in text for token in receiver.tokens)


def test_concurrent_deliverers_send_each_token_once(bcl, receiver):
    user_id = bcl.user()
    first = logout_rp(bcl, receiver.url)
    first.tokens()
    for _ in range(5):
        logout_rp(bcl, receiver.url, browser_of=first).tokens()
    api_revoke(bcl, first, {}, user_id)
    assert len(rows(bcl.app)) == 6
    start = threading.Barrier(4)
    runs: list[backchannel.DeliveryRun] = []

    def sweep() -> None:
        start.wait()
        runs.append(deliver(bcl.app))

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(run.delivered for run in runs) == 6
    jtis = [jwt.decode(t, options={"verify_signature": False})["jti"] for t in receiver.tokens]
    assert sorted(jtis) == sorted(r.jti for r in rows(bcl.app))
    assert all(r.attempts == 1 and r.delivered_at is not None for r in rows(bcl.app))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"], ids=["ip", "name"])
def test_dynamically_registered_client_may_not_reach_private_addresses(bcl, receiver, host):
    bcl.user()
    rp = logout_rp(bcl, receiver.url.replace("127.0.0.1", host), dynamic=True)
    rp_logout(bcl, rp, rp.tokens(), "")
    run = deliver(bcl.app)
    assert (run.refused, run.delivered, run.gave_up) == (1, 0, 1)
    assert receiver.requests == []
    [row] = rows(bcl.app)
    assert row.last_error is not None and row.last_error.startswith("refused:")
    assert (row.delivered_at, row.next_attempt_at, row.attempts) == (None, None, 1)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "not-an-ip",
    ],
    ids=lambda a: a,
)
def test_non_public_addresses(address):
    assert backchannel.is_public_address(address) is False


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:4860:4860::8888", "::ffff:8.8.8.8"])
def test_public_addresses(address):
    assert backchannel.is_public_address(address) is True


def test_an_answer_dripped_byte_by_byte_is_cut_at_the_deadline(bcl, receiver):
    bcl.user()
    rp = logout_rp(bcl, receiver.url)
    rp_logout(bcl, rp, rp.tokens(), "")
    receiver.drip = True
    started = time.monotonic()
    run = deliver(bcl.app, timeout_seconds=0.5)
    assert run.failed == 1
    assert time.monotonic() - started < 5
    [row] = rows(bcl.app)
    assert row.last_error == "no complete answer within 1 seconds"
    assert row.next_attempt_at is not None and row.delivered_at is None


def test_a_garbled_answer_is_recorded_without_control_characters(bcl, receiver, caplog):
    bcl.user()
    rp = logout_rp(bcl, receiver.url)
    rp_logout(bcl, rp, rp.tokens(), "")
    receiver.raw = b"\x1b]0;owned\x07 200 OK\r\n\r\n"
    assert deliver(bcl.app).failed == 1
    [row] = rows(bcl.app)
    assert row.last_error.startswith("BadStatusLine") and row.last_error.isprintable()
    assert all("\x1b" not in r.getMessage() for r in caplog.records)


def test_deleted_client_is_given_up(bcl, receiver):
    from idp.clients import delete_client, find_client

    bcl.user()
    rp = logout_rp(bcl, receiver.url)
    rp_logout(bcl, rp, rp.tokens(), "")
    with bcl.app.app_context():
        delete_client(find_client(rp.client_id))
    assert deliver(bcl.app).gave_up == 1
    [row] = rows(bcl.app)
    assert row.next_attempt_at is None and row.delivered_at is None and row.last_error
    assert receiver.requests == []


def test_finished_rows_are_pruned_after_thirty_days(bcl, receiver, clock):
    user_id = bcl.user()
    first = logout_rp(bcl, receiver.url)
    first.tokens()
    logout_rp(bcl, receiver.url, browser_of=first).tokens()
    api_revoke(bcl, first, {}, user_id)
    receiver.answers = [500]
    assert deliver(bcl.app).delivered == 1
    clock.advance(days=30, seconds=1)
    with bcl.app.app_context():
        assert backchannel.prune() == 1
    [left] = rows(bcl.app)
    assert left.delivered_at is None and left.next_attempt_at is not None


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("down", ["refused", "hanging"])
def test_a_receiver_down_never_holds_up_the_sign_out(bcl, receiver, down):
    """Served workers deliver from a background thread: the user's sign-out answers while
    the client's server refuses or hangs, and the failure is recorded for a retry."""
    dispatcher = backchannel.enable_background(bcl.app)
    dispatcher.timeout_seconds = 0.5
    dispatcher.sweep_seconds = 3600
    try:
        bcl.user()
        rp = logout_rp(bcl, _closed_port_url() if down == "refused" else receiver.url)
        tokens = rp.tokens()
        receiver.hang = True
        response = rp.browser.get(f"/logout?id_token_hint={tokens['id_token']}")
        assert response.status_code == 200
        assert not receiver.release.is_set()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and rows(bcl.app)[0].last_error is None:
            time.sleep(0.05)
        [row] = rows(bcl.app)
        assert row.attempts == 1 and row.delivered_at is None and row.last_error
        assert row.next_attempt_at is not None
        if down == "hanging":
            assert receiver.got.is_set() and "timed out" in row.last_error
    finally:
        dispatcher.stop()


@pytest.mark.parametrize(
    ("uri", "ok"),
    [
        ("https://rp.example/backchannel?tenant=1", True),
        ("http://127.0.0.1:8080/bc", True),
        ("http://localhost/bc", True),
        ("http://rp.example/bc", False),
        ("https://rp.example/bc#frag", False),
        ("https://rp.example/bc#", False),
        ("/bc", False),
        ("javascript:alert(1)", False),
        ("https://user:pw@rp.example/bc", False),
        ("https://rp.example:99999/bc", False),
        ("https://rp.example/b c", False),
        ("https:///bc", False),
    ],
    ids=[
        "https-query",
        "loopback-ip",
        "loopback-name",
        "plain-http",
        "fragment",
        "empty-fragment",
        "relative",
        "javascript",
        "credentials",
        "bad-port",
        "space",
        "no-host",
    ],
)
def test_backchannel_logout_uri_is_checked(app, uri, ok):
    from idp.clients import create_client
    from idp.errors import IdpError

    def register() -> Any:
        return create_client(
            "RP",
            redirect_uris=["https://rp.example/cb"],
            post_logout_redirect_uris=[],
            public=False,
            grant_types=[],
            scopes=[],
            backchannel_logout_uri=uri,
        )

    with app.app_context():
        if ok:
            client, _ = register()
            assert backchannel.logout_uri(client) == uri
            assert backchannel.session_required(client) is False
        else:
            with pytest.raises(IdpError, match="back-channel logout URI"):
                register()


def test_discovery_advertises_backchannel_logout(client):
    doc = client.get("/.well-known/openid-configuration").get_json()
    assert doc["backchannel_logout_supported"] is True
    assert doc["backchannel_logout_session_supported"] is True


def _cli(*args: str, config: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    return subprocess.run(
        [sys.executable, "-m", "idp", *args, "--config", config],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cli_registers_the_uri_and_delivers_what_is_due(bcl, settings, receiver, tmp_path):
    config = tmp_path / "idp.toml"
    config.write_text(
        f'secret_key = "{settings.secret_key}"\nissuer = "{ISSUER}"\n'
        f'database_url = "{settings.database_url}"\n'
    )
    added = _cli(
        "clients",
        "add",
        "CLI RP",
        "--redirect-uri",
        "https://rp.example/cb",
        "--backchannel-logout-uri",
        f"{receiver.url}/backchannel",
        "--backchannel-logout-session-required",
        "--json",
        config=str(config),
    )
    assert added.returncode == 0, added.stderr
    credentials = json.loads(added.stdout)
    with bcl.app.app_context():
        from idp.extensions import db

        client = db.session.scalar(sa.select(Client).filter_by(client_id=credentials["client_id"]))
        assert client.client_metadata["backchannel_logout_uri"] == f"{receiver.url}/backchannel"
        assert client.client_metadata["backchannel_logout_session_required"] is True
    refused = _cli(
        "clients",
        "add",
        "Bad RP",
        "--redirect-uri",
        "https://rp.example/cb",
        "--backchannel-logout-uri",
        "http://rp.example/bc",
        config=str(config),
    )
    assert refused.returncode == 2 and "plain http" in refused.stderr
    bcl.user()
    rp = RelyingParty(bcl.app, credentials["client_id"], credentials["client_secret"])
    rp_logout(bcl, rp, rp.tokens(), "")
    # The CLI signs with the real clock; the test app's frozen one is the same instant.
    sent = _cli("backchannel", "deliver", config=str(config))
    assert sent.returncode == 0, sent.stderr
    assert "delivered 1" in sent.stdout
    verify(bcl.app, receiver.tokens[0], rp.client_id)
    status = _cli("backchannel", "status", config=str(config))
    assert status.returncode == 0 and "delivered 1, pending 0, given up 0" in status.stdout


def test_removing_an_apps_access_tells_that_app(bcl, receiver, clock):
    """ "Remove access" on the account page ends the app's sign-in: it gets a logout token,
    and another app of the same session gets none."""
    from idp import consent

    user_id = bcl.user()
    rp = logout_rp(bcl, receiver.url)
    other = logout_rp(bcl, receiver.url, browser_of=rp)
    tokens = rp.tokens()
    other.tokens()
    sid = rp.verify_id_token(tokens["id_token"])["sid"]
    with bcl.app.app_context():
        consent.grant(user_id, rp.client_id, ["openid"], clock.now())
        assert consent.revoke(user_id, rp.client_id)
    [row] = rows(bcl.app)
    assert (row.client_id, row.sid, row.reason) == (rp.client_id, sid, "consent_revoked")
    assert deliver(bcl.app).delivered == 1
    _, claims = verify(bcl.app, receiver.tokens[0], rp.client_id)
    assert (claims["sub"], claims["sid"]) == (user_id, sid)
