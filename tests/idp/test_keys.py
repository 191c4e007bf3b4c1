"""Signing key rotation: new tokens use the new key, old ones still verify from the JWKS."""

from __future__ import annotations

from datetime import timedelta

import jwt

from idp.services import services
from tests.conftest import Provider


def _frozen_provider(make_app):
    from datetime import UTC, datetime

    from idp.clock import FrozenClock

    # Real time, frozen: relying parties check exp against the wall clock.
    clock = FrozenClock(datetime.now(UTC))
    return Provider(make_app(clock=clock)), clock


def _rotate_elsewhere(app, publish_for=timedelta(hours=1)):
    """As `idp keys rotate` would from another process; then this worker's idea of the
    active key expires (ACTIVE_KEY_CACHE_SECONDS), its JWKS cache does not."""
    from idp.extensions import db
    from idp.keys import rotate

    with app.app_context():
        kid = rotate(services(app).clock.now(), publish_for).kid
        services(app).keys.forget_active()
        db.session.remove()
    return kid


def test_oidcc_server_rotate_keys(make_app):
    from idp.keys import JWKS_RECHECK_SECONDS

    provider, clock = _frozen_provider(make_app)
    provider.user()
    rp = provider.rp()
    old_token = rp.tokens()["id_token"]
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    app = provider.app
    clock.advance(minutes=1)
    _rotate_elsewhere(app)
    clock.advance(seconds=JWKS_RECHECK_SECONDS)
    rp2 = provider.rp()
    new_token = rp2.tokens()["id_token"]
    new_kid = jwt.get_unverified_header(new_token)["kid"]
    assert new_kid != old_kid
    kids = [k["kid"] for k in app.test_client().get("/jwks.json").get_json()["keys"]]
    assert kids == [new_kid, old_kid]
    assert rp.verify_id_token(old_token)["sub"]
    assert rp2.verify_id_token(new_token)["sub"]


def test_a_new_key_signs_only_once_every_served_jwks_shows_it(make_app):
    """Workers read the published kids at most every JWKS_RECHECK_SECONDS; a rotated key
    signs nothing before that, so a token's kid is always in the JWKS a worker serves."""
    from idp.keys import JWKS_RECHECK_SECONDS

    provider, clock = _frozen_provider(make_app)
    provider.user()
    app = provider.app
    client = app.test_client()
    old_kid = jwt.get_unverified_header(provider.rp().tokens()["id_token"])["kid"]
    clock.advance(minutes=1)
    before = client.get("/jwks.json")
    assert [k["kid"] for k in before.get_json()["keys"]] == [old_kid]
    new_kid = _rotate_elsewhere(app)
    clock.advance(seconds=JWKS_RECHECK_SECONDS / 2)
    # This worker still serves the document it read; tokens are still signed with a key in it.
    assert (
        client.get("/jwks.json", headers={"If-None-Match": before.headers["ETag"]}).status_code
        == 304
    )
    token = provider.rp().tokens()["id_token"]
    assert jwt.get_unverified_header(token)["kid"] == old_kid
    clock.advance(seconds=JWKS_RECHECK_SECONDS / 2)
    after = client.get("/jwks.json", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and after.headers["ETag"] != before.headers["ETag"]
    assert [k["kid"] for k in after.get_json()["keys"]] == [new_kid, old_kid]
    services(app).keys.forget_active()
    assert jwt.get_unverified_header(provider.rp().tokens()["id_token"])["kid"] == new_kid


def test_retired_key_leaves_jwks_after_publish_window(provider):
    from idp.keys import rotate

    app = provider.app
    with app.app_context():
        store = services(app).keys
        now = services(app).clock.now()
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


def test_jwks_answers_304_to_its_etag(client, provider):
    first = client.get("/jwks.json")
    assert first.status_code == 200 and first.headers["ETag"].startswith('"')
    assert first.headers["Cache-Control"] in ("public, max-age=300", "max-age=300, public")
    again = client.get("/jwks.json", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    other = client.get("/jwks.json", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.get_json() == first.get_json()


def test_retired_key_leaves_the_served_jwks_when_its_window_ends(make_app):
    from datetime import UTC, datetime

    from idp.clock import FrozenClock
    from idp.extensions import db
    from idp.keys import rotate

    clock = FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))
    app = make_app(clock=clock)
    client = app.test_client()
    with app.app_context():
        services(app).keys.active_key(clock.now())
        rotate(clock.now(), timedelta(minutes=5))
        db.session.remove()
    assert len(client.get("/jwks.json").get_json()["keys"]) == 2
    clock.advance(minutes=6)
    assert len(client.get("/jwks.json").get_json()["keys"]) == 1
