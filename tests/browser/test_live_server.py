"""The browser tests' server itself: no file left open when a client drops a connection."""

from __future__ import annotations

import gc
import socket
import struct
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wsgi import wrap_file

from tests.browser.conftest import _closed_before_sent

STYLESHEET = Path(__file__).parents[2] / "idp" / "static" / "idp.css"


def _static_file(environ: Any, start_response: Any) -> Any:
    start_response("200 OK", [("Content-Type", "text/css")])
    return wrap_file(environ, STYLESHEET.open("rb"))


def _files_left_open(app: Any) -> int:
    """Requests the file with a few bytes more than the request, as a browser's next
    request would be, then resets the connection: the server's drain of those bytes fails."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(5):
            client = socket.create_connection(("127.0.0.1", server.server_port))
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"x" * 100)
            time.sleep(0.01)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
        server.shutdown()
        thread.join(timeout=10)
        gc.collect()
    return sum(1 for w in caught if issubclass(w.category, ResourceWarning))


def test_a_dropped_connection_leaves_no_file_open() -> None:
    assert _files_left_open(_closed_before_sent(_static_file)) == 0
