"""The client credentials grant for machine clients."""

from __future__ import annotations

from tests.idp.test_api_support import API


def test_client_credentials_issue_token(provider):
    rp = provider.rp(grant_types=["client_credentials"], scopes=["idp.admin"], redirect_uris=[])
    response = rp.token_request({"grant_type": "client_credentials", "scope": "idp.admin"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["scope"] == "idp.admin"
    assert "refresh_token" not in body
    assert "id_token" not in body


def test_client_credentials_refused_scope(provider):
    rp = provider.rp(grant_types=["client_credentials"], scopes=["idp.admin"], redirect_uris=[])
    response = rp.token_request({"grant_type": "client_credentials", "scope": "openid email"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"


def test_client_credentials_wrong_secret(provider):
    rp = provider.rp(grant_types=["client_credentials"], scopes=["idp.admin"], redirect_uris=[])
    rp.secret = "wrong"
    response = rp.token_request({"grant_type": "client_credentials"})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_grant_not_allowed_for_client(provider):
    rp = provider.rp()  # authorization_code + refresh_token only
    response = rp.token_request({"grant_type": "client_credentials"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "unauthorized_client"


def test_no_scope_means_registered_scope(provider):
    rp = provider.rp(grant_types=["client_credentials"], scopes=["idp.admin"], redirect_uris=[])
    response = rp.token_request({"grant_type": "client_credentials"})
    assert response.status_code == 200
    assert response.get_json()["scope"] == "idp.admin"


def test_client_without_admin_scope_cannot_request_it(provider):
    rp = provider.rp(grant_types=["client_credentials"], scopes=["reports"], redirect_uris=[])
    response = rp.token_request({"grant_type": "client_credentials", "scope": "idp.admin"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"


def test_token_endpoint_behind_a_tls_terminating_proxy(make_app, settings):
    """The proxy speaks plain http to us with its own Host header; the https issuer decides
    the transport, so the request is served rather than refused as insecure (a 500 before)."""
    from dataclasses import replace

    from tests.conftest import Provider

    provider = Provider(make_app(replace(settings, issuer="https://idp.example")))
    rp = provider.rp(grant_types=["client_credentials"], scopes=["idp.admin"], redirect_uris=[])
    client = provider.app.test_client()
    for host in ("idp.internal:8000", "evil.example"):
        response = client.post(
            "/token",
            base_url=f"http://{host}",
            data={"grant_type": "client_credentials"},
            auth=(rp.client_id, rp.secret),
        )
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["token_type"].lower() == "bearer"


def _with_app(provider, fn):
    with provider.app.app_context():
        return fn()


def _machine(provider):
    return provider.rp(grant_types=["client_credentials"], scopes=["idp.admin"], redirect_uris=[])


def test_the_token_is_stored_as_issued_without_a_session_transaction(provider):
    """The client is read and the token row written on a connection of their own: the
    session never begins a transaction (on PostgreSQL a BEGIN and a COMMIT saved), and the
    row is there, whole, for the next request."""
    import sqlalchemy as sa

    from idp.extensions import db
    from idp.models import Token

    rp = _machine(provider)
    begun = []

    def _begun(session, transaction, connection):
        begun.append(connection)

    sa.event.listen(sa.orm.Session, "after_begin", _begun)
    try:
        body = rp.token_request({"grant_type": "client_credentials"}).get_json()
        assert begun == []
        _with_app(provider, lambda: db.session.scalar(sa.select(1)))  # the listener listens
        assert len(begun) == 1
    finally:
        sa.event.remove(sa.orm.Session, "after_begin", _begun)
    with provider.app.app_context():
        row = db.session.scalar(sa.select(Token).filter_by(access_token=body["access_token"]))
        assert (row.client_id, row.user_id, row.scope) == (rp.client_id, None, "idp.admin")
        assert (row.access_token_revoked_at, row.refresh_token, row.expires_in) == (
            0,
            None,
            body["expires_in"],
        )
    answer = provider.app.test_client().get(
        API + "/identityProtection/riskyUsers",
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert answer.status_code == 200, answer.get_data()


def test_a_rotated_secret_or_a_deleted_client_is_refused_at_the_next_request(provider):
    from idp.clients import delete_client, find_client, read_client, rotate_secret

    rp = _machine(provider)
    assert rp.token_request({"grant_type": "client_credentials"}).status_code == 200
    new_secret = _with_app(provider, lambda: rotate_secret(find_client(rp.client_id)))
    assert rp.token_request({"grant_type": "client_credentials"}).status_code == 401
    rp.secret = new_secret
    assert rp.token_request({"grant_type": "client_credentials"}).status_code == 200
    _with_app(provider, lambda: delete_client(find_client(rp.client_id)))
    answer = rp.token_request({"grant_type": "client_credentials"})
    assert answer.status_code == 401 and answer.get_json()["error"] == "invalid_client"
    assert _with_app(provider, lambda: read_client(rp.client_id)) is None


def test_the_client_read_for_authlib_is_the_stored_one_and_outside_the_session(provider):
    from idp.clients import query_client, read_client
    from idp.extensions import db

    rp = _machine(provider)

    def both():
        read = read_client(rp.client_id)
        stored = query_client(rp.client_id)
        return read, stored, read in db.session

    read, stored, in_session = _with_app(provider, both)
    assert not in_session and read is not stored
    assert read.check_client_secret(rp.secret) and not read.check_client_secret("wrong")
    for name in ("id", "name", "client_id", "client_secret", "scope", "grant_types"):
        assert getattr(read, name) == getattr(stored, name), name
    assert read.first_party is stored.first_party is True
    for junk in ("", "x" * 49, "a\x00b", "é"):
        assert _with_app(provider, lambda junk=junk: read_client(junk)) is None


def test_a_request_reads_its_client_once_and_the_next_request_afresh(provider, monkeypatch):
    """The authorization endpoint asks for the client several times a request: one read
    (a statement on a connection of its own), and none carried over to the next request."""
    import idp.clients

    reads = []
    real = idp.clients._CLIENT_ROW.first
    monkeypatch.setattr(
        idp.clients._CLIENT_ROW, "first", lambda params: reads.append(params) or real(params)
    )
    provider.user()
    rp = provider.rp()
    first = rp.sign_in()  # authorize, the sign-in page, its form, authorize again
    assert first.status_code == 302 and "code=" in first.location
    signed_in = len(reads)
    reads.clear()
    again = rp.browser.get(rp.authorize_url())  # signed in: one request, code at once
    assert again.status_code == 302 and "code=" in again.location
    assert reads == [{"client_id": rp.client_id}]
    assert 2 <= signed_in <= 3, signed_in  # each authorization request reads it once
