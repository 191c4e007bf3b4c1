"""Consent for third-party clients: what a user allowed each app, remembered until revoked.

A first-party client (the operator's own app) never asks. A third-party client asks once
per user for the scopes it requests; the answer is kept in `oauth2_consents` as the union
of every scope the user allowed, and a later request for no more than that skips the page.
Removing an app's access deletes the consent and revokes the user's tokens of that app.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from . import backchannel
from .claims import CLAIMS, MalformedClaimsRequest, parse_claims_request, requested_claims
from .extensions import db
from .i18n import N_, gettext
from .models import AuthorizationCode, Client, Consent, Token
from .services import now_ts

# What each scope lets the app do, in the words the consent page uses ("<app> wants to ...").
SCOPE_LINES: dict[str, str] = {
    "openid": N_("Sign you in with your account"),
    "profile": N_("See your name and profile details"),
    "email": N_("See your email address"),
    "address": N_("See your postal address"),
    "phone": N_("See your phone number"),
    "groups": N_("See the groups you belong to"),
    "offline_access": N_("Stay signed in to the app (keep access while you are away)"),
}
# The order in which the page lists scopes: the most basic first.
SCOPE_ORDER = tuple(SCOPE_LINES)


@dataclass(frozen=True)
class ScopeLine:
    """One line of the consent page: a scope, what it lets the app do, and its claims."""

    scope: str
    text: str
    claims: tuple[str, ...] = ()


@dataclass(frozen=True)
class AllowedApp:
    """One app of the user's "Apps you allowed" list."""

    client_id: str
    name: str
    scopes: tuple[str, ...]
    granted_at: datetime
    updated_at: datetime


def _claims_request(raw: str | None) -> dict[str, Any] | None:
    try:
        return parse_claims_request(raw)
    except MalformedClaimsRequest:
        # The authorization endpoint refuses it before anyone signs in.
        return None


def requested_scopes(client: Client, scope: str, claims: str | None = None) -> list[str]:
    """What the user is asked to allow: the requested scopes this client may receive, and
    the scopes of claims it asked for by name (the `claims` parameter releases those without
    their scope), in the page's order."""
    granted = client.get_allowed_scope(scope) or ""
    wanted = set(granted.split())
    for name in requested_claims(granted, _claims_request(claims), client.scope):
        wanted.add(CLAIMS[name].scope)
    ordered = [s for s in SCOPE_ORDER if s in wanted]
    return ordered + sorted(wanted - set(ordered))


def stored(user_id: str, client_id: str) -> Consent | None:
    """The user's consent for this client, if any."""
    return db.session.get(Consent, (user_id, client_id))


def missing(user_id: str, client: Client, scopes: list[str]) -> list[str]:
    """The scopes the user has not yet allowed this client."""
    consent = stored(user_id, client.client_id)
    have = set(consent.scopes or ()) if consent is not None else set()
    return [s for s in scopes if s not in have]


def needs_consent(
    user_id: str, client: Client | None, scopes: list[str], *, prompted: bool
) -> bool:
    """Whether this authorization must show the consent page before a code is issued: a
    third-party client, and prompt=consent, no consent yet, or scopes not allowed yet."""
    if client is None or client.first_party:
        return False
    return (
        prompted
        or stored(user_id, client.client_id) is None
        or bool(missing(user_id, client, scopes))
    )


def scope_lines(client: Client, scopes: list[str], claims: str | None = None) -> list[ScopeLine]:
    """The page's lines for these scopes, each with the claims it would release (an unknown
    scope is named as it is)."""
    by_scope: dict[str, list[str]] = {}
    for name in requested_claims(" ".join(scopes), _claims_request(claims), client.scope):
        by_scope.setdefault(CLAIMS[name].scope, []).append(name)
    return [
        ScopeLine(
            s,
            gettext(SCOPE_LINES[s])
            if s in SCOPE_LINES
            else gettext("Use the '%(scope)s' permission", scope=s),
            tuple(by_scope.get(s, ())),
        )
        for s in scopes
    ]


def grant(user_id: str, client_id: str, scopes: list[str], now: datetime) -> Consent:
    """Remember that the user allowed these scopes (added to what was allowed before)."""
    for _ in range(2):
        consent = stored(user_id, client_id)
        if consent is None:
            consent = Consent(
                user_id=user_id, client_id=client_id, scopes=[], granted_at=now, updated_at=now
            )
            db.session.add(consent)
        known = list(consent.scopes or ())
        consent.scopes = known + [s for s in scopes if s not in known]
        consent.updated_at = now
        try:
            db.session.commit()
            return consent
        except IntegrityError:
            # Another tab stored the first consent at the same moment: add to that one.
            db.session.rollback()
    raise RuntimeError("the consent could not be stored")


def allowed_apps(user_id: str) -> list[AllowedApp]:
    """The apps this user allowed, newest first (only this user's consents)."""
    rows = db.session.execute(
        sa.select(Consent, Client.name)
        .join(Client, Client.client_id == Consent.client_id, isouter=True)
        .where(Consent.user_id == user_id)
        .order_by(Consent.updated_at.desc())
    ).all()
    return [
        AllowedApp(
            consent.client_id,
            name or consent.client_id,
            tuple(consent.scopes or ()),
            consent.granted_at,
            consent.updated_at,
        )
        for consent, name in rows
    ]


def revoke(user_id: str, client_id: str) -> bool:
    """Remove the user's consent for a client and revoke every token and unused code the
    client holds for the user; False, touching nothing, when there was no consent."""
    removed = db.session.execute(
        sa.delete(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id)
    )
    if not getattr(removed, "rowcount", 0):
        db.session.rollback()
        return False
    # The app is told at once that the user's sign-in there is over (Back-Channel Logout).
    queued = backchannel.queue_client_access_end(user_id, client_id, backchannel.CONSENT_REVOKED)
    now = now_ts()
    tokens = sa.update(Token).where(Token.user_id == user_id, Token.client_id == client_id)
    db.session.execute(
        tokens.where(Token.access_token_revoked_at == 0).values(access_token_revoked_at=now)
    )
    db.session.execute(
        tokens.where(Token.refresh_token_revoked_at == 0).values(refresh_token_revoked_at=now)
    )
    # A code issued a moment ago would otherwise still buy tokens after the removal.
    db.session.execute(
        sa.delete(AuthorizationCode).where(
            AuthorizationCode.user_id == user_id,
            AuthorizationCode.client_id == client_id,
            AuthorizationCode.used_at.is_(None),
        )
    )
    db.session.commit()
    if queued:
        backchannel.wake()
    return True


def delete_for_client(client_id: str) -> None:
    """Forget every user's consent for a client (the client is being deleted); no commit."""
    db.session.execute(sa.delete(Consent).where(Consent.client_id == client_id))
