"""The admin dashboard under /admin.

The dashboard signs admins in through the provider itself, as a relying party that
demands MFA (`acr_values=urn:idp:acr:mfa`): the sign-in passes the same risk engine and
policies as any other, and a session without TOTP never reaches these pages.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import tomllib
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from babel.dates import format_skeleton
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from markupsafe import Markup, escape

from risk.policy import grace_deadline, in_scope
from risk.vocabulary import RiskEventType

from .. import admin_actions, claims, flows, headline, passkeys, posture, risk_engine, worldmap
from ..clients import delete_client, ensure_own_client, find_client, rotate_secret
from ..config import Settings
from ..consent import allowed_apps
from ..decision import ACR_MFA, ACR_PHISHING_RESISTANT
from ..errors import ConfigError, IdpError
from ..extensions import db
from ..forms import WhatIfForm, check_csrf, profile_form
from ..i18n import N_, gettext, language, ngettext
from ..models import (
    Client,
    RiskDetection,
    RiskHistory,
    SignIn,
    SigningKey,
    User,
    UserRisk,
)
from ..services import services
from ..sessions import clock_now, current_sso, current_user
from ..simulate import candidate_from_mapping, format_report, simulate

bp = Blueprint("admin", __name__, url_prefix="/admin")

CONSOLE_CLIENT_ID = "idp-admin-console"
LEVELS = ("high", "medium", "low")
STATES = ("atRisk", "confirmedCompromised", "remediated", "dismissed", "confirmedSafe")
PAGE_SIZE = 50


def _settings() -> Settings:
    return services().settings


def _callback_url() -> str:
    return f"{_settings().issuer}/admin/callback"


def _console_client() -> Client:
    """The dashboard's own client registration, created on first use."""
    return ensure_own_client(
        CONSOLE_CLIENT_ID, "Admin console", _callback_url(), ["openid", "profile", "groups"]
    )


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Only admins whose current sign-in passed TOTP, via the console's own sign-in."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user, sso = current_user(), current_sso()
        if user is None or sso is None or session.get("admin_sid") != sso.id:
            return redirect(url_for("admin.login", next=request.full_path))
        if _settings().admin_group not in (user.groups or []):
            session.pop("admin_sid", None)
            abort(
                403, description=gettext("Only members of the admin group can use the dashboard.")
            )
        g.admin = user
        return view(*args, **kwargs)

    return wrapper


@bp.get("/login")
def login() -> Any:
    """Start the console's sign-in: an authorization request that demands MFA."""
    _console_client()
    verifier = secrets.token_urlsafe(48)
    state = secrets.token_urlsafe(16)
    next_url = request.args.get("next", "")
    # The verifier stays server-side; the cookie holds only the flow's id.
    session["admin_login"] = flows.create(
        "console",
        {
            "verifier": verifier,
            "state": state,
            "next": next_url if next_url.startswith("/admin") else "/admin",
        },
    )
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = urlencode(
        {
            "response_type": "code",
            "client_id": CONSOLE_CLIENT_ID,
            "redirect_uri": _callback_url(),
            "scope": "openid profile groups",
            "state": state,
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256",
            "acr_values": ACR_MFA,
        }
    )
    return redirect(f"{url_for('oauth.authorize')}?{query}")


@bp.get("/callback")
def callback() -> Any:
    """Finish the console's sign-in: redeem the code in-process and check MFA and group."""
    flow_id = session.pop("admin_login", None)
    found = flows.load("console", flow_id)
    pending = found[0] if found is not None and flows.drop(str(flow_id)) else {}
    if request.args.get("error") or request.args.get("state") != pending.get("state"):
        abort(
            400, description=gettext("The admin sign-in did not complete. Start again at /admin.")
        )
    with current_app.test_client() as rp:
        response = rp.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": request.args.get("code", ""),
                "redirect_uri": _callback_url(),
                "client_id": CONSOLE_CLIENT_ID,
                "code_verifier": pending.get("verifier", ""),
            },
        )
    tokens = response.get_json() or {}
    if "id_token" not in tokens:
        abort(
            400, description=gettext("The admin sign-in did not complete. Start again at /admin.")
        )
    # The token came from this process's own token endpoint over no network.
    claims = json.loads(base64.urlsafe_b64decode(tokens["id_token"].split(".")[1] + "=="))
    sso = current_sso()
    # A passkey's acr is stronger than the one asked for, and is as good.
    if (
        claims.get("acr") not in (ACR_MFA, ACR_PHISHING_RESISTANT)
        or sso is None
        or claims.get("sid") != sso.id
    ):
        abort(
            403, description=gettext("The dashboard needs a sign-in with your authenticator app.")
        )
    user = current_user()
    if user is None or _settings().admin_group not in (user.groups or []):
        abort(403, description=gettext("Only members of the admin group can use the dashboard."))
    session["admin_sid"] = sso.id
    return redirect(pending.get("next") or url_for("admin.overview"))


PALETTE = [
    "#c50f1f",
    "#ca5010",
    "#986f0b",
    "#0b6a0b",
    "#005b70",
    "#0b5cd5",
    "#5c2e91",
    "#8764b8",
    "#e3008c",
    "#498205",
    "#69797e",
    "#4f6bed",
    "#8a1c0f",
]


def _buckets(days: int) -> tuple[date, int, int]:
    """The chart's first day, days per bar (1 up to a month, a week up to a quarter, else
    30) and the number of bars, ending today."""
    size = 1 if days <= 30 else 7 if days <= 90 else 30
    count = -(-days // size)
    first = clock_now().date() - timedelta(days=count * size - 1)
    return first, size, count


Bars = tuple[list[date], list[str], list[Counter[str]]]


def detection_counts(days: int) -> Bars:
    """Detections by type per bar of the period: each bar's first day, the types that
    fired (vocabulary order), and the counts."""
    first, size, count = _buckets(days)
    since = datetime.combine(first, datetime.min.time(), tzinfo=clock_now().tzinfo)
    bars: list[Counter[str]] = [Counter() for _ in range(count)]
    day_of = sa.func.date(RiskDetection.detected_at)
    if db.session.get_bind().dialect.name == "postgresql":
        # date() of a timestamptz is in the session's time zone; the chart's days are UTC.
        day_of = sa.func.date(sa.func.timezone("UTC", RiskDetection.detected_at))
    for day, kind, n in db.session.execute(
        sa.select(day_of, RiskDetection.risk_event_type, sa.func.count())
        .where(RiskDetection.detected_at >= since)
        .group_by(day_of, RiskDetection.risk_event_type)
    ):
        on = day if isinstance(day, date) else date.fromisoformat(str(day))
        index = (on - first).days // size
        if 0 <= index < count:
            bars[index][kind] += int(n)
    kinds = [k.value for k in RiskEventType if any(bar[k.value] for bar in bars)]
    starts = [first + timedelta(days=i * size) for i in range(count)]
    return starts, kinds, bars


def detections_chart(counts: Bars, days: int, *, width: int, font: int, labels: int) -> Markup:
    """Detections per bar by type as a stacked bar chart in inline SVG (no scripts, no CDN);
    `font` and `labels` (how many dates under the axis) suit the width it is shown at."""
    starts, kinds, bars = counts
    colour = {kind: PALETTE[i % len(PALETTE)] for i, kind in enumerate(kinds)}
    height, bottom = round(width * 0.42), font * 2
    left = font * 3
    peak = max([sum(bar.values()) for bar in bars] + [1])
    step = (width - left) / len(bars)
    title = escape(gettext("Detections by type, last %(days)d days", days=days))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} '
        f'{height}" width="100%" aria-label="{title}">',
        f"<title>{title}</title>",
        f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" '
        f'stroke="#8a8d99"/>',
        f'<text x="0" y="{font}" font-size="{font}">{peak}</text>',
        f'<text x="0" y="{height - bottom}" font-size="{font}">0</text>',
    ]
    scale = (height - bottom - font - 4) / peak
    every = max(1, -(-len(bars) // labels))
    for i, (start, bar) in enumerate(zip(starts, bars, strict=True)):
        y: float = height - bottom
        for kind in kinds:
            if not bar[kind]:
                continue
            h = bar[kind] * scale
            y -= h
            parts.append(
                f'<rect x="{left + i * step + 0.5:.1f}" y="{y:.1f}" '
                f'width="{max(step - 1, 0.5):.1f}" height="{h:.1f}" '
                f'fill="{colour[kind]}"><title>{start.isoformat()}: {bar[kind]} '
                f"{escape(kind)}</title></rect>"
            )
        last = i == len(bars) - 1
        if last or (i % every == 0 and i < len(bars) - every / 2):
            anchor = ' text-anchor="end"' if last else ""
            x = width if last else left + i * step
            parts.append(
                f'<text x="{x:.1f}" y="{height - 4}" font-size="{font}"{anchor}>'
                # The day and month in the reader's language: "May 6", "6. Mai".
                f"{escape(format_skeleton('dMMM', start, locale=language()))}</text>"
            )
    if not kinds:
        parts.append(
            f'<text x="{left + 8}" y="{height / 2:.0f}" font-size="{font}">'
            f"{escape(gettext('No detections in this period.'))}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def chart_legend(counts: Bars) -> list[tuple[str, str, int]]:
    """(riskEventType, colour, total) of each type in the chart, for the HTML legend."""
    _, kinds, bars = counts
    return [
        (kind, PALETTE[i % len(PALETTE)], sum(bar[kind] for bar in bars))
        for i, kind in enumerate(kinds)
    ]


@bp.get("")
@admin_required
def overview() -> Any:
    days = headline.period_days(request.args.get("days"))
    now = clock_now()
    since = now - timedelta(days=days)
    risky = dict(
        db.session.execute(
            sa.select(UserRisk.risk_level, sa.func.count())
            .where(UserRisk.risk_state.in_(["atRisk", "confirmedCompromised"]))
            .group_by(UserRisk.risk_level)
        ).all()
    )
    outcomes: Counter[str] = Counter()
    for outcome, code, count in db.session.execute(
        sa.select(SignIn.outcome, SignIn.error_code, sa.func.count())
        .where(SignIn.created_at >= since, SignIn.kind.in_(["password", "sso"]))
        .group_by(SignIn.outcome, SignIn.error_code)
    ):
        key = (
            "allowed"
            if outcome == "success"
            else (
                "blocked"
                if outcome == "failure" and code in (53003, 53004)
                else "challenged"
                if outcome == "interrupted"
                else "failed"
            )
        )
        outcomes[key] += count
    locations = headline.risky_locations(since, now)
    counts = detection_counts(days)
    active = [r for r in posture.recommendations() if r.status == posture.ACTIVE]
    return render_template(
        "admin/overview.html",
        risky=risky,
        outcomes=outcomes,
        levels=LEVELS,
        days=days,
        periods=headline.PERIODS,
        figures=headline.headline(days, now),
        definitions=headline.definitions(),
        duration=headline.duration_text,
        chart_wide=detections_chart(counts, days, width=720, font=11, labels=8),
        chart_narrow=detections_chart(counts, days, width=360, font=13, labels=3),
        legend=chart_legend(counts),
        locations=locations,
        world=worldmap.world_map(
            {loc.country: loc.count for loc in locations},
            gettext("Risky sign-ins by country, last %(days)d days", days=days),
        ),
        recommendations=active[:3],
        more_recommendations=len(active) > 3,
        tuning=headline.tuning(since, now, risk_engine.engine().settings, _settings().policies),
    )


@bp.get("/recommendations")
@admin_required
def recommendations() -> Any:
    """Every recommendation with what it affects and where to act."""
    return render_template("admin/recommendations.html", recommendations=posture.recommendations())


@bp.get("/users")
@admin_required
def users() -> Any:
    level = request.args.get("level", "")
    state = request.args.get("state", "")
    stmt = sa.select(UserRisk, User).join(User, User.id == UserRisk.user_id)
    if level in LEVELS or level == "none":
        stmt = stmt.where(UserRisk.risk_level == level)
    if state in STATES:
        stmt = stmt.where(UserRisk.risk_state == state)
    else:
        stmt = stmt.where(UserRisk.risk_state != "none")
    rank = sa.case({"high": 0, "medium": 1, "low": 2}, value=UserRisk.risk_level, else_=3)
    rows = db.session.execute(stmt.order_by(rank, UserRisk.updated_at.desc()).limit(500)).all()
    return render_template(
        "admin/users.html", rows=rows, level=level, state=state, levels=LEVELS, states=STATES
    )


@bp.get("/directory")
@admin_required
def directory() -> Any:
    """Every user, with second factor and state: where lifecycle actions start."""
    rows = db.session.scalars(
        sa.select(User)
        .options(sa.orm.selectinload(User.passkeys))
        .order_by(User.username)
        .limit(1000)
    ).all()
    return render_template("admin/directory.html", users=rows, factors=passkeys.factors)


@bp.get("/registration")
@admin_required
def registration_campaign() -> Any:
    """The registration campaign: who has which factor, who has none, and for those under
    the registration policy whether they are inside the grace period and until when."""
    policy = _settings().policies.mfa_registration
    # The passkeys in one more query, not one per user.
    rows = db.session.scalars(
        sa.select(User)
        .options(sa.orm.selectinload(User.passkeys))
        .order_by(User.username)
        .limit(5000)
    ).all()
    now = clock_now()
    without, counts = [], Counter[str]()
    for user in rows:
        kind = "passkey" if user.has_passkey else "totp" if user.has_totp else "none"
        counts[kind] += 1
        if kind != "none":
            continue
        scoped = policy.state == "on" and in_scope(policy, frozenset(user.groups or ()))
        deadline = (
            grace_deadline(user.mfa_grace_started_at, policy.grace_period_days)
            if scoped and user.mfa_grace_started_at
            else None
        )
        status = (
            gettext("not under the registration policy")
            if not scoped
            else gettext("grace not started (no sign-in yet)")
            if deadline is None
            else gettext("inside the grace period")
            if deadline > now
            else gettext("grace period over: must register at the next sign-in")
        )
        without.append({"user": user, "status": status, "deadline": deadline})
    return render_template(
        "admin/registration.html", without=without, counts=counts, total=len(rows), policy=policy
    )


@bp.post("/users/<user_id>/passkeys/<passkey_id>/remove")
@admin_required
def remove_passkey(user_id: str, passkey_id: str) -> Any:
    """Remove one passkey of a user (a lost or retired device)."""
    check_csrf()
    name = admin_actions.remove_passkey(user_id, passkey_id, g.admin.username)
    if name is None:
        abort(404, description=gettext("No such passkey."))
    flash(gettext("Passkey %(name)s removed.", name=name))
    return redirect(url_for("admin.user_detail", user_id=user_id))


@bp.get("/clients")
@admin_required
def clients() -> Any:
    return _clients_page()


def _clients_page(shown_secret: tuple[str, str] | None = None) -> Any:
    rows = db.session.scalars(sa.select(Client).order_by(Client.name)).all()
    keys = db.session.scalars(sa.select(SigningKey).order_by(SigningKey.created_at.desc())).all()
    return render_template(
        "admin/clients.html",
        clients=rows,
        keys=keys,
        shown_secret=shown_secret,
        console_id=CONSOLE_CLIENT_ID,
    )


@bp.post("/clients/<client_id>/<action>")
@admin_required
def client_action(client_id: str, action: str) -> Any:
    """Rotate a client's secret (shown once, in this response) or delete the client."""
    check_csrf()
    if client_id == CONSOLE_CLIENT_ID:
        abort(
            400, description=gettext("The admin console's own client is managed by the provider.")
        )
    try:
        client = find_client(client_id)
        if action == "rotateSecret":
            secret = rotate_secret(client)
            flash(gettext("New client secret generated. It is shown once, below."))
            return _clients_page(shown_secret=(client_id, secret))
        if action == "delete":
            delete_client(client)
            flash(gettext("Client %(name)s deleted with its tokens.", name=client.name))
            return redirect(url_for("admin.clients"))
    except IdpError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.clients"))
    abort(404, description=gettext("No such action."))


@bp.get("/users/<user_id>")
@admin_required
def user_detail(user_id: str) -> Any:
    return _user_page(user_id)


def _user_page(user_id: str, temporary_password: str | None = None) -> Any:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404, description=gettext("No such user."))
    detections = db.session.scalars(
        sa.select(RiskDetection)
        .filter_by(user_id=user_id)
        .order_by(RiskDetection.detected_at.desc())
        .limit(200)
    ).all()
    sign_ins = db.session.scalars(
        sa.select(SignIn)
        .filter_by(user_id=user_id)
        .order_by(SignIn.created_at.desc())
        .limit(PAGE_SIZE)
    ).all()
    history = db.session.scalars(
        sa.select(RiskHistory).filter_by(user_id=user_id).order_by(RiskHistory.at.desc()).limit(200)
    ).all()
    return render_template(
        "admin/user.html",
        user=user,
        risk=db.session.get(UserRisk, user_id),
        detections=detections,
        sign_ins=sign_ins,
        history=history,
        user_remediations=admin_actions.USER_REMEDIATIONS,
        temporary_password=temporary_password,
        profile=claims.profile(user),
        profile_fields=PROFILE_FIELDS,
        allowed_apps=allowed_apps(user_id),
    )


# The profile form: (form field, label, kind) for every settable claim, address by field.
_LABELS = {
    "name": N_("Display name"),
    "family_name": N_("Family name"),
    "given_name": N_("Given name"),
    "middle_name": N_("Middle name"),
    "nickname": N_("Nickname"),
    "profile": N_("Profile page URL"),
    "picture": N_("Picture URL"),
    "website": N_("Website URL"),
    "gender": N_("Gender"),
    "birthdate": N_("Birth date"),
    "zoneinfo": N_("Time zone"),
    "locale": N_("Locale"),
    "email": N_("Email"),
    "email_verified": N_("Email verified"),
    "phone_number": N_("Phone number"),
    "phone_number_verified": N_("Phone number verified"),
    "address.formatted": N_("Address: formatted"),
    "address.street_address": N_("Address: street address"),
    "address.locality": N_("Address: locality"),
    "address.region": N_("Address: region"),
    "address.postal_code": N_("Address: postal code"),
    "address.country": N_("Address: country"),
}
PROFILE_FIELDS: list[tuple[str, str, str]] = [
    *(
        (
            name,
            _LABELS.get(name) or name.replace("_", " ").capitalize(),
            "checkbox" if name.endswith("_verified") else "text",
        )
        for name in claims.SETTABLE
        if name != "address"
    ),
    *(
        (
            f"address.{field}",
            _LABELS.get(f"address.{field}") or "Address: " + field.replace("_", " "),
            "textarea" if field in ("formatted", "street_address") else "text",
        )
        for field in claims.ADDRESS_FIELDS
    ),
]
ProfileForm = profile_form(PROFILE_FIELDS)


@bp.post("/users/<user_id>/profile")
@admin_required
def user_profile(user_id: str) -> Any:
    """Set the user's OpenID Connect profile claims from the Profile form (empty removes)."""
    form = ProfileForm.submitted()
    user = db.session.get(User, user_id)
    if user is None:
        abort(404, description=gettext("No such user."))
    changes: dict[str, Any] = {}
    current = claims.profile(user)
    for field, _, kind in PROFILE_FIELDS:
        value = form[field].data
        if kind == "checkbox":
            # An unticked box for a flag never set leaves it unset, not a change to false.
            if value or current.get(field) is not None:
                changes[field] = value
        else:
            changes[field] = value or None
    try:
        changed = claims.set_claims(user, changes)
    except claims.ClaimError as exc:
        flash(gettext("Profile not saved: %(problem)s.", problem=exc), "error")
    else:
        flash(
            gettext("Profile saved (%(claims)s).", claims=", ".join(changed))
            if changed
            else gettext("Profile unchanged.")
        )
    return redirect(url_for("admin.user_detail", user_id=user_id))


USER_ACTIONS: dict[str, tuple[Callable[[str, str], Any], str]] = {
    "dismiss": (admin_actions.dismiss, N_("All risk dismissed.")),
    "confirmCompromised": (
        admin_actions.confirm_compromised,
        N_("Confirmed compromised: the user's risk is high."),
    ),
    "confirmSafe": (admin_actions.confirm_safe, N_("Confirmed safe.")),
    "requireReset": (
        admin_actions.require_password_reset,
        N_("At the next sign-in the user verifies with TOTP and sets a new password."),
    ),
    "revokeSessions": (admin_actions.revoke_all_sessions, N_("Signed out everywhere.")),
    "resetMfa": (
        admin_actions.reset_mfa,
        N_("Second factors removed: the user registers again at the next sign-in."),
    ),
    "disable": (admin_actions.disable_user, N_("User disabled and signed out everywhere.")),
    "enable": (admin_actions.enable_user, N_("User enabled.")),
}


@bp.post("/users/<user_id>/<action>")
@admin_required
def user_action(user_id: str, action: str) -> Any:
    check_csrf()
    admin = g.admin.username
    try:
        if action == "delete":
            admin_actions.remove_user(user_id, admin)
            flash(gettext("User deleted."))
            return redirect(url_for("admin.users"))
        if action == "temporaryPassword":
            # Shown in this response only: it is never stored, in a cookie or elsewhere.
            password = admin_actions.temporary_password(user_id, admin)
            flash(gettext("Temporary password generated. It is shown once, below."))
            return _user_page(user_id, temporary_password=password)
        elif action in USER_ACTIONS:
            func, message = USER_ACTIONS[action]
            func(user_id, admin)
            flash(gettext(message))
        else:
            abort(404, description=gettext("No such action."))
    except admin_actions.ActionRefused as exc:
        flash(str(exc), "error")
    return redirect(url_for("admin.user_detail", user_id=user_id))


@bp.post("/detections/<detection_id>/<action>")
@admin_required
def detection_action(detection_id: str, action: str) -> Any:
    check_csrf()
    try:
        row = admin_actions.detection_action(detection_id, action, g.admin.username)
        flash(
            gettext(
                "Detection %(type)s: %(state)s.", type=row.risk_event_type, state=row.risk_state
            )
        )
        user_id = row.user_id
    except admin_actions.ActionRefused as exc:
        flash(str(exc), "error")
        found = db.session.get(RiskDetection, detection_id)
        if found is None:
            abort(404, description=gettext("No such detection."))
        user_id = found.user_id
    return redirect(url_for("admin.user_detail", user_id=user_id))


def _parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
        aware = parsed if parsed.tzinfo else parsed.replace(tzinfo=clock_now().tzinfo)
        # In UTC now, as the column stores it: a time at the calendar's edge is no filter.
        return aware.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


@bp.get("/signins")
@admin_required
def sign_ins() -> Any:
    args = request.args
    stmt = sa.select(SignIn)
    if args.get("user"):
        stmt = stmt.where(SignIn.username == args["user"])
    if args.get("outcome") in ("success", "failure", "interrupted"):
        stmt = stmt.where(SignIn.outcome == args["outcome"])
    if args.get("level") in ("none", *LEVELS):
        stmt = stmt.where(SignIn.risk_level_during_sign_in == args["level"])
    start, end = _parse_time(args.get("from", "")), _parse_time(args.get("to", ""))
    if start:
        stmt = stmt.where(SignIn.created_at >= start)
    if end:
        stmt = stmt.where(SignIn.created_at <= end)
    rows = db.session.scalars(stmt.order_by(SignIn.created_at.desc()).limit(200)).all()
    return render_template("admin/signins.html", rows=rows, args=args, levels=LEVELS)


WHATIF_EXAMPLE = """[policies.sign_in_risk]
block_at = "high"
"""


@bp.route("/whatif", methods=["GET", "POST"])
@admin_required
def whatif() -> Any:
    """What the candidate policies would have done to the logged sign-ins."""
    # A link (e.g. from the overview's tuning table) may bring a candidate to start from.
    candidate_text = request.args.get("candidate", WHATIF_EXAMPLE)[:10_000]
    days, report, error = 30, None, None
    if request.method == "POST":
        form = WhatIfForm()
        valid = form.validate_on_submit()
        candidate_text = form.candidate.data
        if not valid:
            error = form.error
        else:
            days = int(form.days.data)
            try:
                candidate = candidate_from_mapping(
                    tomllib.loads(candidate_text), _settings().policies
                )
                # The CLI's report, in the admin's language.
                report = format_report(simulate(candidate, days, clock_now()), gettext, ngettext)
            except tomllib.TOMLDecodeError as exc:
                error = gettext("The candidate is not valid TOML: %(problem)s", problem=exc)
            except ConfigError as exc:
                error = str(exc)
    return render_template(
        "admin/whatif.html", candidate=candidate_text, days=days, report=report, error=error
    )


@bp.post("/logout")
@admin_required
def logout() -> Any:
    check_csrf()
    session.pop("admin_sid", None)
    return redirect(url_for("oauth.logout"))
