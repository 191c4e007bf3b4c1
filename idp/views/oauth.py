"""OAuth 2.0 / OpenID Connect endpoints: discovery, JWKS, authorize, token, userinfo, logout."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any
from urllib.parse import parse_qs, urlencode

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from risk.context import SignInKind

from ..decision import (
    ACR_MFA,
    ACR_PASSWORD,
    assess,
    build_context,
    decide,
    plain_reason,
    record_success,
)
from ..extensions import authorization
from ..oauth import Authentication
from ..requestinfo import request_id
from ..sessions import check_csrf, clock_now, current_sso, current_user
from ..signin_log import record

bp = Blueprint("oauth", __name__)

MAX_FLOWS = 5


def _settings() -> Any:
    return current_app.extensions["idp.settings"]


@bp.get("/.well-known/openid-configuration")
def discovery() -> Response:
    issuer = _settings().issuer
    return jsonify(
        issuer=issuer,
        authorization_endpoint=f"{issuer}/authorize",
        token_endpoint=f"{issuer}/token",
        userinfo_endpoint=f"{issuer}/userinfo",
        jwks_uri=f"{issuer}/jwks.json",
        revocation_endpoint=f"{issuer}/revoke",
        end_session_endpoint=f"{issuer}/logout",
        scopes_supported=["openid", "profile", "email", "groups", "offline_access"],
        response_types_supported=["code"],
        response_modes_supported=["query"],
        grant_types_supported=["authorization_code", "refresh_token", "client_credentials"],
        subject_types_supported=["public"],
        id_token_signing_alg_values_supported=["RS256"],
        token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post", "none"],
        revocation_endpoint_auth_methods_supported=[
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        code_challenge_methods_supported=["S256"],
        claims_supported=[
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "sid",
            "amr",
            "acr",
            "at_hash",
            "preferred_username",
            "name",
            "email",
            "email_verified",
            "groups",
            "updated_at",
        ],
        acr_values_supported=[ACR_PASSWORD, ACR_MFA],
        prompt_values_supported=["none", "login"],
        claims_parameter_supported=False,
        request_parameter_supported=False,
        request_uri_parameter_supported=False,
    )


@bp.get("/jwks.json")
def jwks() -> Response:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    response = jsonify(app.extensions["idp.keys"].jwks(clock_now()))
    response.cache_control.max_age = 300
    response.cache_control.public = True
    return response


def protocol_error(error: OAuth2Error) -> Any:
    """Send an OAuth error to the client's redirect URI, or show it when there is none we trust."""
    if error.redirect_uri:
        return authorization.handle_error_response(None, error)
    return render_template(
        "error.html",
        title="This sign-in link is not valid",
        error=error.error,
        description=error.get_error_description(),
        request_id=request_id(),
        now=clock_now(),
    ), 400


def _flow_key() -> str:
    items = sorted((k, v) for k, vs in request.values.lists() for v in vs if k != "csrf_token")
    return hashlib.sha256(urlencode(items).encode()).hexdigest()[:24]


def _flows() -> dict[str, Any]:
    flows = session.get("flows")
    return dict(flows) if isinstance(flows, dict) else {}


def flow_param(flow: dict[str, Any], name: str) -> str:
    """One parameter of the authorization request a flow continues ("" when absent)."""
    return parse_qs(flow["query"]).get(name, [""])[0]


def save_flow(key: str, flow: dict[str, Any]) -> None:
    flows = _flows()
    flows[key] = flow
    # Keep only the newest flows: the cookie is small, and stale tabs start over.
    newest = sorted(flows.items(), key=lambda kv: kv[1].get("created", 0))[-MAX_FLOWS:]
    session["flows"] = dict(newest)


def drop_flow(key: str) -> None:
    flows = _flows()
    flows.pop(key, None)
    session["flows"] = flows


def get_flow(key: str | None) -> dict[str, Any] | None:
    if not key:
        return None
    flow = _flows().get(key)
    return flow if isinstance(flow, dict) else None


def _max_age_exceeded(max_age: str | None, auth_time_ts: float) -> bool:
    if max_age is None or max_age == "":
        return False
    return clock_now().timestamp() - auth_time_ts > int(max_age)


@bp.route("/authorize", methods=["GET", "POST"])
def authorize() -> Any:
    """The authorization endpoint: identify the user, take the decision, issue a code."""
    max_age = request.values.get("max_age")
    if max_age is not None and max_age != "" and not max_age.isdigit():
        max_age_error: str | None = "'max_age' must be a non-negative integer."
        max_age = None
    else:
        max_age_error = None
    key = _flow_key()
    flow = get_flow(key)
    user = current_user()
    sso = current_sso()
    prompts = set(request.values.get("prompt", "").split())
    signed_in_for_flow = bool(flow and sso and flow.get("sid") == sso.id)
    need_login = (
        user is None
        or sso is None
        or ("login" in prompts and not signed_in_for_flow)
        or _max_age_exceeded(max_age, sso.auth_time.timestamp())
    )
    try:
        grant = authorization.get_consent_grant(end_user=None if need_login else user)
        if max_age_error:
            raise InvalidRequestError(max_age_error, redirect_uri=grant.redirect_uri)
    except OAuth2Error as error:
        return protocol_error(error)

    if need_login:
        save_flow(key, new_flow(grant.client.client_id))
        return redirect(url_for("signin.login", flow=key))

    assert user is not None and sso is not None
    flow = flow or new_flow(grant.client.client_id)
    correlation_id = flow["correlation_id"]
    kind = SignInKind.PASSWORD if signed_in_for_flow else SignInKind.SSO
    ctx = build_context(kind=kind, user=user, username=user.username,
                        client_id=grant.client.client_id, correlation_id=correlation_id)
    risk = flow.get("risk")
    if not risk or risk.get("sid") != sso.id:
        # Every authorization request is assessed, SSO reuse and prompt=none included.
        risk = assess(ctx, user, sso.id)
        flow["risk"] = risk
    outcome = decide(user=user, sso=sso, risk=risk, flow=flow,
                     acr_values=request.values.get("acr_values", ""))
    log = {"correlation_id": correlation_id, "kind": kind.value, "user": user,
           "username": None, "client_id": grant.client.client_id,
           "error_code": outcome.error_code, "reason": outcome.reason, "risk": risk,
           "decision": outcome.decision}

    if outcome.blocked or outcome.interaction is not None:
        record(outcome="failure" if outcome.blocked else "interrupted", **log)
    if outcome.blocked or (outcome.interaction is not None and "none" in prompts):
        drop_flow(key)
        if outcome.blocked and "none" not in prompts:
            return blocked_page(outcome.error_code, outcome.reason, correlation_id)
        plain, _ = plain_reason(outcome.error_code, outcome.reason)
        error = OAuth2Error(description=f"{outcome.error_code}: {plain}",
                            redirect_uri=grant.redirect_uri)
        error.error = "access_denied" if outcome.blocked else "interaction_required"
        error.state = request.values.get("state")
        return authorization.handle_error_response(None, error)
    if outcome.interaction is not None:
        flow.update(outcome.flow_updates, sid=sso.id)
        save_flow(key, flow)
        return redirect(url_for(outcome.endpoint, flow=key))

    g.authentication = Authentication(
        sid=sso.id, auth_time=sso.auth_time, amr=tuple(sso.amr), acr=outcome.acr
    )
    response = authorization.create_authorization_response(grant=grant, grant_user=user)
    record_success(ctx, risk)
    record(outcome="success", **{**log, "error_code": None, "reason": None})
    drop_flow(key)
    return response


def new_flow(client_id: str) -> dict[str, Any]:
    """The state one authorization request keeps between its steps."""
    return {
        "query": urlencode(list(request.values.items(multi=True))),
        "correlation_id": str(uuid.uuid4()),
        "created": int(clock_now().timestamp()),
        "client_id": client_id,
    }


def blocked_page(code: int | None, reason: str | None, correlation_id: str) -> Any:
    """The 403 page: the code, the reason in plain words, what to do, and ids for support."""
    plain, advice = plain_reason(code, reason)
    return render_template("blocked.html", code=code, reason=plain, advice=advice,
                           correlation_id=correlation_id, request_id=request_id(),
                           now=clock_now()), 403


def resume_url(flow: dict[str, Any]) -> str:
    """Where the browser goes to continue an authorization request after a step."""
    return f"{url_for('oauth.authorize')}?{flow['query']}"


@bp.post("/token")
def token() -> Any:
    return authorization.create_token_response()


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo() -> Any:
    return authorization.create_endpoint_response("userinfo")


@bp.post("/revoke")
def revoke() -> Any:
    return authorization.create_endpoint_response("revocation")


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Any:
    """RP-initiated logout; without a valid id_token_hint the user confirms first."""
    try:
        end_request = authorization.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        return render_template(
            "error.html",
            title="This sign-out link is not valid",
            error=error.error,
            description=error.get_error_description(),
            request_id=request_id(),
            now=clock_now(),
        ), 400
    if end_request.needs_confirmation:
        if request.method == "GET" or request.form.get("confirm") != "yes":
            return render_template(
                "logout_confirm.html", params=request.values, client=end_request.client
            )
        check_csrf()
    response = authorization.create_endpoint_response("end_session", end_request)
    return response or render_template("logged_out.html")
