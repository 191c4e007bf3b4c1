"""Who may call the admin API: client-credentials bearer tokens holding `idp.admin`.

Every route but the OpenAPI document passes `require_admin_token` first; a refusal is a 401
or 403 with `WWW-Authenticate: Bearer` and the provider's `{"error", "error_description"}`
body. The admitted client is the actor admin actions are recorded under (`admin()`).
"""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import MissingAuthorizationError
from authlib.oauth2.rfc6750 import InsufficientScopeError, InvalidTokenError
from flask import Response, abort, g, jsonify, request

from ...extensions import require_oauth
from .blueprint import bp
from .odata import storable
from .resources import Error
from .vocabulary import ADMIN_SCOPE


@bp.before_request
def require_admin_token() -> Response | None:
    """Admit only client-credentials tokens holding idp.admin; remember the client as the actor."""
    if any(not storable(str(v)) for v in (request.view_args or {}).values()):
        abort(404, description="No such resource.")
    if request.endpoint == "api.openapi":
        return None
    if not storable(request.headers.get("Authorization", "")):
        return _auth_error(InvalidTokenError())
    try:
        token = require_oauth.acquire_token([ADMIN_SCOPE])
    except OAuth2Error as error:
        return _auth_error(error)
    if token.user_id is not None:
        # A user's token is the user acting, never the admin client the scope was granted to.
        return _auth_error(
            InsufficientScopeError(
                "The admin API takes tokens from the client credentials grant only."
            )
        )
    g.api_admin = f"client:{token.client_id}"
    return None


def _auth_error(error: OAuth2Error) -> Response:
    status = 403 if isinstance(error, InsufficientScopeError) else 401
    challenge = f'Bearer realm="idp", scope="{ADMIN_SCOPE}"'
    if not isinstance(error, MissingAuthorizationError):
        challenge += f', error="{error.error}"'
    description = (
        error.get_error_description()
        or {
            401: "A bearer token is required.",
            403: f"The token lacks the {ADMIN_SCOPE} scope.",
        }[status]
    )
    response = jsonify(Error(error=error.error, error_description=description).graph())
    response.status_code = status
    response.headers["WWW-Authenticate"] = challenge
    response.headers["Cache-Control"] = "no-store"
    return response


def admin() -> str:
    """The actor of this request: `client:<client_id>` of the admitted token."""
    return str(g.api_admin)
