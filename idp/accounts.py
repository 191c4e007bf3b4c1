"""Changes to a user's credentials: new passwords, a new second factor, and telling the user.

Every new second factor, password change and password reset, and every risky sign-in that
passed the second-factor challenge, emails the user (when email is configured and the user
has an address) with a "this wasn't me" link; following it records
userReportedSuspiciousActivity (high user risk) and signs the user out everywhere. The
emails are Jinja templates (templates/email/) and rate-limited per user and event.
"""

from __future__ import annotations

import logging
import uuid
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa
from flask import current_app, render_template, url_for
from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer

from mfa.recovery import hash_recovery_code, new_recovery_codes
from risk.detections import user_reported
from risk.vocabulary import RiskDetail, RiskEventType, RiskState

from . import backchannel, notify, user_risk
from .extensions import db
from .i18n import N_, translated_for
from .models import RecoveryCode, RiskDetection, SignIn, User, UserRisk
from .services import services
from .sessions import clock_now, revoke_sessions

REPORT_DAYS = 14
log = logging.getLogger("idp.accounts")

# What the user is told happened, in the email and on the report page (English source
# text: the templates pass it through the translation function).
EVENTS = {
    "second_factor": N_("an authenticator app was added to your account"),
    "passkey_added": N_("a passkey was added to your account"),
    "password_change": N_("your password was changed"),
    "password_reset": N_("your password was reset"),
    "risky_sign_in": N_(
        "someone signed in to your account from a place or device we found "
        "unusual, and passed the second-factor check"
    ),
}
# At most this many emails per user and event in a window: a burst of events (an attacker
# retrying, a script) must not turn the provider into a mail cannon.
USER_EMAILS_PER_WINDOW = 3
USER_EMAIL_WINDOW_SECONDS = 3600


def apply_new_password(
    user: User, new: str, *, keep_sid: str | None, detail: RiskDetail | None, event: str
) -> None:
    """Store the new password, end other sessions, remediate risk when it was secured, and
    tell the user."""
    user.password_hash = services().passwords.hash(new)
    user.password_changed_at = clock_now()
    user.password_must_change = False
    db.session.commit()
    # Whoever knew the old password may hold other sessions and refresh tokens: end them.
    revoke_sessions(user.id, except_sid=keep_sid, reason=_session_end_reason(user, detail, event))
    if detail is not None:
        user_risk.remediate(user.id, detail, initiated_by=user.username)
    tell_user(user, event)


def _session_end_reason(user: User, detail: RiskDetail | None, event: str) -> str:
    """Why a new password ends sessions: remediation when it was secured and the user was
    at risk (or confirmed compromised), else the change or reset itself."""
    risk = db.session.get(UserRisk, user.id)
    if (
        detail is not None
        and risk is not None
        and risk.risk_state in (RiskState.AT_RISK.value, RiskState.CONFIRMED_COMPROMISED.value)
    ):
        return backchannel.RISK_REMEDIATION
    return backchannel.PASSWORD_RESET if event == "password_reset" else backchannel.PASSWORD_CHANGE


def bind_totp(user: User, sealed_secret: str, step: int) -> list[str] | None:
    """Make a proven secret the user's authenticator and return new recovery codes; None
    when the user already has one (another attempt won)."""
    bound = db.session.execute(
        sa.update(User)
        .where(User.id == user.id, User.totp_registered_at.is_(None))
        .values(totp_secret=sealed_secret, totp_registered_at=clock_now(), totp_last_step=step)
    )
    if getattr(bound, "rowcount", 0) != 1:
        db.session.rollback()
        return None
    codes = replace_recovery_codes(user.id)
    db.session.refresh(user)
    tell_user(user, "second_factor")
    return codes


def replace_recovery_codes(user_id: str) -> list[str]:
    """New recovery codes for the user (the old ones stop working); commits."""
    codes = new_recovery_codes()
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    db.session.add_all(
        RecoveryCode(user_id=user_id, code_hash=hash_recovery_code(c)) for c in codes
    )
    db.session.commit()
    return codes


class _ClockSigner(TimestampSigner):
    """Signs and ages links by the app's clock."""

    def get_timestamp(self) -> int:
        return int(clock_now().timestamp())


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"], salt="idp.not-me", signer=_ClockSigner
    )


def report_link(user: User, event: str) -> str:
    """The signed "this wasn't me" link for one event of one user."""
    token = _serializer().dumps({"u": user.id, "e": event, "n": uuid.uuid4().hex})
    issuer = services().settings.issuer
    return f"{issuer}{url_for('account.not_me', token=token)}"


def read_report(token: str) -> dict[str, Any] | None:
    """The user id, event and nonce of a valid, unexpired link; None otherwise."""
    try:
        data = _serializer().loads(token, max_age=REPORT_DAYS * 86400)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("e") not in EVENTS:
        return None
    return data


def _where(correlation_id: str | None) -> str:
    """Where a sign-in came from, in words (address and GeoIP place), from the log."""
    if correlation_id is None:
        return ""
    row = db.session.execute(
        sa.select(SignIn.ip, SignIn.city, SignIn.country)
        .where(SignIn.correlation_id == correlation_id, SignIn.ip.is_not(None))
        .order_by(SignIn.created_at)
    ).first()
    if row is None:
        return ""
    place = ", ".join(p for p in (row.city, row.country) if p)
    return f"{row.ip} ({place})" if place else str(row.ip)


def _within_rate(user: User, event: str) -> bool:
    """Count this email against the user's limit for the event; False once it is spent."""
    counters = services().counters
    count, _ = counters.incr(
        f"user-email:{event}:{user.id}", USER_EMAIL_WINDOW_SECONDS, int(clock_now().timestamp())
    )
    return bool(count <= USER_EMAILS_PER_WINDOW)


def account_email(user: User, event: str, *, correlation_id: str | None = None) -> EmailMessage:
    """The email telling the user that `event` happened, with the "this wasn't me" link."""
    values = {
        "user": user,
        "event": EVENTS[event],
        "kind": event,
        "day": f"{clock_now():%Y-%m-%d}",
        "time": f"{clock_now():%H:%M}",
        "where": _where(correlation_id),
        "link": report_link(user, event),
        "days": REPORT_DAYS,
    }
    message = EmailMessage()
    # In the recipient's language (their `locale` claim), whoever's request sends it.
    with translated_for(user):
        message["Subject"] = render_template("email/account_event_subject.txt", **values).strip()
        message.set_content(render_template("email/account_event.txt", **values))
    return message


def tell_user(user: User, event: str, *, correlation_id: str | None = None) -> None:
    """Email the user that `event` happened (rate-limited per user and event), with the
    "this wasn't me" link; `correlation_id` names the sign-in, for where it came from."""
    if not notify.enabled() or not user.email:
        return
    if not _within_rate(user, event):
        log.info(
            "account email (%s) for user %s not sent: more than %d in %d s",
            event,
            user.id,
            USER_EMAILS_PER_WINDOW,
            USER_EMAIL_WINDOW_SECONDS,
        )
        return
    try:
        notify.send(account_email(user, event, correlation_id=correlation_id), [user.email])
    except notify.NotifyError as exc:
        log.warning("account email (%s) for user %s not sent: %s", event, user.id, exc)


def report_not_me(data: dict[str, Any]) -> bool:
    """Record the user's "this wasn't me" (once per link) and end every session; False when
    the user no longer exists."""
    user = db.session.get(User, data["u"])
    if user is None:
        return False
    correlation_id = str(uuid.UUID(hex=data["n"]))
    already = db.session.scalar(
        sa.select(RiskDetection.id).where(
            RiskDetection.user_id == user.id,
            RiskDetection.correlation_id == correlation_id,
            RiskDetection.risk_event_type == RiskEventType.USER_REPORTED_SUSPICIOUS_ACTIVITY.value,
        )
    )
    if already is None:
        user_risk.raise_user_detection(
            user.id,
            user_reported(event=EVENTS[data["e"]]),
            correlation_id=correlation_id,
            initiated_by=user.username,
            source="user",
        )
    revoke_sessions(user.id, reason=backchannel.USER_REPORTED)
    return True
