"""The user's own answers to account emails: "this wasn't me"."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from ..accounts import EVENTS, read_report, report_not_me
from ..sessions import check_csrf

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.route("/not-me", methods=["GET", "POST"])
def not_me() -> Any:
    """Confirm, then record userReportedSuspiciousActivity and sign the user out everywhere."""
    token = request.values.get("token", "")
    data = read_report(token)
    if data is None:
        return render_template(
            "error.html", title="This link is not valid", error="invalid_link",
            description="The link is wrong or older than allowed. If something on your "
                        "account looks wrong, contact your administrator.",
            request_id="", now=None), 400
    if request.method == "GET":
        return render_template("not_me.html", token=token, event=EVENTS[data["e"]])
    check_csrf()
    if not report_not_me(data):
        return render_template("not_me.html", token=token, event=EVENTS[data["e"]],
                               gone=True), 404
    return render_template("not_me.html", event=EVENTS[data["e"]], done=True)
