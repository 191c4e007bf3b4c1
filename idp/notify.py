"""Email to admins: once when a user reaches the configured risk level, and a periodic digest.

Email is plain text over smtplib. The real-time email is sent inside the sign-in that raised
the risk, so it is bounded by a short SMTP timeout, and a failure to send is logged (server and
cause, never a credential) and swallowed: an unreachable mail server never breaks a sign-in.
Neither email carries a password, code or token; detections appear by their evidence in words.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import urlparse

import sqlalchemy as sa
from flask import current_app

from risk.levels import Level
from risk.vocabulary import ACTIVE_STATES

from .errors import IdpError
from .extensions import db
from .models import RiskDetection, RiskHistory, User, UserRisk
from .posture import ACTIVE, recommendations
from .simulate import LABELS, OUTCOMES, Count, Tally, count_not_replayed, logged_sign_ins

SMTP_TIMEOUT_SECONDS = 5
TOP_RISKY_USERS = 10
STAMP = "%Y-%m-%d %H:%M UTC"

log = logging.getLogger("idp.notify")


class NotifyError(IdpError):
    """An email could not be sent; the message names the server and cause, never a secret."""


def _settings() -> Any:
    return current_app.extensions["idp.settings"]


def _now() -> datetime:
    return current_app.extensions["idp.clock"].now()  # type: ignore[no-any-return]


def enabled() -> bool:
    """Whether email notifications are configured (an SMTP host is set)."""
    return bool(_settings().notifications.smtp_host)


def reaches(notify_at: str, previous: Level, level: Level) -> bool:
    """Whether a rise from `previous` to `level` crosses `notify_at` ("never": never)."""
    if notify_at == "never":
        return False
    threshold = Level.parse(notify_at)
    return previous < threshold <= level


def admin_recipients() -> list[str]:
    """The configured admin_emails, or else the addresses of the admin group's members."""
    settings = _settings()
    if settings.notifications.admin_emails:
        return list(dict.fromkeys(settings.notifications.admin_emails))
    group = settings.admin_group
    # A textual pre-filter on the stored JSON (escaped or not) keeps this one narrow query on
    # both databases; the exact membership test is in Python.
    text = sa.cast(User.groups, sa.Text)
    rows = db.session.execute(sa.select(User.email, User.groups).where(
        User.email.is_not(None), User.email != "", User.disabled.is_(False),
        sa.or_(text.contains(json.dumps(group), autoescape=True),
               text.contains(group, autoescape=True)),
    ).order_by(User.username))
    return list(dict.fromkeys(
        email for email, groups in rows if email and group in (groups or [])))


def user_link(user_id: str) -> str:
    """The user's page on the admin dashboard."""
    return f"{_settings().issuer}/admin/users/{user_id}"


def _where(row: RiskDetection) -> str:
    location = row.location or {}
    place = ", ".join(str(p) for p in (location.get("city"), location.get("countryOrRegion"))
                      if p)
    if row.ip and place:
        return f" from {row.ip} ({place})"
    if row.ip or place:
        return f" from {row.ip or place}"
    return ""


def user_risk_message(user_id: str, previous: Level, level: Level) -> EmailMessage:
    """The email telling admins a user reached `level`, with the active detections."""
    user = db.session.get(User, user_id)
    risk = db.session.get(UserRisk, user_id)
    username = user.username if user else user_id
    detections = list(db.session.scalars(sa.select(RiskDetection).where(
        RiskDetection.user_id == user_id,
        RiskDetection.risk_state.in_([s.value for s in ACTIVE_STATES]),
    ).order_by(RiskDetection.detected_at.desc(), RiskDetection.id)))
    who = f"{username} <{user.email}>" if user and user.email else username
    lines = [
        f"The user {who} reached {level} user risk (it was {previous}).",
        "",
        f"  User id     {user_id}",
        f"  Risk level  {level}",
        f"  Risk state  {risk.risk_state if risk else 'atRisk'}",
        f"  Changed     {(risk.updated_at if risk else _now()):{STAMP}}",
        "",
        f"Active detections ({len(detections)}):",
    ]
    for row in detections:
        lines += [
            f"- {row.risk_event_type} ({row.risk_level} risk), "
            f"{row.detected_at:{STAMP}}{_where(row)}",
            f"  {row.description or row.risk_event_type}",
        ]
    lines += [
        "",
        "Review the account, its sign-ins and the evidence, and act on it:",
        user_link(user_id),
        "",
        f"You receive this as an administrator of {_settings().issuer}; this email is sent "
        f"when a user's risk reaches {_settings().notifications.notify_at}.",
    ]
    message = EmailMessage()
    message["Subject"] = f"Risky user: {username} reached {level} user risk"
    message.set_content("\n".join(lines) + "\n")
    return message


def _redact(text: str) -> str:
    secret = _settings().notifications.smtp_password
    return text.replace(secret, "[redacted]") if secret else text


def _cause(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = exc.smtp_error.decode("utf-8", "replace") if isinstance(
            exc.smtp_error, bytes) else str(exc.smtp_error)
        return _redact(f"{type(exc).__name__}: {exc.smtp_code} {reply}")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return f"every recipient was refused ({', '.join(sorted(exc.recipients))})"
    return _redact(f"{type(exc).__name__}: {exc}")


def send(message: EmailMessage, recipients: Sequence[str]) -> None:
    """Send one message to the recipients through the configured SMTP server, or NotifyError."""
    config = _settings().notifications
    if not recipients:
        raise NotifyError(
            "no recipients: set [notifications] admin_emails or give the members of group "
            f"{_settings().admin_group!r} an email address"
        )
    domain = config.from_address.rpartition("@")[2] or "localhost"
    message["From"] = config.from_address
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(_now())
    # Explicit names keep smtplib and email from resolving this host's name (slow or absent).
    message["Message-ID"] = make_msgid("idp", domain=domain)
    local_name = urlparse(_settings().issuer).hostname or "localhost"
    try:
        with smtplib.SMTP(config.smtp_host, config.smtp_port, local_hostname=local_name,
                          timeout=SMTP_TIMEOUT_SECONDS) as smtp:
            if config.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if config.smtp_username:
                smtp.login(config.smtp_username, config.smtp_password)
            smtp.send_message(message, from_addr=config.from_address,
                              to_addrs=list(recipients))
    except (smtplib.SMTPException, OSError) as exc:
        raise NotifyError(
            f"mail server {config.smtp_host}:{config.smtp_port}: {_cause(exc)}") from None


def on_user_risk_raised(user_id: str, previous: Level, level: Level) -> None:
    """Email the admins when a user's risk rises to the configured level; log a mail failure."""
    config = _settings().notifications
    if not config.smtp_host or not reaches(config.notify_at, previous, level):
        return
    try:
        recipients = admin_recipients()
        send(user_risk_message(user_id, previous, level), recipients)
    except NotifyError as exc:
        log.warning("risky-user email for user %s not sent: %s", user_id, exc)
        return
    log.info("risky-user email for user %s (%s) sent to %d admins", user_id, level,
             len(recipients))


@dataclass(frozen=True)
class Digest:
    """What the periodic digest reports for a window of days."""

    since: datetime
    until: datetime
    days: int
    # Authorization requests by their first decision (see idp.simulate).
    sign_ins: Tally
    # Attempts that never reached a decision: wrong password, locked out, unknown user.
    failed_attempts: int
    # Users whose risk rose during the window, by the highest level it rose to.
    new_risky_users: tuple[tuple[str, int], ...]
    detections: tuple[tuple[str, int], ...]
    # (username, user id, level, state, since) of users still at risk, riskiest first.
    at_risk: tuple[tuple[str, str, str, str, datetime], ...]
    at_risk_total: int
    # (title, impacted count, action URL) of each active recommendation (idp.posture).
    recommendations: tuple[tuple[str, int, str], ...] = ()


def new_risky_users(since: datetime, until: datetime) -> dict[str, int]:
    """Users whose risk level rose inside the window, counted by the highest level reached."""
    in_window = sa.select(RiskHistory.user_id).where(
        RiskHistory.at >= since, RiskHistory.at <= until)
    rows = db.session.execute(
        sa.select(RiskHistory.user_id, RiskHistory.at, RiskHistory.risk_level)
        .where(RiskHistory.user_id.in_(in_window), RiskHistory.at <= until)
        .order_by(RiskHistory.user_id, RiskHistory.at, RiskHistory.id)
    )
    last: dict[str, Level] = {}
    reached: dict[str, Level] = {}
    for user_id, at, text in rows:
        level = Level.parse(text)
        if at >= since and level > last.get(user_id, Level.NONE):
            reached[user_id] = max(level, reached.get(user_id, Level.NONE))
        last[user_id] = level
    counts = Counter(level.value for level in reached.values())
    return {level: counts[level] for level in ("high", "medium", "low")}


def build_digest(days: int, now: datetime) -> Digest:
    """Gather the digest of the `days` before `now`."""
    since = now - timedelta(days=days)
    outcomes: Counter[str] = Counter()
    users: dict[str, set[str]] = {o: set() for o in OUTCOMES}
    for sign_in in logged_sign_ins(since, now):
        outcomes[sign_in.actual] += 1
        users[sign_in.actual].add(sign_in.user_id)
    tally = Tally(tuple(Count(o, outcomes[o], len(users[o])) for o in OUTCOMES))
    detections = db.session.execute(
        sa.select(RiskDetection.risk_event_type, sa.func.count())
        .where(RiskDetection.detected_at >= since, RiskDetection.detected_at <= now)
        .group_by(RiskDetection.risk_event_type)
    )
    at_risk_filter = UserRisk.risk_state.in_([s.value for s in ACTIVE_STATES])
    rank = sa.case({"high": 3, "medium": 2, "low": 1}, value=UserRisk.risk_level, else_=0)
    top = db.session.execute(
        sa.select(User.username, User.id, UserRisk.risk_level, UserRisk.risk_state,
                  UserRisk.updated_at)
        .join(User, User.id == UserRisk.user_id)
        .where(at_risk_filter, UserRisk.risk_level != "none")
        .order_by(rank.desc(), UserRisk.updated_at.desc(), User.username)
        .limit(TOP_RISKY_USERS)
    )
    total = db.session.scalar(sa.select(sa.func.count()).select_from(UserRisk).where(
        at_risk_filter, UserRisk.risk_level != "none"))
    return Digest(
        since=since, until=now, days=days, sign_ins=tally,
        failed_attempts=count_not_replayed(since, now),
        new_risky_users=tuple(new_risky_users(since, now).items()),
        detections=tuple(sorted(((t, int(n)) for t, n in detections),
                                key=lambda item: (-item[1], item[0]))),
        at_risk=tuple((u, i, lv, st, at) for u, i, lv, st, at in top),
        at_risk_total=int(total or 0),
        recommendations=tuple((r.title, r.impacted_count, r.action_url())
                              for r in recommendations() if r.status == ACTIVE),
    )


def format_digest(digest: Digest) -> str:
    """The digest as the plain text of the email."""
    width = max(len(label) for label in LABELS.values()) + 2
    lines = [
        f"Identity Protection digest for {_settings().issuer}",
        f"{digest.days} days: {digest.since:{STAMP}} to {digest.until:{STAMP}}",
        "",
        "Sign-ins (each authorization request by its first decision): sign-ins / users",
    ]
    for count in digest.sign_ins.counts:
        lines.append(f"  {count.label.ljust(width)}{count.sign_ins:>6} / {count.users}")
    lines.append(f"  and {digest.failed_attempts} attempts that failed before any decision "
                 "(wrong password, locked out, unknown user)")
    lines += ["", "New risky users (whose risk rose in these days, by the level reached)"]
    lines += [f"  {level.ljust(width)}{n:>6}" for level, n in digest.new_risky_users]
    lines += ["", "Detections by type"]
    if digest.detections:
        lines += [f"  {kind.ljust(width)}{n:>6}" for kind, n in digest.detections]
    else:
        lines.append("  none")
    shown = len(digest.at_risk)
    lines += ["", f"Users still at risk ({digest.at_risk_total}"
              + (f", the {shown} riskiest shown)" if shown < digest.at_risk_total else ")")]
    if not digest.at_risk:
        lines.append("  none")
    for username, user_id, level, state, since in digest.at_risk:
        lines.append(f"  {username}: {level} risk, {state} (last change {since:{STAMP}})")
        lines.append(f"    {user_link(user_id)}")
    lines += ["", f"Recommendations ({len(digest.recommendations)} active)"]
    if not digest.recommendations:
        lines.append("  none: every recommendation is completed")
    for title, impacted, url in digest.recommendations:
        lines.append(f"  {title}: {impacted} affected")
        lines.append(f"    {url}")
    return "\n".join(lines) + "\n"


def send_digest(days: int) -> tuple[list[str], str]:
    """Email the digest of the last `days` to the admins; return the recipients and the text."""
    now = _now()
    text = format_digest(build_digest(days, now))
    recipients = admin_recipients()
    message = EmailMessage()
    message["Subject"] = f"Identity Protection digest: {days} days to {now:%Y-%m-%d}"
    message.set_content(text)
    send(message, recipients)
    return recipients, text
