"""Operators' logs: one JSON object a line, the request id of the page, no secrets."""

from __future__ import annotations

import json
import logging
import re

from idp.logs import JsonFormatter, RequestContext


def _request_records(caplog):
    return [r for r in caplog.records if r.name == "idp.request"]


def test_the_request_id_on_an_error_page_is_in_its_log_line(client, caplog):
    caplog.set_level(logging.INFO, logger="idp")
    page = client.get("/authorize?response_type=code&client_id=nobody")
    shown = re.search(r"Request id: <code>([0-9a-f-]{36})</code>", page.get_data(as_text=True))
    assert page.status_code == 400 and shown
    [line] = _request_records(caplog)
    assert (line.request_id, line.status, line.path) == (shown.group(1), 400, "/authorize")


def test_a_sign_in_attempt_line_says_which_attempt(provider, caplog):
    caplog.set_level(logging.INFO, logger="idp")
    user_id = provider.user()
    rp = provider.rp()
    caplog.clear()
    rp.sign_in("alice", "wrong password")
    [line] = [r for r in _request_records(caplog) if r.method == "POST"]
    assert (line.path, line.status, line.outcome, line.error_code) == (
        "/login",
        401,
        "failure",
        50126,
    )
    assert line.user_id == user_id and line.client_id == rp.client_id
    assert re.fullmatch(r"[0-9a-f-]{36}", line.correlation_id)


def test_json_lines_never_carry_query_strings_or_tokens(provider, caplog):
    caplog.set_level(logging.INFO, logger="idp")
    provider.user()
    rp = provider.rp(post_logout=["https://rp.example/bye"])
    tokens = rp.tokens()
    rp.browser.get(
        "/logout",
        query_string={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://rp.example/bye",
        },
    )
    formatter = JsonFormatter()
    lines = [formatter.format(r) for r in caplog.records]
    assert lines and all(json.loads(line)["time"].endswith("Z") for line in lines)
    everything = "\n".join(lines)
    for secret in (
        tokens["id_token"],
        tokens["access_token"],
        tokens["refresh_token"],
        rp.verifier,
        "code_challenge",
        "?",
    ):
        assert secret not in everything


def test_formatter_fields():
    record = logging.LogRecord("idp.request", logging.INFO, __file__, 1, "request", None, None)
    record.request_id, record.status, record.duration_ms = "r-1", 200, 1.5
    assert RequestContext().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["event"] == "request" and line["level"] == "INFO"
    assert (line["request_id"], line["status"], line["duration_ms"]) == ("r-1", 200, 1.5)


def test_a_request_line_written_directly_reads_as_the_formatter_writes_it(monkeypatch):
    import io

    from idp import logs

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    through_logging = []
    info = logs.request_log.info
    monkeypatch.setattr(
        logs.request_log, "info", lambda *a, **k: through_logging.append(1) or info(*a, **k)
    )
    try:
        logs.configure("json", "INFO")
        fields = {"client_id": "rp-1", "outcome": "success", "ignored": "x"}
        logs.finish_request("jwks", "GET", "/jwks.json", 200, 0.00123, "r-1", fields)
        [direct] = stream.getvalue().splitlines()
        assert through_logging == []  # only our handler listens: no record was made
        # Through logging, with another handler listening, the same line comes out.
        heard: list[logging.LogRecord] = []
        listener = logging.Handler()
        listener.emit = heard.append  # type: ignore[method-assign]
        root.addHandler(listener)
        logs.finish_request("jwks", "GET", "/jwks.json", 200, 0.00123, "r-1", fields)
        [_, logged] = stream.getvalue().splitlines()
        assert len(heard) == 1 and through_logging == [1]
        root.removeHandler(listener)
        # So does a handler on a logger between idp.request and the root.
        logging.getLogger("idp").addHandler(listener)
        logs.finish_request("jwks", "GET", "/jwks.json", 200, 0.00123, "r-1", fields)
        logging.getLogger("idp").removeHandler(listener)
        assert len(heard) == 2 and through_logging == [1, 1]
        assert len(stream.getvalue().splitlines()) == 3
        # Below INFO nothing is written, directly or not.
        root.setLevel(logging.WARNING)
        logs.finish_request("jwks", "GET", "/jwks.json", 200, 0.00123, "r-1", fields)
        assert len(stream.getvalue().splitlines()) == 3
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        monkeypatch.setattr(logs, "_json_handler", None)
    first, second = json.loads(direct), json.loads(logged)
    assert (
        list(first)
        == list(second)
        == [
            "time",
            "level",
            "logger",
            "event",
            "request_id",
            "client_id",
            "outcome",
            "method",
            "path",
            "status",
            "duration_ms",
        ]
    )
    assert {**first, "time": ""} == {**second, "time": ""}
    assert first["logger"] == "idp.request" and first["duration_ms"] == 1.23
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
