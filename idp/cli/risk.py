"""`idp risk`: the risk engine's offline tools; they read the [risk] settings, not the database."""

from __future__ import annotations

import click

from risk.errors import RiskConfigError, RiskError
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
        # Only [risk] matters here: no secret key is needed to replay a file.
        risk_settings = load_settings(config, demo=True).risk
    except ConfigError as exc:
        fail(f"configuration error: {exc}")
        return
    try:
        report = replay(path, risk_settings, levels_out=levels_out, cities=cities)
    except RiskConfigError as exc:  # a configured feed file cannot be read
        fail(f"configuration error: {exc}")
        return
    except RiskError as exc:  # a file is missing, unreadable or malformed; it is named
        fail(str(exc))
        return
    click.echo(format_report(report))
