"""Discovery and JWKS answered in front of Flask: the same answer as Flask's, logged and
measured the same way, and nothing else answered there."""

from __future__ import annotations

import json
import logging

import pytest

PATHS = ("/.well-known/openid-configuration", "/jwks.json")
COMPARED = (
    "Content-Type",
    "Content-Length",
    "ETag",
    "Cache-Control",
    "Access-Control-Allow-Origin",
    "X-Content-Type-Options",
    "Referrer-Policy",
)


@pytest.mark.parametrize("path", PATHS)
def test_answer_in_front_of_flask_equals_flasks(client, path):
    first = client.get(path)  # built by Flask's view
    second = client.get(path)  # answered in front of Flask
    assert first.status_code == second.status_code == 200
    assert second.data == first.data and json.loads(second.data)
    for name in COMPARED:
        assert second.headers.get(name) == first.headers.get(name), name
    assert second.headers["Access-Control-Allow-Origin"] == "*"
    assert second.headers["Cache-Control"] == "public, max-age=300"


@pytest.mark.parametrize("path", PATHS)
def test_etag_head_and_other_methods(client, path):
    etag = client.get(path).headers["ETag"]
    held = client.get(path, headers={"If-None-Match": f'W/"x", {etag}'})
    assert held.status_code == 304 and held.data == b"" and held.headers["ETag"] == etag
    assert client.get(path, headers={"If-None-Match": "*"}).status_code == 304
    head = client.head(path)
    assert head.status_code == 200 and head.data == b""
    assert int(head.headers["Content-Length"]) == len(client.get(path).data)
    # Anything but GET and HEAD is Flask's, as before.
    assert client.post(path).status_code == 405


def test_https_issuer_adds_hsts_in_front_of_flask(make_app, settings):
    from dataclasses import replace

    app = make_app(replace(settings, issuer="https://idp.example"))
    client = app.test_client()
    client.get("/jwks.json")
    assert client.get("/jwks.json").headers["Strict-Transport-Security"] == "max-age=63072000"


def requests_measured(endpoint: str, method: str = "GET") -> float:
    """How many requests `idp_request_duration_seconds` has counted for `endpoint`."""
    from idp.metrics import REQUEST_SECONDS

    return sum(
        sample.value
        for metric in REQUEST_SECONDS.collect()
        for sample in metric.samples
        if sample.name.endswith("_count")
        and sample.labels == {"endpoint": endpoint, "method": method}
    )


def test_answers_in_front_of_flask_are_logged_and_measured(client, caplog):
    def count() -> float:
        return requests_measured("oauth.discovery")

    client.get(PATHS[0])
    before = count()
    with caplog.at_level(logging.INFO, logger="idp.request"):
        client.get(PATHS[0], query_string={"code": "secret"})
    assert count() == before + 1
    (line,) = [r for r in caplog.records if r.name == "idp.request"]
    assert (line.method, line.path, line.status) == ("GET", PATHS[0], 200)
    assert line.request_id and line.duration_ms >= 0
    assert "secret" not in caplog.text
