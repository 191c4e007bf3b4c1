"""TOTP secrets are sealed at rest with a key derived from secret_key."""

from __future__ import annotations

from dataclasses import replace

import pytest

from idp.secretbox import SecretUnreadable, seal, unseal
from idp.services import services


def test_round_trip_and_no_clear_text(app):
    with app.app_context():
        sealed = seal("JBSWY3DPEHPK3PXP")
        assert sealed.startswith("v1:") and "JBSWY3DPEHPK3PXP" not in sealed
        assert unseal(sealed) == "JBSWY3DPEHPK3PXP"
        assert seal("JBSWY3DPEHPK3PXP") != sealed  # a fresh nonce each time


def test_other_secret_key_cannot_open(app, make_app, settings):
    with app.app_context():
        sealed = seal("JBSWY3DPEHPK3PXP")
    other = make_app(replace(settings, secret_key="another-secret-key-0123456789"))
    with other.app_context(), pytest.raises(SecretUnreadable):
        unseal(sealed)


def test_value_stored_before_sealing_is_read_as_is(app):
    with app.app_context():
        assert unseal("JBSWY3DPEHPK3PXP") == "JBSWY3DPEHPK3PXP"


def _raw_keys(app):
    import sqlalchemy as sa

    from idp.extensions import db

    with app.app_context():
        return [r[0] for r in db.session.execute(sa.text("SELECT private_jwk FROM signing_keys"))]


def test_a_database_dump_without_the_secret_key_forges_nothing(provider):
    """Signing keys are sealed: the stored value holds no RSA parameter in clear."""
    provider.user()
    tokens = provider.rp().tokens()
    assert tokens["id_token"]
    [stored] = _raw_keys(provider.app)
    assert stored.startswith("v1:") and '"d"' not in stored and "RSA" not in stored


def test_secret_key_rotation_with_reseal(make_app, settings):
    """Old key listed: everything still opens; after reseal, the new key alone suffices."""
    import sqlalchemy as sa

    from idp.extensions import db
    from idp.keys import reseal_all
    from idp.models import User
    from tests.conftest import Provider

    first = Provider(make_app(settings))
    first.user()
    rp = first.rp()
    before = rp.tokens()
    with first.app.app_context():
        user = db.session.scalar(sa.select(User))
        user.totp_secret = seal("JBSWY3DPEHPK3PXP")
        db.session.commit()
    new_key = "the-new-secret-key-0123456789"
    without_old = make_app(replace(settings, secret_key=new_key))
    with without_old.app_context(), pytest.raises(SecretUnreadable):
        services(without_old).keys.active_key(services(without_old).clock.now())
    rotating = make_app(
        replace(settings, secret_key=new_key, old_secret_keys=(settings.secret_key,))
    )
    with rotating.app_context():
        assert unseal(db.session.scalar(sa.select(User)).totp_secret) == "JBSWY3DPEHPK3PXP"
        assert reseal_all() == (1, 1)
    after = make_app(replace(settings, secret_key=new_key))
    with after.app_context():
        assert unseal(db.session.scalar(sa.select(User)).totp_secret) == "JBSWY3DPEHPK3PXP"
    # Tokens signed before still verify against the JWKS served with the new key alone.
    jwks = after.test_client().get("/jwks.json").get_json()
    assert rp.verify_id_token(before["id_token"])["sub"] and jwks["keys"]
    rp.app = after
    assert rp.verify_id_token(rp.tokens()["id_token"])["sub"]


def test_keys_stored_in_clear_by_older_versions_are_sealed(provider):
    import sqlalchemy as sa

    from idp.extensions import db
    from idp.keys import reseal_clear_keys

    provider.rp()
    provider.user()
    provider.rp().tokens()
    with provider.app.app_context():
        db.session.execute(
            sa.text("UPDATE signing_keys SET private_jwk = :clear"),
            {"clear": unseal(_raw_keys(provider.app)[0])},
        )
        db.session.commit()
        assert reseal_clear_keys() == 1
    assert _raw_keys(provider.app)[0].startswith("v1:")
