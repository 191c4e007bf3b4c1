"""`idp notify` and `idp policy`: the admins' digest email and the policy what-if."""

from __future__ import annotations

import click
from flask import Flask

notify_group: click.Group = click.Group("notify", help="Email notifications to admins.")
policy_group: click.Group = click.Group("policy", help="Conditional access policies.")


# idp.cli imports this module at its end, so the groups must exist before this import runs.
from .cli import _fail, with_app  # noqa: E402


@notify_group.command("digest")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 366),
              help="How many days back the digest covers.")
@click.option("--dry-run", is_flag=True, help="Print the digest; send nothing.")
@with_app
def notify_digest(app: Flask, days: int, dry_run: bool) -> None:
    """Email the admins a digest of sign-ins, risky users and detections (run it from cron).

    With notifications off (no [notifications] smtp_host) it says so and exits 0, so a cron
    entry can stay in place while email is switched off.
    """
    from .notify import NotifyError, build_digest, enabled, format_digest, send_digest

    if dry_run:
        click.echo(format_digest(build_digest(days, app.extensions["idp.clock"].now())), nl=False)
        return
    if not enabled():
        click.echo("notifications are off: set [notifications] smtp_host")
        return
    try:
        recipients, text = send_digest(days)
    except NotifyError as exc:
        _fail(f"digest not sent: {exc}")
        return
    click.echo(f"digest sent to {', '.join(recipients)}")
    click.echo("")
    click.echo(text, nl=False)


@policy_group.command("simulate")
@click.option("--candidate", "candidate_path", required=True, metavar="FILE.toml",
              type=click.Path(dir_okay=False),
              help="[policies.*] tables to try; what they leave out stays as configured.")
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 366),
              help="How many days of logged sign-ins to replay.")
@with_app
def policy_simulate(app: Flask, candidate_path: str, days: int) -> None:
    """Replay the logged sign-ins under candidate policies, next to the current ones."""
    from .simulate import format_report, load_candidate, simulate

    current = app.extensions["idp.settings"].policies
    candidate = load_candidate(candidate_path, current)
    report = simulate(candidate, days, app.extensions["idp.clock"].now(),
                      current_policies=current)
    click.echo(format_report(report))
