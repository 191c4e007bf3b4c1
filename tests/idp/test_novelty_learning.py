"""The server adds each finished sign-in to the population counts unfamiliarFeatures weighs
new properties by, and a step-up nobody answered adds nothing, as the replay does."""

from __future__ import annotations

import sqlalchemy as sa

from tests.idp.conftest import LONDON, TOR, StepUp, submit_code


def counted(stepup: StepUp) -> dict[str, int]:
    from idp.extensions import db
    from idp.models import NoveltyCount

    rows = stepup.with_app(
        lambda: db.session.execute(sa.select(NoveltyCount.name, NoveltyCount.count)).all()
    )
    return {name: count for name, count in rows}


def sign_ins_counted(stepup: StepUp) -> int:
    """Every weighed sign-in adds one to exactly one score-bin counter."""
    return sum(count for name, count in counted(stepup).items() if ".bits." in name)


def test_finished_sign_ins_are_counted_and_an_unanswered_step_up_is_not(stepup: StepUp) -> None:
    stepup.user()
    secret = stepup.register_totp()
    stepup.browser_rp(LONDON).tokens()
    stepup.clock.advance(hours=1)
    stepup.browser_rp(LONDON).tokens()
    before = sign_ins_counted(stepup)
    assert before >= 1
    stepup.clock.advance(hours=1)

    rp = stepup.browser_rp(TOR)
    challenge = rp.sign_in().location
    assert "/mfa/verify" in challenge
    right = stepup.code(secret)
    assert submit_code(rp, challenge, f"{(int(right) + 1) % 1_000_000:06d}").status_code == 400
    assert sign_ins_counted(stepup) == before

    answered = submit_code(rp, challenge, right)
    assert rp.code_from(rp.browser.get(answered.location))
    assert sign_ins_counted(stepup) == before + 1
