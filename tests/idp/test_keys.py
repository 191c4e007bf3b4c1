"""Signing key rotation: new tokens use the new key, old ones still verify from the JWKS."""

from __future__ import annotations

from datetime import timedelta

import jwt


def test_oidcc_server_rotate_keys(provider):
    from idp.extensions import db
    from idp.keys import rotate

    provider.user()
    rp = provider.rp()
    old_token = rp.tokens()["id_token"]
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    app = provider.app
    with app.app_context():
        rotate(app.extensions["idp.clock"].now(), timedelta(hours=1))
        app.extensions["idp.keys"].forget_active()
        db.session.remove()
    rp2 = provider.rp()
    new_token = rp2.tokens()["id_token"]
    new_kid = jwt.get_unverified_header(new_token)["kid"]
    assert new_kid != old_kid
    kids = [k["kid"] for k in app.test_client().get("/jwks.json").get_json()["keys"]]
    assert kids == [new_kid, old_kid]
    assert rp.verify_id_token(old_token)["sub"]
    assert rp2.verify_id_token(new_token)["sub"]


def test_retired_key_leaves_jwks_after_publish_window(provider):
    from idp.keys import rotate

    app = provider.app
    with app.app_context():
        store = app.extensions["idp.keys"]
        now = app.extensions["idp.clock"].now()
        first = store.active_key(now).kid
        rotate(now, timedelta(minutes=5))
        published = [k.kid for k in store.published(now + timedelta(minutes=4))]
        gone = [k.kid for k in store.published(now + timedelta(minutes=6))]
    assert first in published
    assert first not in gone and len(gone) == 1


def test_jwks_has_no_private_parts(client, provider):
    provider.user()
    provider.rp().tokens()
    for key in client.get("/jwks.json").get_json()["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
        assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
