"""Discovery and JWKS answered from a kept-alive client's socket (idp.serve.SocketAnswers):
the same bytes as gunicorn's, for exactly the requests it may take, and every other byte
left on the socket for gunicorn."""

from __future__ import annotations

import io
import re
import socket
from types import SimpleNamespace

import pytest
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser

from idp.fastpath import WIRE_MAX_BYTES, plain_get
from idp.serve import SlowClientSafeWorker, SocketAnswers, _Stalled

JWKS = b"GET /jwks.json HTTP/1.1\r\nHost: idp.example\r\nAccept-Encoding: identity\r\n\r\n"
DATE = re.compile(rb"\r\nDate: [^\r]*")


@pytest.fixture
def documents(app):
    """The app's StaticDocuments, with both documents built (Flask builds them first) and
    a signing key published."""
    from idp.services import services

    with app.app_context():
        services(app).keys.active_key(services(app).clock.now())
    http = app.test_client()
    etags = {
        path: http.get(path).headers["ETag"]
        for path in ("/jwks.json", "/.well-known/openid-configuration")
    }
    found = app.extensions["idp.static_documents"]
    found.etags = etags
    return found


def _gunicorn_bytes(app, request: bytes) -> bytes:
    """What gunicorn writes for `request`: its own parser, environ and response."""
    cfg = Config()
    ours, peer = socket.socketpair()
    with ours, peer:
        peer.sendall(request)
        req = next(RequestParser(cfg, ours, ("127.0.0.1", 50000)))
        resp, environ = wsgi.create(req, ours, ("127.0.0.1", 50000), ("127.0.0.1", 8000), cfg)
        for chunk in app(environ, resp.start_response):
            resp.write(chunk)
        resp.close()
        ours.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := peer.recv(65536):
            data += chunk
    return data


def _requests(etags):
    jwks, discovery = etags["/jwks.json"], etags["/.well-known/openid-configuration"]
    for method in ("GET", "HEAD"):
        for path, etag in (("/jwks.json", jwks), ("/.well-known/openid-configuration", discovery)):
            for extra in ("", f"If-None-Match: {etag}\r\n", 'If-None-Match: "stale"\r\n'):
                yield (
                    f"{method} {path} HTTP/1.1\r\nHost: idp.example\r\n{extra}"
                    "Connection: keep-alive\r\nUser-Agent: t/1\r\n\r\n"
                ).encode()


def test_the_answers_are_the_bytes_gunicorn_sends(app, documents):
    answers = SocketAnswers(documents, Config())
    statuses = set()
    for request in _requests(documents.etags):
        ours = answers.reply(request)
        assert ours is not None, request
        assert DATE.sub(b"", ours) == DATE.sub(b"", _gunicorn_bytes(app, request)), request
        assert DATE.search(ours)
        statuses.add(ours.split(b"\r\n", 1)[0])
    assert statuses == {b"HTTP/1.1 200 OK", b"HTTP/1.1 304 NOT MODIFIED"}
    # A HEAD answer has the GET's headers and no body.
    head = answers.reply(JWKS.replace(b"GET", b"HEAD", 1))
    get = answers.reply(JWKS)
    assert get.startswith(head) and get[len(head) :] == documents.document("/jwks.json")[0]


REFUSED = [
    JWKS.replace(b"\r\n\r\n", b"\r\nContent-Length: 0\r\n\r\n"),
    JWKS.replace(b"\r\n\r\n", b"\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    JWKS.replace(b"\r\n\r\n", b"\r\nTransfer-Encoding: chunked\r\n\r\n"),
    JWKS.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"),
    JWKS.replace(b"\r\n\r\n", b"\r\nConnection: keep-alive, Upgrade\r\n\r\n"),
    JWKS.replace(b"\r\n\r\n", b"\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"),
    JWKS.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n"),
    JWKS.replace(b"\r\n\r\n", b"\r\nHost: other.example\r\n\r\n"),  # two hosts
    JWKS.replace(b"Host: idp.example\r\n", b""),  # none
    JWKS.replace(b"\r\n\r\n", b"\r\nIf-None-Match: a\r\nIf-None-Match: b\r\n\r\n"),
    JWKS.replace(b"\r\n\r\n", b"\r\nX-Forwarded-Proto: https\r\n\r\n"),
    JWKS.replace(b"\r\n\r\n", b"\r\nForwarded: for=192.0.2.1\r\n\r\n"),
    JWKS.replace(b"\r\n\r\n", b"\r\nX_Forwarded_For: 192.0.2.1\r\n\r\n"),
    JWKS.replace(b"\r\n\r\n", b"\r\nX-Long:\r\n  folded\r\n\r\n"),  # obs-fold
    JWKS.replace(b"\r\n\r\n", b"\r\nX-Nul: a\x00b\r\n\r\n"),
    JWKS.replace(b"\r\n\r\n", b"\r\nX-Latin: caf\xe9\r\n\r\n"),
    JWKS.replace(b"Host:", b"Host :"),
    JWKS.replace(b"\r\n", b"\n"),
    JWKS.replace(b"\r\n\r\n", b"\r\n\n"),
    JWKS + JWKS,  # two at once: gunicorn reads them in turn
    JWKS[:-2],  # not all there yet
    JWKS.replace(b"HTTP/1.1", b"HTTP/1.0"),
    JWKS.replace(b"GET", b"get"),
    JWKS.replace(b"GET", b"POST"),
    JWKS.replace(b"GET ", b"GET  "),
    JWKS.replace(b"/jwks.json", b"/jwks.json?x=1"),
    JWKS.replace(b"/jwks.json", b"/jwks.json/"),
    JWKS.replace(b"/jwks.json", b"/JWKS.json"),
    JWKS.replace(b"/jwks.json", b"http://idp.example/jwks.json"),
    JWKS.replace(b"/jwks.json", b"/userinfo"),
    JWKS.replace(b"\r\n\r\n", b"\r\n" + b"X-Pad: 1\r\n" * 100 + b"\r\n"),  # 102 headers
    JWKS.replace(b"\r\n\r\n", b"\r\nX-Big: " + b"a" * WIRE_MAX_BYTES + b"\r\n\r\n"),
    b"",
]


@pytest.mark.parametrize("request_bytes", REFUSED)
def test_anything_but_one_plain_request_is_left_to_gunicorn(request_bytes):
    assert plain_get(request_bytes) is None


def test_headers_named_as_proxy_headers_by_the_operator_are_left_to_gunicorn():
    request = JWKS.replace(b"\r\n\r\n", b"\r\nX-Scheme: https\r\n\r\n")
    assert plain_get(request) == ("GET", "/jwks.json", None)
    assert plain_get(request, refused=frozenset({b"x-scheme"})) is None


def _worker(documents):
    worker = SlowClientSafeWorker.__new__(SlowClientSafeWorker)
    worker._socket_answers = SocketAnswers(documents, Config())
    worker.alive, worker.nr, worker.max_requests = True, 0, 1000
    worker.keepalived_conns, worker.max_keepalived = [], 10
    return worker


def _conn(sock):
    unreader = SimpleNamespace(buf=io.BytesIO())
    return SimpleNamespace(
        initialized=True,
        is_http2=False,
        sock=_Stalled(sock),
        parser=SimpleNamespace(unreader=unreader),
    )


def test_a_worker_takes_only_the_bytes_it_answers(documents):
    worker = _worker(documents)
    ours, client = socket.socketpair()
    with ours, client:
        conn = _conn(ours)
        client.setblocking(False)
        # Nothing has arrived: gunicorn's to wait for, with its timeouts.
        assert worker._answer_from_socket(conn) is None
        client.sendall(JWKS)
        assert worker._answer_from_socket(conn) is True
        assert worker.nr == 1
        answer = client.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert answer.endswith(documents.document("/jwks.json")[0])
        with pytest.raises(BlockingIOError):
            ours.recv(1, socket.MSG_DONTWAIT)  # the request is all taken
        # A request it may not take stays on the socket, every byte, and nothing is sent.
        smuggled = JWKS.replace(b"\r\n\r\n", b"\r\nContent-Length: 5\r\n\r\nGET /")
        client.sendall(smuggled)
        assert worker._answer_from_socket(conn) is None
        assert ours.recv(65536, socket.MSG_DONTWAIT) == smuggled
        with pytest.raises(BlockingIOError):
            client.recv(1)
        assert worker.nr == 1
        # Bytes gunicorn read ahead are gunicorn's; so is a worker about to stop, or one at
        # its max_requests (gunicorn then closes the connection after its answer).
        for change in (
            lambda worker, conn: conn.parser.unreader.buf.write(b"GET"),
            lambda worker, conn: setattr(worker, "alive", False),
            lambda worker, conn: setattr(worker, "max_requests", 2),
        ):
            worker, conn = _worker(documents), _conn(ours)
            worker.nr = 1
            change(worker, conn)
            client.sendall(JWKS)
            assert worker._answer_from_socket(conn) is None
            assert ours.recv(65536, socket.MSG_DONTWAIT) == JWKS


def _settings(**changes):
    from idp.config import ServerSettings
    from idp.serve import gunicorn_options

    cfg = Config()
    for name, value in gunicorn_options(ServerSettings(), "127.0.0.1", 8000, 1, 4).items():
        cfg.set(name, value)
    for name, value in changes.items():
        cfg.set(name, value)
    return cfg


def test_idp_serve_answers_from_the_socket_only_where_gunicorn_would_do_nothing_more(app):
    from idp.serve import socket_answers

    assert isinstance(socket_answers(app, _settings()), SocketAnswers)
    assert socket_answers(object(), _settings()) is None  # not our app
    for changes in (
        {"accesslog": "-"},
        {"keepalive": 0},
        {"pre_request": lambda worker, req: None},
        {"post_request": lambda worker, req, environ, resp: None},
        {"raw_env": ["SCRIPT_NAME=/idp"]},
        {"certfile": __file__, "keyfile": __file__},
    ):
        assert socket_answers(app, _settings(**changes)) is None, changes
