"""The user's own pages: the apps they allowed (and removing them), and their answers to
account emails ("this wasn't me").

The apps page signs the user in through the provider itself, as a first-party relying
party: the sign-in passes the same risk engine and policies as any other, so a session
that has only typed a password (and still owes a second factor) never reaches it.
"""

from __future__ import annotations

import hmac
import secrets
from functools import wraps
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import (
    Blueprint,
    flash,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from mfa.errors import PasskeyError

from .. import flows, passkeys
from ..accounts import EVENTS, read_report, report_not_me, tell_user
from ..clients import ensure_own_client
from ..consent import SCOPE_LINES, allowed_apps, revoke
from ..decision import ACR_MFA
from ..extensions import db
from ..forms import AddPasskeyForm, RemoveAppForm, check_csrf
from ..i18n import gettext
from ..models import AuthorizationCode, Client, SsoSession, User
from ..services import now_ts, services
from ..sessions import current_sso, current_user

bp = Blueprint("account", __name__, url_prefix="/account")

ACCOUNT_CLIENT_ID = "idp-account"
FLOW_KIND = "account"
PASSKEY_KIND = "account-passkey"


def _callback_url() -> str:
    return f"{services().settings.issuer}/account/callback"


def _account_client() -> Client:
    """The account pages' own first-party client registration, created on first use."""
    return ensure_own_client(ACCOUNT_CLIENT_ID, "Your account", _callback_url(), ["openid"])


def signed_in(view: Any) -> Any:
    """Only a session whose sign-in completed through the account pages' own client."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user, sso = current_user(), current_sso()
        if user is None or sso is None or session.get("account_sid") != sso.id:
            return redirect(url_for("account.login"))
        return view(user, *args, **kwargs)

    return wrapper


@bp.get("/login")
def login() -> Any:
    """Start the account pages' sign-in: an authorization request of their own client (with
    `?mfa=1`, one that demands the second factor, to manage passkeys)."""
    _account_client()
    verifier = secrets.token_urlsafe(48)
    # The flow's id is the state: bound to this browser, and the verifier stays server-side.
    state = flows.create(FLOW_KIND, {"verifier": verifier})
    params = {
        "response_type": "code",
        "client_id": ACCOUNT_CLIENT_ID,
        "scope": "openid",
        "redirect_uri": _callback_url(),
        "state": state,
        "code_challenge": create_s256_code_challenge(verifier).rstrip("="),
        "code_challenge_method": "S256",
    }
    if request.args.get("mfa") == "1":
        params["acr_values"] = ACR_MFA
    query = urlencode(params)
    return redirect(f"{url_for('oauth.authorize')}?{query}")


@bp.get("/callback")
def callback() -> Any:
    """Finish the sign-in: the code must be this client's, unused, for this session."""
    state = request.args.get("state", "")
    found = flows.load(FLOW_KIND, state)
    pending = found[0] if found is not None and flows.drop(state) else None
    sso = current_sso()
    if (
        pending is None
        or request.args.get("error")
        or sso is None
        or not _spend_code(request.args.get("code", ""), str(pending.get("verifier")), sso)
    ):
        return _sign_in_failed()
    session["account_sid"] = sso.id
    return redirect(url_for("account.apps"))


def _spend_code(code: str, verifier: str, sso: SsoSession) -> bool:
    """Whether the code is the account client's, unused, issued in this session to the
    holder of `verifier`; spent here, in-process, so it buys no token anywhere else."""
    item = db.session.scalar(
        sa.select(AuthorizationCode).filter_by(code=code, client_id=ACCOUNT_CLIENT_ID)
    )
    challenge = create_s256_code_challenge(verifier).rstrip("=")
    if (
        item is None
        or item.used_at is not None
        or item.is_expired()
        or item.sid != sso.id
        or item.user_id != sso.user_id
        or not hmac.compare_digest(item.code_challenge or "", challenge)
    ):
        return False
    item.used_at = now_ts()
    db.session.commit()
    return True


def _sign_in_failed() -> Any:
    return render_template(
        "error.html",
        title=gettext("The sign-in did not complete"),
        error="access_denied",
        description=gettext("Open your account page again to sign in."),
        request_id="",
        now=None,
    ), 400


@bp.get("")
@signed_in
def apps(user: Any) -> Any:
    """The apps this user allowed, each with what it may do and a "Remove access" button;
    the user's passkeys, with "Add a passkey" and "Remove"."""
    return _account_page(user)


def _may_manage_factors(user: User, sso: SsoSession) -> bool:
    """Adding or removing a factor takes one the user has, passed in this session; a user
    with none may add the first (a risky session never got this far: 53004)."""
    return not user.has_second_factor or "mfa" in sso.amr


def _account_page(user: User, error: str | None = None, status: int = 200) -> Any:
    sso = current_sso()
    assert sso is not None
    manage = _may_manage_factors(user, sso)
    options = ceremony = None
    if manage and passkeys.available():
        started = passkeys.begin_registration(user)
        # The challenge stays server-side, in a flow of this browser bound to this session.
        ceremony = flows.create(
            PASSKEY_KIND,
            {"user_id": user.id, "sid": sso.id, "challenge": started.challenge},
            minutes=10,
        )
        options = started.options
        passkeys.use_script()
    return render_template(
        "account.html",
        user=user,
        apps=allowed_apps(user.id),
        scope_lines=SCOPE_LINES,
        messages=get_flashed_messages(),
        passkeys=user.passkeys,
        manage_factors=manage,
        error=error,
        passkey_options=options,
        ceremony=ceremony,
    ), status


@bp.post("/passkeys/add")
@signed_in
def add_passkey(user: Any) -> Any:
    """Register a passkey from the account page, against the challenge its page was given."""
    form = AddPasskeyForm.submitted()
    sso = current_sso()
    assert sso is not None
    if not _may_manage_factors(user, sso):
        return redirect(url_for("account.apps"))
    name = form.name.data
    problem = passkeys.name_problem(name)
    if problem:
        return _account_page(user, problem, 400)
    ceremony = form.ceremony.data
    found = flows.load(PASSKEY_KIND, ceremony)
    # Dropped before the check: a challenge is used once, whatever the answer.
    pending = found[0] if found is not None and flows.drop(ceremony) else None
    if pending is None or pending.get("user_id") != user.id or pending.get("sid") != sso.id:
        return _account_page(user, gettext("That passkey request has expired. Try again."), 400)
    try:
        passkeys.register(user, form.credential.data, pending.get("challenge"), name)
    except PasskeyError as exc:
        return _account_page(user, passkeys.user_message(exc), 400)
    tell_user(user, "passkey_added")
    flash(gettext("Passkey “%(name)s” added.", name=name.strip()))
    return redirect(url_for("account.apps"))


@bp.post("/passkeys/<passkey_id>/remove")
@signed_in
def remove_passkey(user: Any, passkey_id: str) -> Any:
    """Remove one of the user's own passkeys."""
    check_csrf()
    sso = current_sso()
    assert sso is not None
    if not _may_manage_factors(user, sso):
        return redirect(url_for("account.apps"))
    removed = passkeys.remove(user.id, passkey_id[:36])
    flash(
        gettext("Passkey “%(name)s” removed.", name=removed.name)
        if removed
        else gettext("That passkey was not found.")
    )
    return redirect(url_for("account.apps"))


@bp.post("/apps/remove")
@signed_in
def remove_app(user: Any) -> Any:
    """Remove an app's access: the consent goes and the app's tokens stop working."""
    form = RemoveAppForm.submitted()
    # Only the signed-in user's own consent can match: the user comes from the session.
    client_id = form.client_id.data
    apps = {app.client_id: app.name for app in allowed_apps(user.id)}
    if client_id in apps and revoke(user.id, client_id):
        flash(gettext("%(app)s can no longer access your account.", app=apps[client_id]))
    else:
        flash(gettext("That app had no access to remove."))
    return redirect(url_for("account.apps"))


@bp.route("/not-me", methods=["GET", "POST"])
def not_me() -> Any:
    """Confirm, then record userReportedSuspiciousActivity and sign the user out everywhere."""
    token = request.values.get("token", "")
    data = read_report(token)
    if data is None:
        return render_template(
            "error.html",
            title=gettext("This link is not valid"),
            error="invalid_link",
            description=gettext(
                "The link is wrong or older than allowed. If something on "
                "your account looks wrong, contact your administrator."
            ),
            request_id="",
            now=None,
        ), 400
    if request.method == "GET":
        return render_template("not_me.html", token=token, event=EVENTS[data["e"]])
    check_csrf()
    if not report_not_me(data):
        return render_template("not_me.html", token=token, event=EVENTS[data["e"]], gone=True), 404
    return render_template("not_me.html", event=EVENTS[data["e"]], done=True)
