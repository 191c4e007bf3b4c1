"""`idp backchannel`: deliver due back-channel logout tokens (cron) and show the queue."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import Flask

from .common import with_app

backchannel_group = click.Group(
    "backchannel", help="OpenID Connect back-channel logout deliveries."
)


@backchannel_group.command("deliver")
@click.option(
    "--timeout",
    "timeout_seconds",
    default=None,
    type=click.FloatRange(0.1, 60),
    help="Seconds to wait for each client (default 5).",
)
@with_app
def deliver(app: Flask, timeout_seconds: float | None) -> None:
    """Send every logout token whose attempt is due now (run it from cron; `idp serve`
    also does this in the background)."""
    from ..backchannel import BATCH, DeliveryRun, deliver_due, prune

    total = DeliveryRun()
    while True:
        run = deliver_due(timeout_seconds=timeout_seconds)
        for name in ("delivered", "failed", "refused", "gave_up", "skipped"):
            setattr(total, name, getattr(total, name) + getattr(run, name))
        if run.attempted + run.skipped < BATCH:
            break
    pruned = prune()
    click.echo(
        f"delivered {total.delivered}, failed {total.failed} (will retry unless given "
        f"up), refused {total.refused}, given up {total.gave_up}; removed {pruned} "
        "finished rows older than 30 days"
    )


@backchannel_group.command("status")
@click.option(
    "--limit",
    default=20,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="How many undelivered rows to list.",
)
@with_app
def status(app: Flask, limit: int) -> None:
    """Count deliveries by state and list the undelivered ones, newest first."""
    from ..extensions import db
    from ..models import BackchannelLogout as Row

    pending = sa.and_(Row.delivered_at.is_(None), Row.next_attempt_at.is_not(None))
    given_up = sa.and_(Row.delivered_at.is_(None), Row.next_attempt_at.is_(None))
    counts = {
        "delivered": Row.delivered_at.is_not(None),
        "pending": pending,
        "given up": given_up,
    }
    click.echo(
        ", ".join(
            f"{name} {db.session.scalar(sa.select(sa.func.count()).select_from(Row).where(cond))}"
            for name, cond in counts.items()
        )
    )
    rows = db.session.scalars(
        sa.select(Row)
        .where(Row.delivered_at.is_(None))
        .order_by(Row.created_at.desc())
        .limit(limit)
    )
    for row in rows:
        state = (
            f"next attempt {row.next_attempt_at:%Y-%m-%d %H:%M:%S}"
            if row.next_attempt_at
            else "given up"
        )
        click.echo(
            f"{row.created_at:%Y-%m-%d %H:%M:%S}  client {row.client_id}  "
            f"{row.reason}  attempts {row.attempts}  {state}  "
            f"{row.last_error or '-'}"
        )
