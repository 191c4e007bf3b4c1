"""OAuth 2.0 / OpenID Connect endpoints: discovery, JWKS, authorize, token, userinfo, logout."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from typing import Any

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
)
from flask.ctx import RequestContext

from .. import authflow
from ..authflow import Step
from ..claims import claims_supported
from ..config import Settings
from ..decision import (
    ACR_MFA,
    ACR_PASSWORD,
    ACR_PHISHING_RESISTANT,
    blocked_page,
    plain_reason,
    record_success,
)
from ..extensions import authorization, db
from ..fastpath import static_headers
from ..forms import LogoutConfirmForm
from ..i18n import N_, gettext
from ..oauth import Authentication, issuer_parameter
from ..requestinfo import request_id
from ..services import services
from ..sessions import clock_now
from ..signin_log import record

bp = Blueprint("oauth", __name__)
log = logging.getLogger("idp.oauth")


def _settings() -> Settings:
    return services().settings


def _static_json(body: bytes, etag: str) -> Response:
    """A precomputed JSON document with its strong ETag; 304 when the client holds it.
    Once built, `idp.fastpath` answers it in front of Flask, with the same headers."""
    if request.if_none_match.contains_weak(etag):
        response = Response(status=304)
    else:
        response = Response(body, mimetype="application/json")
    response.set_etag(etag)
    response.headers.extend(static_headers(_settings().issuer.startswith("https://")))
    return response


@bp.get("/.well-known/openid-configuration")
def discovery() -> Response:
    caches = services().caches
    # Settings are fixed for the app's life, so the document is built once per worker.
    cached = caches.discovery
    if cached is None:
        body = json.dumps(_discovery_document(_settings().issuer), separators=(",", ":")).encode()
        cached = caches.discovery = (body, hashlib.sha256(body).hexdigest()[:32])
    return _static_json(*cached)


def _discovery_document(issuer: str) -> dict[str, Any]:
    """The OpenID Provider metadata (OpenID Connect Discovery 1.0 §3)."""
    return dict(
        issuer=issuer,
        authorization_endpoint=f"{issuer}/authorize",
        token_endpoint=f"{issuer}/token",
        userinfo_endpoint=f"{issuer}/userinfo",
        jwks_uri=f"{issuer}/jwks.json",
        revocation_endpoint=f"{issuer}/revoke",
        end_session_endpoint=f"{issuer}/logout",
        introspection_endpoint=f"{issuer}/introspect",
        introspection_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
        # Only while dynamic client registration is on (RFC 8414 §2).
        **(
            {"registration_endpoint": f"{issuer}/register"}
            if _settings().registration.enabled
            else {}
        ),
        userinfo_signing_alg_values_supported=["RS256"],
        scopes_supported=[
            "openid",
            "profile",
            "email",
            "address",
            "phone",
            "groups",
            "offline_access",
        ],
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
            *claims_supported(),
        ],
        acr_values_supported=[ACR_PASSWORD, ACR_MFA, ACR_PHISHING_RESISTANT],
        prompt_values_supported=["none", "login", "consent"],
        claims_parameter_supported=True,
        # Request objects are refused with request_not_supported / request_uri_not_supported.
        request_parameter_supported=False,
        request_uri_parameter_supported=False,
        authorization_response_iss_parameter_supported=True,
        # OpenID Connect Back-Channel Logout 1.0: logout tokens carry sub, and sid.
        backchannel_logout_supported=True,
        backchannel_logout_session_supported=True,
    )


@bp.get("/jwks.json")
def jwks() -> Response:
    return _static_json(*services().keys.jwks_document(clock_now()))


def to_client(error: OAuth2Error) -> Any:
    """An authorization error sent to the client's (validated) redirect URI, with `iss`."""
    assert error.redirect_uri
    response = authorization.handle_error_response(None, error)
    issuer_parameter.add_issuer_parameter(authorization, response)
    return response


# The error page a person reads says what went wrong in their language; the protocol answers
# (redirects, JSON) keep the English `error_description`. Each description the authorization
# and sign-out pages can show, as its English text (the page in English reads as before)...
_PAGE_DESCRIPTIONS = frozenset(
    (
        N_("Missing 'client_id' parameter."),
        N_("The client does not exist on this server."),
        N_("Missing 'redirect_uri' in request."),
        N_(
            "Missing 'redirect_uri': this client has several redirect URIs registered, so the "
            "request must name one of them."
        ),
        N_(
            "Missing 'redirect_uri': an OpenID Connect request must name one of the "
            "application's registered redirect URIs."
        ),
        N_("'client_id' does not match 'aud' claim"),
        N_(
            "The sign-out request has a post_logout_redirect_uri but does not say which "
            "application sent it (client_id or id_token_hint)."
        ),
        N_("The post_logout_redirect_uri is not registered for this application."),
    )
)
# ... those that name a value (a parameter, a URI) as a pattern and its message ...
_PAGE_PATTERNS = (
    (
        re.compile(r"Redirect URI (?P<uri>.+) is not supported by client\."),
        N_("Redirect URI %(uri)s is not supported by client."),
    ),
    (
        re.compile(r"response_type=(?P<value>.*) is not supported"),
        N_("response_type=%(value)s is not supported"),
    ),
    (
        re.compile(r"Multiple '(?P<name>[^']+)' in request\."),
        N_("Multiple '%(name)s' in request."),
    ),
    (
        re.compile(r"The '(?P<name>[^']+)' parameter holds characters it may not hold\."),
        N_("The '%(name)s' parameter holds characters it may not hold."),
    ),
    (
        re.compile(r"'(?P<name>[^']+)' may be sent only once\."),
        N_("'%(name)s' may be sent only once."),
    ),
)
# ... and, for any other description (or none), a sentence per error code.
_PAGE_FALLBACKS = {
    "invalid_request": N_(
        "The request is missing a required parameter, repeats one, or is otherwise malformed."
    ),
    "invalid_client": N_("The application that sent you here is not known to this server."),
    "unauthorized_client": N_("The application is not allowed to make this request."),
    "unsupported_response_type": N_(
        "The application asked for a kind of answer this server does not support."
    ),
    "invalid_scope": N_("The application asked for access that is invalid or unknown."),
    "access_denied": N_("The request was denied."),
    "request_not_supported": N_(
        "The application sent a request object, which this server does not support."
    ),
    "request_uri_not_supported": N_(
        "The application sent a request_uri, which this server does not support."
    ),
}
_PAGE_FALLBACK = N_("The application sent a request this server cannot process.")


def page_description(error: OAuth2Error) -> str:
    """What the HTML error page says about `error`, in the reader's language."""
    description = str(error.get_error_description() or "")
    if description in _PAGE_DESCRIPTIONS:
        return gettext(description)
    for pattern, message in _PAGE_PATTERNS:
        found = pattern.fullmatch(description)
        if found:
            return gettext(message, **found.groupdict())
    return gettext(_PAGE_FALLBACKS.get(str(error.error), _PAGE_FALLBACK))


def protocol_error(error: OAuth2Error) -> Any:
    """Send an OAuth error to the client's redirect URI, or show it when there is none we trust."""
    log.info("authorization request refused: %s (request id %s)", error.error, request_id())
    if error.redirect_uri:
        return to_client(error)
    return render_template(
        "error.html",
        title=gettext("This sign-in link is not valid"),
        error=error.error,
        description=page_description(error),
        request_id=request_id(),
        now=clock_now(),
    ), 400


# Protocol parameters whose values RFC 6749 limits to printable ASCII (Appendix A); Authlib
# echoes some of them in error descriptions, which may not hold anything else.
STRICT_PARAMETERS = (
    "redirect_uri",
    "response_type",
    "response_mode",
    "scope",
    "client_id",
    "grant_type",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "acr_values",
    "token_type_hint",
    "code_verifier",
)
_STRICT_VALUE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
_STRICT_NAMES = frozenset(STRICT_PARAMETERS)


@bp.before_request
def refuse_malformed_parameters() -> Any:
    """A protocol parameter outside RFC 6749's characters is invalid_request, never a 500."""
    # args, then form, as request.values.items(multi=True) walks them: Werkzeug annotates that
    # as yielding lists of values (it yields each str), MultiDict.items(multi=True) correctly.
    for source in request.values.dicts:
        for name, value in source.items(multi=True):
            if name in _STRICT_NAMES and not _STRICT_VALUE.fullmatch(value):
                return _malformed(f"The '{name}' parameter holds characters it may not hold.")
    return None


def _malformed(description: str) -> Any:
    log.info(
        "refused %s %s: %s (request id %s)", request.method, request.path, description, request_id()
    )
    if request.path == "/authorize":
        # No redirect URI is trusted yet: protocol_error shows the error, never redirects.
        return protocol_error(InvalidRequestError(description))
    return (
        jsonify(error="invalid_request", error_description=description),
        400,
        {"Cache-Control": "no-store"},
    )


def _max_age() -> int | None:
    """The request's max_age; InvalidRequestError when it is not a non-negative integer."""
    value = request.values.get("max_age")
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise InvalidRequestError("'max_age' must be a non-negative integer.")
    return int(value)


@bp.route("/authorize", methods=["GET", "POST"])
def authorize(resumed: authflow.AuthFlow | None = None) -> Any:
    """The authorization endpoint: run the checks of `idp.authflow`, then issue a code.
    `resumed`: this request's flow as a step left it, unsaved (see `resume`)."""
    try:
        max_age, max_age_error = _max_age(), None
    except InvalidRequestError as error:
        max_age, max_age_error = None, error
    ctx = authflow.Context.from_request(max_age, resumed)
    login = authflow.first_verdict(authflow.LOGIN_CHECKS, ctx)
    try:
        grant = authorization.get_consent_grant(end_user=None if login else ctx.user)
        if max_age_error is not None:
            max_age_error.redirect_uri = grant.redirect_uri
            max_age_error.state = grant.request.payload.state
            raise max_age_error
    except OAuth2Error as error:
        return protocol_error(error)
    ctx.flow = ctx.flow or authflow.start(grant.client.client_id, grant.client.redirect_uris)
    verdict = login
    if verdict is None:
        ctx.assess()
        verdict = authflow.first_verdict(authflow.POLICY_CHECKS + authflow.CONSENT_CHECKS, ctx)
    if verdict is not None:
        return interrupt(ctx, grant, verdict)
    return issue_code(ctx, grant)


# In the environ of a request `resume` rebuilt: the request it really is ("POST /login").
RESUMED_FROM = "idp.resumed_from"


def resume(flow: authflow.AuthFlow) -> Any:
    """Go on with the authorization request in this response, as the browser would at
    `authflow.resume_url`: the endpoint runs on the same request, rebuilt as that GET (so
    Authlib and the checks read its parameters), with this request's cookie session, its
    new SSO session and `flow` as the step left it. The step's writes then commit with the
    endpoint's, and the browser is spared a round trip (a password sign-in goes straight
    to the client or to the next step). The flow's stored version is the one the step
    read: the endpoint ends it, or saves it at the next step, only if no other request
    did first."""
    # The same headers (cookies, address, user agent), without the POST's body.
    environ = {
        key: value
        for key, value in request.environ.items()
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING")
    }
    environ.update(
        {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": "/authorize",
            "QUERY_STRING": flow.query,
            "wsgi.input": io.BytesIO(),
            RESUMED_FROM: f"{request.method} {request.path}",
        }
    )
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with RequestContext(app, environ, session=session._get_current_object()):  # type: ignore[attr-defined]
        return authorize(flow)


def _log(ctx: authflow.Context, **fields: Any) -> None:
    assert ctx.flow is not None
    record(
        correlation_id=ctx.flow.correlation_id,
        kind=ctx.kind.value,
        user=ctx.user,
        username=None,
        client_id=ctx.flow.client_id,
        risk=ctx.flow.risk,
        decision=ctx.judgement.decision,
        **fields,
    )


def interrupt(ctx: authflow.Context, grant: Any, verdict: authflow.Verdict) -> Any:
    """Send the browser to the verdict's step, or block, or (prompt=none, or the user's own
    refusal) tell the client."""
    assert ctx.flow is not None
    if verdict.step is not Step.PASSWORD:
        _log(
            ctx,
            outcome="failure" if verdict.blocked else "interrupted",
            error_code=verdict.error_code,
            reason=verdict.reason,
        )
    if verdict.blocked or "none" in ctx.prompts:
        authflow.finish(ctx.flow)
        db.session.commit()
        if verdict.blocked and "none" not in ctx.prompts and not verdict.to_client:
            return blocked_page(verdict.error_code, verdict.reason, ctx.flow.correlation_id)
        plain, _ = plain_reason(verdict.error_code, verdict.reason)
        error = OAuth2Error(
            description=f"{verdict.error_code}: {plain}", redirect_uri=grant.redirect_uri
        )
        error.error = verdict.oauth_error
        error.state = request.values.get("state")
        return to_client(error)
    return redirect(authflow.demand(ctx.flow, verdict))


def issue_code(ctx: authflow.Context, grant: Any) -> Any:
    """Every check passed: issue the code, log the success, and learn the sign-in."""
    assert ctx.flow is not None and ctx.user is not None and ctx.sso is not None
    g.authentication = Authentication(
        sid=ctx.sso.id, auth_time=ctx.sso.auth_time, amr=tuple(ctx.sso.amr), acr=ctx.judgement.acr
    )
    response = authorization.create_authorization_response(grant=grant, grant_user=ctx.user)
    if not authflow.finish(ctx.flow):
        # Another request on this flow ended it first and has its code: this one's never
        # was (a flow ends once; the second waited for the first's commit, or for
        # SQLite's write lock, and found the row gone).
        db.session.rollback()
        return authflow.expired_page()
    risk = ctx.flow.risk
    assert risk is not None
    record_success(ctx.sign_in_context(), risk)
    # One transaction, which the log row commits: the code, the learned sign-in, the ended
    # flow and the row itself.
    _log(ctx, outcome="success")
    return response


@bp.post("/token")
def token() -> Any:
    return authorization.create_token_response()


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo() -> Any:
    return authorization.create_endpoint_response("userinfo")


@bp.post("/revoke")
def revoke() -> Any:
    return authorization.create_endpoint_response("revocation")


@bp.post("/introspect")
def introspect() -> Any:
    """RFC 7662 token introspection, for confidential clients (see idp.introspection)."""
    return authorization.create_endpoint_response("introspection")


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Any:
    """RP-initiated logout; without a valid id_token_hint the user confirms first."""
    try:
        end_request = authorization.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        return render_template(
            "error.html",
            title=gettext("This sign-out link is not valid"),
            error=error.error,
            description=page_description(error),
            request_id=request_id(),
            now=clock_now(),
        ), 400
    if end_request.needs_confirmation:
        if end_request.redirect_uri:
            authflow.allow_form_targets(authflow.origins([end_request.redirect_uri]))
        form = LogoutConfirmForm()
        if request.method == "GET" or form.confirm.data != "yes":
            return render_template(
                "logout_confirm.html", params=request.values, client=end_request.client
            )
        form.validate_on_submit()  # a missing or wrong CSRF token: the 400 page
    response = authorization.create_endpoint_response("end_session", end_request)
    return response or render_template("logged_out.html")
