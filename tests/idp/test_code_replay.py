"""An authorization code works once; a second use fails and revokes what the first issued."""

from __future__ import annotations

import threading


def test_oidcc_codereuse(provider):
    provider.user()
    rp = provider.rp()
    code = rp.code_from(rp.sign_in())
    first = rp.redeem(code)
    assert first.status_code == 200
    tokens = first.get_json()
    second = rp.redeem(code)
    assert second.status_code == 400
    assert second.get_json()["error"] == "invalid_grant"
    http = provider.app.test_client()
    userinfo = http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.status_code == 401
    refresh = rp.token_request(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 400


def test_concurrent_redemptions_yield_one_token(provider, database_url):
    provider.user()
    rp = provider.rp()
    code = rp.code_from(rp.sign_in())
    results = []
    barrier = threading.Barrier(4)

    def redeem():
        barrier.wait()
        results.append(rp.redeem(code).status_code)

    threads = [threading.Thread(target=redeem) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results).count(200) == 1, results


def test_code_for_another_client_is_refused(provider):
    provider.user()
    rp = provider.rp()
    other = provider.rp()
    code = rp.code_from(rp.sign_in())
    other.verifier = rp.verifier
    response = other.redeem(code)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    # The rightful client can still use it: the other client's attempt did not burn it.
    assert rp.redeem(code).status_code == 200


def test_expired_code_is_refused(provider):
    import time

    provider.user()
    rp = provider.rp()
    code = rp.code_from(rp.sign_in())
    from idp.extensions import db
    from idp.models import AuthorizationCode

    with provider.app.app_context():
        row = db.session.query(AuthorizationCode).filter_by(code=code).one()
        row.expires_at = int(time.time()) - 1
        db.session.commit()
    response = rp.redeem(code)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
