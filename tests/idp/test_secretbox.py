"""TOTP secrets are sealed at rest with a key derived from secret_key."""

from __future__ import annotations

from dataclasses import replace

import pytest

from idp.secretbox import SecretUnreadable, seal, unseal


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
