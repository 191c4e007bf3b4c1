"""A built-in relying party for `idp demo`: start a sign-in and show what came back."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, current_app, make_response, render_template, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..services import services

bp = Blueprint("demo", __name__, url_prefix="/demo")

CLIENT_ID = "demo-client"
# The demo app keeps its state in its own cookie, as a real relying party on its own site would.
COOKIE = "demo_rp"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt="demo-rp")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@bp.get("")
def start() -> Any:
    issuer = services().settings.issuer
    verifier = secrets.token_urlsafe(48)
    state = secrets.token_urlsafe(16)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": f"{issuer}/demo/callback",
            "scope": "openid profile email groups",
            "state": state,
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": _b64url(hashlib.sha256(verifier.encode()).digest()),
            "code_challenge_method": "S256",
        }
    )
    response = make_response(
        render_template("demo.html", authorize_url=f"/authorize?{query}", result=None)
    )
    response.set_cookie(
        COOKIE,
        _serializer().dumps({"verifier": verifier, "state": state}),
        httponly=True,
        samesite="Lax",
        path="/demo",
    )
    return response


@bp.get("/callback")
def callback() -> Any:
    issuer = services().settings.issuer
    try:
        pending = _serializer().loads(request.cookies.get(COOKIE, ""), max_age=1800)
    except BadSignature:
        pending = {}
    if request.args.get("error"):
        result = {
            "error": request.args.get("error"),
            "error_description": request.args.get("error_description"),
        }
    elif request.args.get("state") != pending.get("state"):
        result = {"error": "state mismatch: start again from /demo"}
    else:
        # The demo app talks to the token endpoint in-process; a real one would use HTTPS.
        with current_app.test_client() as rp:
            response = rp.post(
                "/token",
                data={
                    "grant_type": "authorization_code",
                    "code": request.args.get("code", ""),
                    "redirect_uri": f"{issuer}/demo/callback",
                    "client_id": CLIENT_ID,
                    "code_verifier": pending.get("verifier", ""),
                },
            )
        result = response.get_json()
        if result and "id_token" in result:
            payload = result["id_token"].split(".")[1]
            result["id_token_claims"] = json.loads(base64.urlsafe_b64decode(payload + "=="))
    page = make_response(
        render_template(
            "demo.html",
            authorize_url="/demo",
            result=result,
            result_json=json.dumps(result, indent=2),
        )
    )
    page.delete_cookie(COOKIE, path="/demo")
    return page
