"""The consent page: a third-party app asks for scopes, the user allows or denies them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Blueprint, abort, g, redirect, render_template, request

from .. import authflow
from ..authflow import Step, StepContext
from ..clients import query_client
from ..consent import grant, missing, requested_scopes, scope_lines
from ..forms import ConsentForm
from ..models import Client
from ..sessions import clock_now

bp = Blueprint("consent", __name__)


# What an app that registered itself may say about itself (RFC 7591 §2), shown to the user.
CLIENT_LINKS = ("logo_uri", "client_uri", "policy_uri", "tos_uri")


def client_links(client: Client) -> dict[str, str]:
    """The app's own https links (logo, home page, privacy policy, terms of service)."""
    metadata = client.client_metadata
    return {
        name: metadata[name]
        for name in CLIENT_LINKS
        if isinstance(metadata.get(name), str) and metadata[name].startswith("https://")
    }


@bp.route("/consent", methods=["GET", "POST"])
@authflow.step_page(Step.CONSENT)
def consent(step: StepContext) -> Any:
    """Show what the app asks for; "Allow" remembers it, "Deny" tells the app no."""
    flow, user = step.flow, step.user
    client = query_client(flow.client_id)
    if client is None:
        # Deleted meanwhile: the authorization endpoint says so.
        return redirect(authflow.resume_url(flow))
    claims = flow.param("claims")
    # Computed from the stored request, never from the form: only what was asked is allowed.
    scopes = requested_scopes(client, flow.param("scope"), claims)
    if request.method == "GET":
        new = missing(user.id, client, scopes)
        links = client_links(client)
        if "logo_uri" in links:
            # The app's logo is the one image from elsewhere this page may show.
            g.image_sources = authflow.origins([links["logo_uri"]])
        return render_template(
            "consent.html",
            flow=flow.id,
            client=client,
            links=links,
            new_lines=scope_lines(client, new, claims),
            known_lines=scope_lines(client, [s for s in scopes if s not in new], claims),
        )
    form = ConsentForm()
    if not form.validate_on_submit():
        abort(400, description=form.error)
    if form.action.data == "deny":
        flow = authflow.save(replace(flow, pending=None, consent_denied=True))
        return redirect(authflow.resume_url(flow))
    # The flow moves on first: of two posts of this form only one gets past this line.
    flow = authflow.save(flow.passing(Step.CONSENT))
    grant(user.id, client.client_id, scopes, clock_now())
    return redirect(authflow.resume_url(flow))
