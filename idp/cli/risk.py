"""`idp risk`: the risk engine's offline tools; they read the [risk] settings, not the database."""

from __future__ import annotations

import click

from risk.errors import RiskConfigError, RiskError
from risk.levels import Level
from risk.replay import format_report, replay

from ..config import load_settings
from ..errors import ConfigError
from .common import config_option, fail

risk_group = click.Group("risk", help="Risk engine tools.")


@risk_group.command("replay")
@click.argument("path", metavar="FILE.csv")
@click.option(
    "--levels-out",
    metavar="OUT.csv",
    help="Write each row's level and riskEventTypes here (row,level,events).",
)
@click.option(
    "--cities",
    metavar="CITIES.csv",
    help="Coordinates by place (country,region,city,latitude,longitude), so that "
    "unlikelyTravel can evaluate.",
)
@config_option
def replay_command(
    config: str | None, path: str, levels_out: str | None, cities: str | None
) -> None:
    """Replay a labelled RBA-format login log; print what each level would catch."""
    try:
        # Only [risk] and the sign-in risk policy matter: no secret key is needed here.
        settings = load_settings(config, demo=True)
    except ConfigError as exc:
        fail(f"configuration error: {exc}")
        return
    policy = settings.policies.sign_in_risk

    def bar(threshold: str) -> Level | None:
        return Level(threshold) if policy.state == "on" and threshold != "never" else None

    try:
        # Whom the policy blocks or steps up: not learned, or once the second factor is.
        report = replay(
            path,
            settings.risk,
            levels_out=levels_out,
            cities=cities,
            step_up_at=bar(policy.mfa_at),
            block_at=bar(policy.block_at),
        )
    except RiskConfigError as exc:  # a configured feed file cannot be read
        fail(f"configuration error: {exc}")
        return
    except RiskError as exc:  # a file is missing, unreadable or malformed; it is named
        fail(str(exc))
        return
    click.echo(format_report(report))
