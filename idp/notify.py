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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import urlparse

import sqlalchemy as sa

from risk.levels import Level
from risk.vocabulary import ACTIVE_STATES

from .config import Settings
from .errors import IdpError
from .extensions import db
from .i18n import _, force_locale, recipient_locale
from .models import RiskDetection, RiskHistory, User, UserRisk
from .posture import ACTIVE, recommendations
from .services import services
from .simulate import LABELS, OUTCOMES, Count, Tally, count_not_replayed, logged_sign_ins

SMTP_TIMEOUT_SECONDS = 5
TOP_RISKY_USERS = 10
STAMP = "%Y-%m-%d %H:%M UTC"

log = logging.getLogger("idp.notify")


class NotifyError(IdpError):
    """An email could not be sent; the message names the server and cause, never a secret."""


def _settings() -> Settings:
    return services().settings


def _now() -> datetime:
    return services().clock.now()


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
    rows = db.session.execute(
        sa.select(User.email, User.groups)
        .where(
            User.email.is_not(None),
            User.email != "",
            User.disabled.is_(False),
            sa.or_(
                text.contains(json.dumps(group), autoescape=True),
                text.contains(group, autoescape=True),
            ),
        )
        .order_by(User.username)
    )
    return list(dict.fromkeys(email for email, groups in rows if email and group in (groups or [])))


def user_link(user_id: str) -> str:
    """The user's page on the admin dashboard."""
    return f"{_settings().issuer}/admin/users/{user_id}"


def _where(row: RiskDetection) -> str:
    location = row.location or {}
    place = ", ".join(str(p) for p in (location.get("city"), location.get("countryOrRegion")) if p)
    if row.ip and place:
        return " " + _("from %(ip)s (%(place)s)", ip=row.ip, place=place)
    if row.ip or place:
        return " " + _("from %(where)s", where=row.ip or place)
    return ""


def user_risk_message(user_id: str, previous: Level, level: Level) -> EmailMessage:
    """The email telling admins a user reached `level`, with the active detections."""
    user = db.session.get(User, user_id)
    risk = db.session.get(UserRisk, user_id)
    username = user.username if user else user_id
    detections = list(
        db.session.scalars(
            sa.select(RiskDetection)
            .where(
                RiskDetection.user_id == user_id,
                RiskDetection.risk_state.in_([s.value for s in ACTIVE_STATES]),
            )
            .order_by(RiskDetection.detected_at.desc(), RiskDetection.id)
        )
    )
    who = f"{username} <{user.email}>" if user and user.email else username
    fields = [
        (_("User id"), user_id),
        (_("Risk level"), str(level)),
        (_("Risk state"), risk.risk_state if risk else "atRisk"),
        (_("Changed"), f"{(risk.updated_at if risk else _now()):{STAMP}}"),
    ]
    width = max(len(label) for label, _value in fields) + 2
    lines = [
        _(
            "The user %(who)s reached %(level)s user risk (it was %(previous)s).",
            who=who,
            level=str(level),
            previous=str(previous),
        ),
        "",
        *(f"  {label.ljust(width)}{value}" for label, value in fields),
        "",
        _("Active detections (%(count)d):", count=len(detections)),
    ]
    for row in detections:
        lines += [
            "- "
            + _(
                "%(type)s (%(level)s risk), %(when)s",
                type=row.risk_event_type,
                level=row.risk_level,
                when=row.detected_at.strftime(STAMP),
            )
            + _where(row),
            f"  {row.description or row.risk_event_type}",
        ]
    lines += [
        "",
        _("Review the account, its sign-ins and the evidence, and act on it:"),
        user_link(user_id),
        "",
        _(
            "You receive this as an administrator of %(issuer)s; this email is sent when a "
            "user's risk reaches %(notify_at)s.",
            issuer=_settings().issuer,
            notify_at=_settings().notifications.notify_at,
        ),
    ]
    message = EmailMessage()
    message["Subject"] = _(
        "Risky user: %(name)s reached %(level)s user risk", name=username, level=str(level)
    )
    message.set_content("\n".join(lines) + "\n")
    return message


def _redact(text: str) -> str:
    secret = _settings().notifications.smtp_password
    return text.replace(secret, "[redacted]") if secret else text


def _cause(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
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
        with smtplib.SMTP(
            config.smtp_host,
            config.smtp_port,
            local_hostname=local_name,
            timeout=SMTP_TIMEOUT_SECONDS,
        ) as smtp:
            if config.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if config.smtp_username:
                smtp.login(config.smtp_username, config.smtp_password)
            smtp.send_message(message, from_addr=config.from_address, to_addrs=list(recipients))
    except (smtplib.SMTPException, OSError) as exc:
        raise NotifyError(
            f"mail server {config.smtp_host}:{config.smtp_port}: {_cause(exc)}"
        ) from None


def languages_of(recipients: Sequence[str]) -> dict[str, list[str]]:
    """The recipients by the language of their email: the `locale` claim of the user with
    that address when it is a shipped language, else English (configured addresses)."""
    users: dict[str, User] = {}
    if recipients:
        for user in db.session.scalars(
            sa.select(User).where(User.email.in_(list(recipients))).order_by(User.username)
        ):
            users.setdefault(str(user.email), user)
    groups: dict[str, list[str]] = {}
    for email in recipients:
        groups.setdefault(recipient_locale(users.get(email)), []).append(email)
    return groups


def send_in_their_languages(build: Callable[[], EmailMessage], recipients: Sequence[str]) -> None:
    """Send the message `build` writes to each language's recipients, written in it."""
    if not recipients:
        send(build(), recipients)  # NotifyError: no recipients
    for locale, group in languages_of(recipients).items():
        with force_locale(locale):
            message = build()
        send(message, group)


def on_user_risk_raised(user_id: str, previous: Level, level: Level) -> None:
    """Email the admins when a user's risk rises to the configured level; log a mail failure."""
    config = _settings().notifications
    if not config.smtp_host or not reaches(config.notify_at, previous, level):
        return
    try:
        recipients = admin_recipients()
        send_in_their_languages(lambda: user_risk_message(user_id, previous, level), recipients)
    except NotifyError as exc:
        log.warning("risky-user email for user %s not sent: %s", user_id, exc)
        return
    log.info("risky-user email for user %s (%s) sent to %d admins", user_id, level, len(recipients))


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
        RiskHistory.at >= since, RiskHistory.at <= until
    )
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
        sa.select(
            User.username, User.id, UserRisk.risk_level, UserRisk.risk_state, UserRisk.updated_at
        )
        .join(User, User.id == UserRisk.user_id)
        .where(at_risk_filter, UserRisk.risk_level != "none")
        .order_by(rank.desc(), UserRisk.updated_at.desc(), User.username)
        .limit(TOP_RISKY_USERS)
    )
    total = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(UserRisk)
        .where(at_risk_filter, UserRisk.risk_level != "none")
    )
    return Digest(
        since=since,
        until=now,
        days=days,
        sign_ins=tally,
        failed_attempts=count_not_replayed(since, now),
        new_risky_users=tuple(new_risky_users(since, now).items()),
        detections=tuple(
            sorted(((t, int(n)) for t, n in detections), key=lambda item: (-item[1], item[0]))
        ),
        at_risk=tuple((u, i, lv, st, at) for u, i, lv, st, at in top),
        at_risk_total=int(total or 0),
        recommendations=tuple(
            (r.title, r.impacted_count, r.action_url())
            for r in recommendations()
            if r.status == ACTIVE
        ),
    )


def format_digest(digest: Digest) -> str:
    """The digest as the plain text of the email (in the language being written)."""
    labels = {outcome: _(label) for outcome, label in LABELS.items()}
    width = max(len(label) for label in labels.values()) + 2
    lines = [
        _("Identity Protection digest for %(issuer)s", issuer=_settings().issuer),
        _(
            "%(days)d days: %(since)s to %(until)s",
            days=digest.days,
            since=digest.since.strftime(STAMP),
            until=digest.until.strftime(STAMP),
        ),
        "",
        _("Sign-ins (each authorization request by its first decision): sign-ins / users"),
    ]
    for count in digest.sign_ins.counts:
        label = labels.get(count.outcome, count.label)
        lines.append(f"  {label.ljust(width)}{count.sign_ins:>6} / {count.users}")
    lines.append(
        "  "
        + _(
            "and %(count)d attempts that failed before any decision (wrong "
            "password, locked out, unknown user)",
            count=digest.failed_attempts,
        )
    )
    lines += ["", _("New risky users (whose risk rose in these days, by the level reached)")]
    lines += [f"  {level.ljust(width)}{n:>6}" for level, n in digest.new_risky_users]
    lines += ["", _("Detections by type")]
    if digest.detections:
        lines += [f"  {kind.ljust(width)}{n:>6}" for kind, n in digest.detections]
    else:
        lines.append("  " + _("none"))
    shown = len(digest.at_risk)
    lines += [
        "",
        _(
            "Users still at risk (%(total)d, the %(shown)d riskiest shown)",
            total=digest.at_risk_total,
            shown=shown,
        )
        if shown < digest.at_risk_total
        else _("Users still at risk (%(total)d)", total=digest.at_risk_total),
    ]
    if not digest.at_risk:
        lines.append("  " + _("none"))
    for username, user_id, level, state, since in digest.at_risk:
        lines.append(
            "  "
            + _(
                "%(name)s: %(level)s risk, %(state)s (last change %(since)s)",
                name=username,
                level=level,
                state=state,
                since=since.strftime(STAMP),
            )
        )
        lines.append(f"    {user_link(user_id)}")
    lines += ["", _("Recommendations (%(count)d active)", count=len(digest.recommendations))]
    if not digest.recommendations:
        lines.append("  " + _("none: every recommendation is completed"))
    for title, impacted, url in digest.recommendations:
        # The title was written in English when the digest was gathered: its translation.
        lines.append("  " + _("%(title)s: %(count)d affected", title=_(title), count=impacted))
        lines.append(f"    {url}")
    return "\n".join(lines) + "\n"


def send_digest(days: int) -> tuple[list[str], str]:
    """Email the digest of the last `days` to the admins; return the recipients and the text."""
    now = _now()
    digest = build_digest(days, now)
    text = format_digest(digest)
    recipients = admin_recipients()

    def write() -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = _(
            "Identity Protection digest: %(days)d days to %(day)s",
            days=days,
            day=now.strftime("%Y-%m-%d"),
        )
        message.set_content(format_digest(digest))
        return message

    send_in_their_languages(write, recipients)
    return recipients, text
