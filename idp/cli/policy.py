"""`idp policy`: the what-if of candidate conditional access policies."""

from __future__ import annotations

import click
from flask import Flask

from ..services import services
from .common import with_app

policy_group = click.Group("policy", help="Conditional access policies.")


@policy_group.command("simulate")
@click.option(
    "--candidate",
    "candidate_path",
    required=True,
    metavar="FILE.toml",
    type=click.Path(dir_okay=False),
    help="[policies.*] tables to try; what they leave out stays as configured.",
)
@click.option(
    "--days",
    default=30,
    show_default=True,
    type=click.IntRange(1, 366),
    help="How many days of logged sign-ins to replay.",
)
@with_app
def policy_simulate(app: Flask, candidate_path: str, days: int) -> None:
    """Replay the logged sign-ins under candidate policies, next to the current ones."""
    from ..simulate import format_report, load_candidate, simulate

    current = services(app).settings.policies
    candidate = load_candidate(candidate_path, current)
    report = simulate(candidate, days, services(app).clock.now(), current_policies=current)
    click.echo(format_report(report))
