"""Email to admins, delivered to a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import uuid
from dataclasses import replace
from email import message_from_bytes
from email.policy import default

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from idp.config import NotificationSettings
from risk.levels import Level
from tests.idp.conftest import LEAKED_PASSWORD, LISTED_ANON, LONDON, TOR, submit_code
from tests.idp.test_api_support import failed_codes_user

ADMIN = "security@example.org"
SMTP_USER = "idp-mailer"
SMTP_PASSWORD = "smtp-Secret-Pa55"


class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], object]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        message = message_from_bytes(envelope.content, policy=default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"

    def bodies(self) -> list[str]:
        return [message.get_content() for _, _, message in self.messages]


def _authenticate(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp():
    """A real SMTP server on a free local port that accepts AUTH without TLS."""
    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=_authenticate,
        auth_require_tls=False,
    )
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


@pytest.fixture
def notifying(make_app, risky_settings, clock):
    """Build a StepUp app whose notifications go to a port: notifying(port, notify_at=...)."""
    from tests.idp.conftest import StepUp

    def build(port: int, **changes) -> StepUp:
        config = replace(
            NotificationSettings(
                smtp_host="127.0.0.1",
                smtp_port=port,
                from_address="idp@example.org",
                admin_emails=(ADMIN,),
            ),
            **changes,
        )
        settings = replace(risky_settings, notifications=config)
        return StepUp(make_app(settings, clock=clock), clock)

    return build


def raise_to_high(stepup, user_id):
    """A high user-risk detection, as an administrator's confirmation stores one."""
    from idp import user_risk
    from risk.detections import admin_confirmed_compromised

    stepup.with_app(
        lambda: user_risk.raise_user_detection(
            user_id,
            admin_confirmed_compromised(admin="root"),
            correlation_id=str(uuid.uuid4()),
            initiated_by="root",
            source="admin",
        )
    )


@pytest.mark.parametrize(
    ("notify_at", "previous", "level", "expected"),
    [
        ("high", Level.MEDIUM, Level.HIGH, True),
        ("high", Level.NONE, Level.HIGH, True),
        ("high", Level.NONE, Level.MEDIUM, False),
        ("high", Level.HIGH, Level.HIGH, False),
        ("medium", Level.LOW, Level.MEDIUM, True),
        ("medium", Level.MEDIUM, Level.HIGH, False),
        ("low", Level.NONE, Level.LOW, True),
        ("never", Level.NONE, Level.HIGH, False),
    ],
    ids=[
        "medium-to-high",
        "none-to-high",
        "below",
        "already-high",
        "reaches-medium",
        "already-above-medium",
        "reaches-low",
        "never",
    ],
)
def test_reaches(notify_at, previous, level, expected):
    from idp.notify import reaches

    assert reaches(notify_at, previous, level) is expected


def test_leaked_password_sign_in_emails_the_admins_once(notifying, smtp):
    stepup = notifying(smtp.port)
    user_id = stepup.user("alice", LEAKED_PASSWORD, email="alice@example.org")
    secret = stepup.register_totp("alice")
    rp = stepup.browser_rp(LONDON)
    assert "/mfa/verify" in rp.sign_in("alice", LEAKED_PASSWORD).location
    assert len(smtp.messages) == 1
    sender, recipients, message = smtp.messages[0]
    assert (sender, recipients) == ("idp@example.org", [ADMIN])
    assert message["Subject"] == "Risky user: alice reached high user risk"
    assert (message["From"], message["To"]) == ("idp@example.org", ADMIN)
    body = message.get_content()
    assert "The user alice <alice@example.org> reached high user risk (it was none)." in body
    assert "  Risk state  atRisk" in body
    assert (
        "- leakedCredentials (high risk), 2026-03-02 09:00 UTC from 81.2.69.142 "
        "(London, GB)" in body
    )
    assert "  The password just typed is in the leaked-password corpus" in body
    assert f"http://idp.test/admin/users/{user_id}" in body.splitlines()
    raw = message.as_string()
    assert LEAKED_PASSWORD not in raw and secret not in raw
    # Already high: another risky sign-in sends nothing more.
    again = stepup.browser_rp(TOR)
    assert "/mfa/verify" in again.sign_in("alice", LEAKED_PASSWORD).location
    assert len(smtp.messages) == 1


@pytest.mark.parametrize(
    ("notify_at", "after_medium", "after_high"),
    [
        ("high", 0, 1),
        ("medium", 1, 1),
        ("low", 1, 1),
        ("never", 0, 0),
    ],
    ids=["high", "medium", "low", "never"],
)
def test_notify_at_from_both_sides(notifying, smtp, notify_at, after_medium, after_high):
    stepup = notifying(smtp.port, notify_at=notify_at)
    user_id = failed_codes_user(stepup)  # mfaFraud: medium user risk
    assert len(smtp.messages) == after_medium
    raise_to_high(stepup, user_id)
    assert len(smtp.messages) == after_high
    if after_high > after_medium:
        body = smtp.bodies()[-1]
        assert "reached high user risk (it was medium)" in body
        assert "  Risk state  atRisk" in body
        assert "- adminConfirmedUserCompromised (high risk)" in body
        assert "  Administrator root confirmed this user compromised" in body
        assert (
            "- anonymizedIPAddress (medium risk), 2026-03-02 09:00 UTC from 185.220.101.1" in body
        )


def test_admin_group_members_receive_it_when_no_admin_emails(notifying, smtp):
    stepup = notifying(smtp.port, admin_emails=())
    stepup.user("root", email="root@example.org", groups=["admins", "staff"])
    stepup.user("ops", email="ops@example.org", groups=["admins"])
    stepup.user("nomail", groups=["admins"])
    stepup.user("eve", email="eve@example.org", groups=["staff"])
    stepup.user("near", email="near@example.org", groups=["admins2", "sysadmins"])
    alice = stepup.user("alice")
    raise_to_high(stepup, alice)
    assert [recipients for _, recipients, _ in smtp.messages] == [
        ["ops@example.org", "root@example.org"]
    ]


def test_no_admin_address_is_logged_not_raised(notifying, smtp, caplog):
    stepup = notifying(smtp.port, admin_emails=())
    alice = stepup.user("alice")
    with caplog.at_level(logging.WARNING, logger="idp.notify"):
        raise_to_high(stepup, alice)
    assert smtp.messages == []
    assert "no recipients" in caplog.text


def test_dead_mail_server_does_not_break_the_sign_in(notifying, caplog):
    port = free_port()  # nothing listens here
    stepup = notifying(port, smtp_username=SMTP_USER, smtp_password=SMTP_PASSWORD)
    stepup.user("alice", LEAKED_PASSWORD)
    secret = stepup.register_totp("alice")
    rp = stepup.browser_rp(LONDON)
    with caplog.at_level(logging.INFO):
        challenge = rp.sign_in("alice", LEAKED_PASSWORD)
        assert challenge.status_code == 302 and "/mfa/verify" in challenge.location
        change = rp.browser.get(submit_code(rp, challenge.location, stepup.code(secret)).location)
    assert "/password/change" in change.location
    assert f"mail server 127.0.0.1:{port}: ConnectionRefusedError" in caplog.text
    assert SMTP_PASSWORD not in caplog.text and LEAKED_PASSWORD not in caplog.text


def test_smtp_login(notifying, smtp, caplog):
    stepup = notifying(smtp.port, smtp_username=SMTP_USER, smtp_password=SMTP_PASSWORD)
    raise_to_high(stepup, stepup.user("alice"))
    assert len(smtp.messages) == 1
    wrong = notifying(smtp.port, smtp_username=SMTP_USER, smtp_password="not-" + SMTP_PASSWORD)
    with caplog.at_level(logging.WARNING, logger="idp.notify"):
        raise_to_high(wrong, wrong.user("bob"))
    assert len(smtp.messages) == 1
    assert "SMTPAuthenticationError: 535" in caplog.text
    assert SMTP_PASSWORD not in caplog.text


def test_digest(notifying, smtp):
    from idp import admin_actions

    stepup = notifying(smtp.port)
    stepup.user("alice")
    secret = stepup.register_totp("alice")
    stepup.user("bob")
    dave = stepup.user("dave", LEAKED_PASSWORD)
    stepup.register_totp("dave")
    eve = stepup.user("eve")
    # Eve's risk rose before the digest's week: still at risk, but not new.
    raise_to_high(stepup, eve)
    stepup.clock.advance(days=10)
    stepup.with_app(lambda: admin_actions.revoke_all_sessions(eve, "root"))
    london = stepup.browser_rp(LONDON)
    assert london.code_from(london.sign_in("alice"))
    tor = stepup.browser_rp(TOR)
    challenge = tor.sign_in("alice")
    assert tor.code_from(
        tor.browser.get(submit_code(tor, challenge.location, stepup.code(secret)).location)
    )
    assert stepup.browser_rp(LISTED_ANON).sign_in("bob").status_code == 403
    assert stepup.browser_rp(LONDON).sign_in("bob", "wrong password").status_code == 401
    assert "/mfa/verify" in stepup.browser_rp(LONDON).sign_in("dave", LEAKED_PASSWORD).location
    smtp.messages.clear()
    from idp.notify import send_digest

    recipients, text = stepup.with_app(lambda: send_digest(7))
    assert recipients == [ADMIN]
    ((_, to, message),) = smtp.messages
    assert to == [ADMIN]
    assert message["Subject"] == "Identity Protection digest: 7 days to 2026-03-12"
    assert message.get_content().replace("\r\n", "\n") == text
    assert (
        text
        == f"""Identity Protection digest for http://idp.test
7 days: 2026-03-05 09:00 UTC to 2026-03-12 09:00 UTC

Sign-ins (each authorization request by its first decision): sign-ins / users
  allowed                 1 / 1
  challenged (TOTP)       1 / 1
  register TOTP           0 / 0
  change password         1 / 1
  blocked 53003           0 / 0
  blocked 53004           1 / 1
  and 1 attempts that failed before any decision (wrong password, locked out, unknown user)

New risky users (whose risk rose in these days, by the level reached)
  high                    1
  medium                  0
  low                     0

Detections by type
  anonymizedIPAddress     2
  leakedCredentials       1

Users still at risk (2)
  dave: high risk, atRisk (last change 2026-03-12 09:00 UTC)
    http://idp.test/admin/users/{dave}
  eve: high risk, atRisk (last change 2026-03-02 09:00 UTC)
    http://idp.test/admin/users/{eve}

Recommendations (1 active)
  Have every user register a second factor: 2 affected
    http://idp.test/admin/directory
"""
    )
    assert LEAKED_PASSWORD not in text


# The command, run as cron would.


def cli(*args, env=None):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    return subprocess.run(
        [sys.executable, "-m", "idp", *args],
        capture_output=True,
        text=True,
        env={**environ, **(env or {})},
        timeout=120,
    )


def write_config(tmp_path, database_url, notifications=""):
    path = tmp_path / "idp.toml"
    path.write_text(f"""
secret_key = "test-secret-key-0123456789"
issuer = "http://127.0.0.1:5999"
database_url = "{database_url}"
[notifications]
{notifications}
""")
    return str(path)


def test_cli_digest(app, provider, smtp, tmp_path, database_url):
    provider.user("root", email="root@example.org", groups=["admins"])
    off_config = write_config(tmp_path, database_url)
    off = cli("notify", "digest", "--config", off_config)
    assert (off.returncode, off.stdout, off.stderr) == (
        0,
        "notifications are off: set [notifications] smtp_host\n",
        "",
    )
    dry = cli("notify", "digest", "--dry-run", "--config", off_config)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("Identity Protection digest for http://127.0.0.1:5999\n")
    assert "Users still at risk (0)" in dry.stdout
    config = write_config(
        tmp_path, database_url, f'smtp_host = "127.0.0.1"\nsmtp_port = {smtp.port}\n'
    )
    sent = cli("notify", "digest", "--days", "7", "--config", config)
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.splitlines()[0] == "digest sent to root@example.org"
    assert "Identity Protection digest for http://127.0.0.1:5999" in sent.stdout
    assert [to for _, to, _ in smtp.messages] == [["root@example.org"]]
    dead = write_config(
        tmp_path, database_url, f'smtp_host = "127.0.0.1"\nsmtp_port = {free_port()}\n'
    )
    failed = cli("notify", "digest", "--config", dead)
    assert failed.returncode == 2 and failed.stdout == ""
    assert failed.stderr.startswith("idp: digest not sent: mail server 127.0.0.1:")
    assert len(failed.stderr.splitlines()) == 1
