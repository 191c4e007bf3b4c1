"""bench/populate.py: what `oidc_bench --populate` loads is there, and the product reads it
as its own (on SQLite and, with IDP_TEST_DATABASE_URL, PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import populate
import sqlalchemy as sa

from idp.clients import read_client
from idp.extensions import db
from idp.models import SignIn, User, UserFeature, UserHistory
from risk.novelty import NoveltyCounts, Stage
from risk.settings import RiskSettings


def test_populate_fills_every_table_the_product_reads(app: Any, database_url: str) -> None:
    written = populate.populate(
        database_url, clients=7, users=40, sign_ins=300, tokens=25, seed=3, say=lambda _: None
    )
    assert written["oauth2_clients"] == 7
    assert written["users"] == 40
    assert written["risk_user_history"] == 40
    assert written["risk_user_features"] == 40 * 7
    assert written["sign_ins"] == 300
    assert written["oauth2_tokens"] == 25
    with app.test_request_context("/"):
        client = read_client("pop-00003")
        assert client is not None
        assert client.check_client_secret("pop-00003-secret")
        assert client.redirect_uris == ["https://pop-00003.example/cb"]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 40
        failed = db.session.scalar(
            sa.select(sa.func.count()).select_from(SignIn).filter_by(outcome="failure")
        )
        assert 0 < failed < 300
        # Rows on the benchmark's own address stay out of its per-IP windows.
        newest_local = db.session.scalar(
            sa.select(sa.func.max(SignIn.created_at)).where(SignIn.ip.like("127.%"))
        )
        assert newest_local is None or newest_local < datetime.now(UTC) - timedelta(days=1)
        # Values are shared by many users, as a big ISP's or a browser's are.
        browsers = db.session.execute(
            sa.select(UserFeature.value, sa.func.count())
            .filter_by(kind="browser")
            .group_by(UserFeature.value)
        ).all()
        assert max(count for _, count in browsers) > 1
        # A user's latest address lies in the /24 the engine learned for them.
        homes = db.session.execute(
            sa.select(UserHistory.last_ip, UserFeature.value).join(
                UserFeature,
                sa.and_(UserFeature.user_id == UserHistory.user_id, UserFeature.kind == "subnet"),
            )
        ).all()
        assert len(homes) == 40
        assert all(ip.rsplit(".", 1)[0] + ".0/24" == subnet for ip, subnet in homes)
        rows = db.session.execute(sa.text("SELECT name, count FROM risk_novelty_counts")).all()
    counts = NoveltyCounts.summed((name, count) for name, count in rows)
    # 300 rows, 4% failed: the successful ones are counted, and medium's share reads a bar.
    assert counts.counted(Stage.LEARNED) == int(300 * (1 - populate.FAILED_RATE))
    total, new, rare = counts.cell(Stage.LEARNED, "asn", parent_new=False)
    assert total > new + rare > 0


def test_the_steady_organisations_counters_reach_every_level() -> None:
    counters = populate.novelty_counters(1_000_000)
    counts = NoveltyCounts.summed(counters.items())
    settings = RiskSettings()
    assert counts.counted(Stage.LEARNED) == 1_000_000 > settings.novelty_min_counted
    for share, floor in (
        (settings.unfamiliar_low_share, settings.unfamiliar_low_bits),
        (settings.unfamiliar_medium_share, settings.unfamiliar_medium_bits),
        (settings.unfamiliar_high_share, settings.unfamiliar_high_bits),
    ):
        bar, judged = counts.threshold(Stage.LEARNED, share)
        assert bar is not None and judged == 1_000_000
        # Near each level's floor of bits, as an organisation the defaults suit would be.
        assert floor - 1.5 <= bar <= floor + 1.5, (share, bar)
        at_or_above = counts.share_at_or_above(Stage.LEARNED, bar)
        assert at_or_above is not None and at_or_above <= share
