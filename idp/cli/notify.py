"""`idp notify`: the admins' digest email."""

from __future__ import annotations

import click
from flask import Flask

from ..services import services
from .common import fail, with_app

notify_group = click.Group("notify", help="Email notifications to admins.")


@notify_group.command("digest")
@click.option(
    "--days",
    default=7,
    show_default=True,
    type=click.IntRange(1, 366),
    help="How many days back the digest covers.",
)
@click.option("--dry-run", is_flag=True, help="Print the digest; send nothing.")
@with_app
def notify_digest(app: Flask, days: int, dry_run: bool) -> None:
    """Email the admins a digest of sign-ins, risky users and detections (run it from cron).

    With notifications off (no [notifications] smtp_host) it says so and exits 0, so a cron
    entry can stay in place while email is switched off.
    """
    from ..notify import NotifyError, build_digest, enabled, format_digest, send_digest

    if dry_run:
        click.echo(format_digest(build_digest(days, services(app).clock.now())), nl=False)
        return
    if not enabled():
        click.echo("notifications are off: set [notifications] smtp_host")
        return
    try:
        recipients, text = send_digest(days)
    except NotifyError as exc:
        fail(f"digest not sent: {exc}")
        return
    click.echo(f"digest sent to {', '.join(recipients)}")
    click.echo("")
    click.echo(text, nl=False)
