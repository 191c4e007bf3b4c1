"""The browser tests' server itself: no file left open when a client drops a connection."""

from __future__ import annotations

import gc
import socket
import struct
import time
import warnings
from pathlib import Path
from typing import Any

from werkzeug.wsgi import wrap_file

from tests.browser.conftest import LiveServer, _free_port

STYLESHEET = Path(__file__).parents[2] / "idp" / "static" / "idp.css"


def _static_file(environ: Any, start_response: Any) -> Any:
    start_response("200 OK", [("Content-Type", "text/css")])
    return wrap_file(environ, STYLESHEET.open("rb"))


def test_a_dropped_connection_leaves_no_file_open() -> None:
    """The file is asked for with a few bytes more than the request, as a browser's next
    request would be, then the connection is reset: the server's drain of those bytes fails.
    (Werkzeug's server without LiveServer's wrapping leaves one file open each time.)"""
    port = _free_port()
    server = LiveServer(_static_file, port)
    server.start()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(5):
            client = socket.create_connection(("127.0.0.1", port))
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"x" * 100)
            time.sleep(0.01)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
        server.stop()
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
