"""`idp serve`: gunicorn (or granian) with N workers, each building the app from the same config."""

from __future__ import annotations

import contextlib
import errno
import gc
import os
import select
import selectors
import shutil
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate
from functools import partial
from typing import TYPE_CHECKING, Any

from gunicorn import SERVER as GUNICORN_SERVER
from gunicorn.app.base import BaseApplication
from gunicorn.config import PostRequest, PreRequest
from gunicorn.workers.gthread import TConn, ThreadWorker

from .fastpath import WIRE_MAX_BYTES, StaticDocuments, plain_get
from .services import services

if TYPE_CHECKING:
    from flask import Flask

# A request's headers and body must arrive within this many seconds of each other: a
# client that sends a few bytes and stalls gives its thread back instead of holding it.
READ_TIMEOUT_SECONDS = 10
# After an answer on a kept-alive connection, the thread waits this long for the client's
# next request before handing the connection back to the poller, while another thread is
# free; and serves at most this many requests of one connection in a row.
LINGER_SECONDS = 0.002
LINGER_REQUESTS = 100


class SlowClientSafeWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's threaded worker, with a read timeout on each client socket.

    New connections wait in the poller, holding no thread, until their first bytes
    arrive (and are closed after READ_TIMEOUT_SECONDS if none do). Then a thread reads the
    request with a blocking socket; a client that sends half a header and stalls would
    hold it, so the socket has a read timeout that ends such a client.

    A client that sends its next request on a kept-alive connection at once (a browser's
    page and its stylesheet, a relying party's token and userinfo calls, a guesser) is
    answered by the same thread: handing the connection back to the poller and on to a
    thread again costs more CPU than the request itself (two thread hand-offs, a pipe
    write and read, two epoll changes), about 0.2 ms a request. The thread waits for it at
    most LINGER_SECONDS, and only while another thread is free for everyone else.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._socket_answers: SocketAnswers | None = None

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self._socket_answers = socket_answers(self.wsgi, self.cfg)

    def accept(self, listener: Any) -> None:
        """Put a new connection on the poller until its first bytes arrive (gthread hands it
        to a thread at once, which then waits seconds for an idle client)."""
        if not hasattr(self, "pending_conns"):
            super().accept(listener)
            return
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = TConn(self.cfg, client_sock, client_addr, listener.getsockname())
        conn.timeout = time.monotonic() + READ_TIMEOUT_SECONDS
        self.pending_conns.append(conn)
        self.poller.register(
            conn.sock, selectors.EVENT_READ, partial(self.on_pending_socket_readable, conn)
        )

    def handle(self, conn: Any) -> Any:
        if not getattr(conn, "idp_read_timeout", False):
            init = conn.init

            def init_with_timeout() -> None:
                # Before gunicorn's own init, which hands the socket to the request parser.
                if not isinstance(conn.sock, _Stalled) and not self.cfg.is_ssl:
                    conn.sock = _Stalled(conn.sock)
                init()
                if not isinstance(conn.sock, _Stalled):
                    conn.sock.settimeout(READ_TIMEOUT_SECONDS)

            conn.init = init_with_timeout
            conn.idp_read_timeout = True
        with self._busy_lock:
            self._busy += 1
        try:
            for _ in range(LINGER_REQUESTS):
                answered = self._answer_from_socket(conn)
                keep = super().handle(conn) if answered is None else answered
                if not (keep is True and self._next_request_at_once(conn)):
                    return keep
            return keep
        finally:
            with self._busy_lock:
                self._busy -= 1

    def _answer_from_socket(self, conn: Any) -> bool | None:
        """Answer the client's next request from its socket when it is a plain GET or HEAD
        of discovery or JWKS (see SocketAnswers): True once answered, False when the client
        went away meanwhile, None when gunicorn is to read and answer it."""
        answers = self._socket_answers
        if (
            answers is None
            or not conn.initialized
            or conn.is_http2
            or not isinstance(conn.sock, _Stalled)
            or not self.alive
            or self.nr + 1 >= self.max_requests
            or len(self.keepalived_conns) >= self.max_keepalived
            or conn.parser.unreader.buf.getvalue()
        ):
            return None
        raw = conn.sock.raw
        try:
            data = raw.recv(WIRE_MAX_BYTES + 1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except OSError:
            return None  # nothing yet, or an error gunicorn meets and handles in turn
        reply = answers.reply(data)
        if reply is None:
            return None
        self.nr += 1
        try:
            # Only now are the bytes taken: they are all there (peeked), one request.
            taken = raw.recv(len(data), socket.MSG_DONTWAIT)
            if taken != data:
                return False
            conn.sock.setblocking(True)
            conn.sock.sendall(reply)
        except OSError:
            return False
        return True

    def _next_request_at_once(self, conn: Any) -> bool:
        """Whether the client's next request arrived, or arrives within LINGER_SECONDS,
        while the worker runs on and another thread is free."""
        if not self.alive or conn.is_http2 or self._busy >= self.cfg.threads:
            return False
        if conn.parser.unreader.buf.getvalue():  # read ahead with the last request
            return True
        poller = select.poll()
        poller.register(conn.sock.fileno(), select.POLLIN)
        try:
            return bool(poller.poll(LINGER_SECONDS * 1000))
        except OSError:
            return False


WHITESPACE = " \t"  # what gunicorn strips from a header's value (RFC 9110 5.5)


class SocketAnswers:
    """Discovery and JWKS answered from a kept-alive client's socket, before gunicorn's
    parser: a worker's JWKS answer cost about 0.22 ms of CPU, most of it gunicorn reading
    the request into an environ and writing the response, for a document the worker holds
    as bytes.

    Only a request idp.fastpath.plain_get accepts is answered: exactly one GET or HEAD of
    either document, plain headers, nothing that frames a body or changes the connection.
    It is peeked at, not read, so anything else is left on the socket for gunicorn,
    unchanged. The answer is the bytes gunicorn would send for StaticDocuments' answer:
    its status line, Server, Date and Connection headers, then the document's headers as
    gunicorn passes them on (tests/idp/test_socket_answers.py and test_serve.py compare the
    two byte for byte). The log line and the duration sample are StaticDocuments' own.
    """

    def __init__(self, documents: StaticDocuments, cfg: Any) -> None:
        self.documents = documents
        self.max_headers = cfg.limit_request_fields
        # What a proxy may set that gunicorn weighs (and may refuse): gunicorn's then.
        self.refused = frozenset(
            name.lower().encode("latin-1") for name in cfg.secure_scheme_headers
        )
        self._heads: dict[tuple[str, str, str, int], bytes] = {}
        self._date = (-1, b"")

    def reply(self, data: bytes) -> bytes | None:
        request = plain_get(data, self.max_headers, self.refused)
        if request is None:
            return None
        found = self.documents.answer(*request)
        if found is None:
            return None
        head = self._heads.get(found.key)
        if head is None:
            if len(self._heads) >= 64:  # etags come and go with signing keys
                self._heads.clear()
            head = self._heads[found.key] = b"".join(
                b"%s: %s\r\n" % (name.encode("latin-1"), value.strip(WHITESPACE).encode("latin-1"))
                for name, value in found.headers
            )
        second = int(time.time())
        if second != self._date[0]:
            self._date = (second, f"Date: {formatdate(second, usegmt=True)}\r\n".encode())
        return b"".join(
            (
                f"HTTP/1.1 {found.status}\r\nServer: {GUNICORN_SERVER}\r\n".encode(),
                self._date[1],
                b"Connection: keep-alive\r\n",
                head,
                b"\r\n",
                found.body,
            )
        )


def socket_answers(app: Any, cfg: Any) -> SocketAnswers | None:
    """SocketAnswers for a worker of `app` under gunicorn settings `cfg`, where gunicorn's
    own path would do nothing more for those requests: no TLS, no access log, no request
    hooks, no script name, keep-alive on. None otherwise."""
    documents = getattr(app, "extensions", {}).get("idp.static_documents")
    if (
        isinstance(documents, StaticDocuments)
        and not cfg.is_ssl
        and cfg.keepalive
        and cfg.accesslog is None
        and cfg.pre_request is PreRequest.default
        and cfg.post_request is PostRequest.default
        and not os.environ.get("SCRIPT_NAME")
        and "SCRIPT_NAME" not in cfg.env
    ):
        return SocketAnswers(documents, cfg)
    return None


_KERNEL_TIMEOUT = struct.pack("ll", READ_TIMEOUT_SECONDS, 0)
"""READ_TIMEOUT_SECONDS as the kernel's struct timeval."""


def _stalled(exc: OSError, mode: float | None) -> OSError:
    """What a read or write that could not go on raises: the error itself on a socket
    asked to be non-blocking (nothing there yet is not a stall), else a reset."""
    if mode == 0.0:
        return exc
    return ConnectionResetError(errno.ECONNRESET, "client stalled")


class _Stalled:
    """A client socket whose reads and writes end after READ_TIMEOUT_SECONDS without
    progress, as a reset would (gunicorn then closes it quietly instead of logging a
    traceback per stalled client).

    Blocking, the socket times out in the kernel (SO_RCVTIMEO, SO_SNDTIMEO): a Python
    socket timeout would poll before every read and write. And gunicorn switches the mode
    on every request (blocking for the request, a drain deadline, blocking again), two or
    four system calls each time; here a mode asked for is only set on the socket when it
    is next read or written, so a request that needs no other mode costs none. A shorter
    timeout asked for (draining an unread body) is kept as asked.

    Closing, gunicorn lingers up to 2 s for the client to close its side too, on the
    worker's main thread, one connection after another: a few clients that never close
    would stall the poller for everyone. Once the socket is shut down, reads take only
    what has already arrived.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _KERNEL_TIMEOUT)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _KERNEL_TIMEOUT)
        # None: blocking (with the kernel's timeouts); 0.0: non-blocking; else seconds.
        self._set: float | None = sock.gettimeout()
        self._wanted: float | None = self._set
        self._closing = False

    def _mode(self) -> float | None:
        wanted = self._wanted
        if wanted != self._set:
            if wanted is None:
                self._sock.setblocking(True)
            else:
                self._sock.settimeout(wanted)
            self._set = wanted
        return wanted

    def recv(self, size: int) -> bytes:
        mode = self._mode()
        try:
            data: bytes = self._sock.recv(size)
        except (TimeoutError, BlockingIOError) as exc:
            raise _stalled(exc, mode) from None
        return data

    def sendall(self, data: bytes) -> None:
        mode = self._mode()
        try:
            self._sock.sendall(data)
        except (TimeoutError, BlockingIOError) as exc:
            raise _stalled(exc, mode) from None

    def setblocking(self, flag: bool) -> None:
        self._wanted = None if flag and not self._closing else 0.0

    def settimeout(self, value: float | None) -> None:
        if self._closing:
            self._wanted = 0.0
        else:
            # The kernel's timeout is as long as any gunicorn asks for: blocking will do.
            self._wanted = None if value is None or value >= READ_TIMEOUT_SECONDS else value

    def shutdown(self, how: int) -> None:
        self._closing = True
        self._wanted = 0.0
        self._sock.shutdown(how)

    @property
    def raw(self) -> Any:
        """The socket itself: for a peek (MSG_PEEK | MSG_DONTWAIT), whatever the mode."""
        return self._sock

    def gettimeout(self) -> float | None:
        return self._wanted

    def getblocking(self) -> bool:
        return self._wanted != 0.0

    def __getattr__(self, name: str) -> Any:
        if name in ("recv_into", "recvfrom", "send", "sendto", "sendmsg", "recvmsg", "makefile"):
            self._mode()
        return getattr(self._sock, name)


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, build: Callable[[], Flask], options: dict[str, Any]) -> None:
        self.build = build
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from .backchannel import enable_background
        from .logs import configure

        app = self.build()
        settings = services(app).settings
        configure(settings.logging.format, settings.logging.level)
        # Each worker delivers logout tokens from its own thread, started after the fork.
        enable_background(app)
        return _frozen(app)


@contextlib.contextmanager
def _multiprocess_metrics() -> Iterator[None]:
    """Workers write their metrics to one folder that /metrics adds up (prometheus_client's
    multiprocess mode); set before the workers fork, so each child uses file values. A
    folder made here is the server's own and removed when it stops; one the operator named
    in PROMETHEUS_MULTIPROC_DIR is left alone."""
    made = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        made = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="idp-metrics-")
    from prometheus_client import values

    # prometheus_client leaves get_value_class unannotated.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if made is not None:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
            shutil.rmtree(made, ignore_errors=True)


def _child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    # prometheus_client leaves mark_process_dead unannotated.
    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def cannot_listen(host: str, port: int) -> str | None:
    """Why the server could not listen on HOST:PORT (the port in use, an address not of
    this machine), as one line; None when it can. Checked before start-up, so that the
    answer is one line rather than gunicorn's retries and a banner for a server that never
    ran."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            # As the servers bind: a port left in TIME_WAIT by the last run is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        return f"cannot listen on {where}: {exc.strerror or exc}"
    return None


def gunicorn_options(
    server: Any, host: str, port: int, workers: int | None, threads: int | None
) -> dict[str, Any]:
    """gunicorn's settings from [server] and the command line; IdpError on an unknown one."""
    from gunicorn.config import KNOWN_SETTINGS

    from .errors import IdpError

    known = {setting.name for setting in KNOWN_SETTINGS}
    extra = dict(server.gunicorn)
    for name in extra:
        if name not in known:
            raise IdpError(f"server.gunicorn.{name}: not a gunicorn setting")
    return {
        # gunicorn's control socket (gunicornc), on by default since 25.1, is one path in the
        # user's home shared by every server they run, and an error line where the home is
        # not writable: off unless [server.gunicorn] turns it on.
        "control_socket_disable": True,
        **extra,
        "bind": f"{host}:{port}",
        "workers": workers or server.workers,
        # Threaded workers: a connection is handed to a thread only once its data
        # arrives, so slow or idle clients wait in the poller instead of holding a worker.
        "worker_class": "idp.serve.SlowClientSafeWorker",
        "threads": threads or server.threads,
        "keepalive": server.keepalive_seconds,
        # Our own request line replaces gunicorn's access log, which would print query
        # strings (codes, id_token_hint) and lacks the request and correlation ids.
        "accesslog": None,
        "timeout": server.timeout_seconds,
        "graceful_timeout": server.graceful_timeout_seconds,
        "child_exit": _child_exit,
    }


def run_gunicorn(build: Callable[[], Flask], options: dict[str, Any]) -> None:
    """Serve with gunicorn; each worker builds its app with `build`, after the fork (the
    caller's own connections must be closed by then)."""
    with _multiprocess_metrics():
        _Gunicorn(build, options).run()


def granian_app() -> Any:
    """A granian worker's app, from the config named by IDP_CONFIG (set by `idp serve`)."""
    from .backchannel import enable_background
    from .logs import configure
    from .startup import build_app

    app = build_app(None)
    settings = services(app).settings
    configure(settings.logging.format, settings.logging.level)
    enable_background(app)
    return _frozen(app)


def _frozen(app: Any) -> Any:
    """The app, with everything built so far moved out of the garbage collector's sight:
    the app's long-lived objects (routes, templates, compiled statements, the risk engine's
    tables) never become garbage, yet each full collection walked them all, a pause of tens
    of milliseconds every few thousand requests."""
    gc.collect()
    gc.freeze()
    return app


def run_granian(
    config_path: str | None,
    server: Any,
    host: str,
    port: int,
    workers: int | None,
    threads: int | None,
) -> None:
    """Serve with granian: HTTP parsed in Rust, so a request costs a fraction of gunicorn's
    CPU, and clients that are slow to send their headers hold no thread (they are closed
    after READ_TIMEOUT_SECONDS). A request body is read by the app's thread as it arrives,
    with no timeout: run it behind a proxy that buffers request bodies."""
    from .errors import IdpError

    if server.gunicorn:
        raise IdpError("server.gunicorn: gunicorn settings, but server.engine is granian")
    try:
        from granian.constants import HTTPModes, Interfaces
        from granian.http import HTTP1Settings
        from granian.server import Server
    except ImportError:
        raise IdpError(
            "server.engine = \"granian\" needs the granian package (pip install 'idp[granian]')"
        ) from None
    if config_path:
        os.environ["IDP_CONFIG"] = str(config_path)
    with _multiprocess_metrics():
        Server(
            "idp.serve:granian_app",
            factory=True,
            address=host,
            port=port,
            interface=Interfaces.WSGI,
            http=HTTPModes.http1,
            websockets=False,
            workers=workers or server.workers,
            blocking_threads=threads or server.threads,
            http1_settings=HTTP1Settings(header_read_timeout=READ_TIMEOUT_SECONDS * 1000),
            respawn_failed_workers=True,
            workers_kill_timeout=server.graceful_timeout_seconds,
            # Our own request line (see idp.logs) replaces an access log.
            log_access=False,
        ).serve()
