"""Health, readiness and metrics, as an operator's tools read them."""

from __future__ import annotations

import re
from dataclasses import replace


def _metric(text: str, name: str, **labels: str) -> float:
    """One sample's value from Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_names_database_and_feeds(stepup):
    response = stepup.app.test_client().get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ready" and body["checks"]["database"] == "ok"
    assert body["checks"]["feeds"] == {
        key: "loaded"
        for key in (
            "geoip_city_db",
            "geoip_asn_db",
            "anonymous_ip_db",
            "anonymous_ip_list",
            "malicious_ip_list",
            "leaked_passwords",
        )
    }


def test_readyz_is_503_when_the_database_does_not_answer(make_app, settings, tmp_path):
    app = make_app(replace(settings, database_url=f"sqlite:///{tmp_path}/missing/dir/idp.db"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "not ready" and body["checks"]["database"].startswith("error")


def test_metrics_only_to_metrics_allow(make_app, settings):
    app = make_app(replace(settings, metrics_allow=("127.0.0.1/32",)))
    local = app.test_client()
    assert local.get("/metrics").status_code == 200
    outside = app.test_client()
    outside.environ_base["REMOTE_ADDR"] = "198.51.100.9"
    refused = outside.get("/metrics")
    assert refused.status_code == 403 and refused.get_json()["error"] == "insufficient_scope"
    # A forwarded header from an untrusted address changes nothing.
    spoofed = outside.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
    assert spoofed.status_code == 403
    # Through a trusted proxy, the client it names is judged.
    proxied = app.test_client()
    assert proxied.get("/metrics", headers={"X-Forwarded-For": "198.51.100.9"}).status_code == 403


def test_metrics_count_sign_ins_lockouts_and_detections(stepup):
    http = stepup.app.test_client()
    before = http.get("/metrics").get_data(as_text=True)
    stepup.user("alice")
    for _ in range(10):
        assert stepup.browser_rp("203.0.113.50").sign_in("alice", "wrong").status_code == 401
    assert stepup.browser_rp("203.0.113.50").sign_in("alice").status_code == 403
    after = http.get("/metrics").get_data(as_text=True)
    labels = {"kind": "password", "outcome": "failure"}
    assert (
        _metric(after, "idp_sign_ins_total", error_code="50126", **labels)
        - _metric(before, "idp_sign_ins_total", error_code="50126", **labels)
        == 10
    )
    assert (
        _metric(after, "idp_sign_ins_total", error_code="50053", **labels)
        - _metric(before, "idp_sign_ins_total", error_code="50053", **labels)
        == 1
    )
    assert (
        _metric(after, "idp_lockouts_total", reason="account")
        - _metric(before, "idp_lockouts_total", reason="account")
        == 1
    )
    assert (
        _metric(after, "idp_request_duration_seconds_count", endpoint="signin.login", method="POST")
        >= 11
    )


def test_detections_are_counted(stepup):
    from tests.idp.conftest import TOR

    http = stepup.app.test_client()
    before = _metric(
        http.get("/metrics").get_data(as_text=True),
        "idp_risk_detections_total",
        risk_event_type="anonymizedIPAddress",
    )
    stepup.user("alice")
    assert stepup.browser_rp(TOR).sign_in("alice").status_code == 403
    after = _metric(
        http.get("/metrics").get_data(as_text=True),
        "idp_risk_detections_total",
        risk_event_type="anonymizedIPAddress",
    )
    assert after - before == 1


def test_pooled_connections_recover_after_the_database_drops_them(app, settings):
    """No pre-ping per checkout: after a server restart at most one request fails, then the
    pool reconnects."""
    import sqlalchemy as sa

    from idp.app import engine_options
    from idp.extensions import db

    if not settings.database_url.startswith("postgresql"):
        # No server to restart: SQLite gets no pool options, and runs in WAL mode.
        assert engine_options(settings.database_url) == {}
        with app.app_context():
            assert db.session.scalar(sa.text("PRAGMA journal_mode")) == "wal"
        return
    assert "pool_pre_ping" not in engine_options(settings.database_url)
    client = app.test_client()
    assert client.get("/jwks.json").status_code == 200
    with app.app_context():
        pids = [db.session.scalar(sa.text("SELECT pg_backend_pid()"))]
        db.session.remove()
    admin = sa.create_engine(settings.database_url)
    with admin.connect() as conn:
        # As a restart would: the server ends every connection the pool holds.
        for pid in pids:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()
    first = client.get("/jwks.json")
    assert first.status_code in (200, 500)
    assert [client.get("/jwks.json").status_code for _ in range(3)] == [200, 200, 200]
