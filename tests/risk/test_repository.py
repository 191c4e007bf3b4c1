from __future__ import annotations

from datetime import timedelta

from risk.context import IpInfo, SignInKind
from risk.engine import Assessment, RiskEngine
from risk.levels import Level
from risk.repository import HistoryRepository, InMemoryHistoryRepository, UserProfile
from tests.risk.conftest import CHANGCHUN_IP, LONDON_IP, T0, make_ctx, sign_in


def test_in_memory_repository_satisfies_the_protocol() -> None:
    repository: HistoryRepository = InMemoryHistoryRepository()
    assert repository.user_profile("nobody") == UserProfile()


def test_last_successful_sign_in_is_strictly_before(engine: RiskEngine) -> None:
    repo = engine.repository
    sign_in(engine, ip=LONDON_IP, time=T0)
    sign_in(engine, ip=CHANGCHUN_IP, time=T0 + timedelta(hours=2))
    assert repo.last_successful_sign_in("u-alice", T0) is None
    first = repo.last_successful_sign_in("u-alice", T0 + timedelta(hours=2))
    assert first is not None and first.ip == LONDON_IP and first.place == "London, GB"
    assert first.accuracy_radius_km == 10 and not first.trusted_location
    latest = repo.last_successful_sign_in("u-alice", T0 + timedelta(days=1))
    assert latest is not None and latest.city == "Changchun"


def test_out_of_order_records_keep_time_order(engine: RiskEngine) -> None:
    sign_in(engine, ip=CHANGCHUN_IP, time=T0 + timedelta(hours=2))
    sign_in(engine, ip=LONDON_IP, time=T0)
    latest = engine.repository.last_successful_sign_in("u-alice", T0 + timedelta(days=1))
    assert latest is not None and latest.ip == CHANGCHUN_IP
    assert engine.repository.user_profile("u-alice").first_seen == T0


def test_profile_collects_features_and_countries_of_successes_only(engine: RiskEngine) -> None:
    sign_in(engine, ip=LONDON_IP, time=T0)
    sign_in(engine, ip=CHANGCHUN_IP, time=T0 + timedelta(hours=1), password_valid=False)
    profile = engine.repository.user_profile("u-alice")
    assert profile.successful_sign_ins == 1 and profile.first_seen == T0
    assert profile.countries == {"GB"}
    assert ("asn", "20712") in profile.features and ("device", "dev-alice") in profile.features
    assert engine.repository.org_has_seen_country("GB")
    assert not engine.repository.org_has_seen_country("CN")


def test_failed_counts_use_inclusive_windows() -> None:
    repo = InMemoryHistoryRepository()
    engine_free_info = IpInfo(ip="45.9.148.7")
    for minute, name in enumerate(["a", "b", "c"]):
        ctx = make_ctx(
            ip="45.9.148.7",
            username=name,
            user_id=f"u-{name}",
            password_valid=False,
            time=T0 + timedelta(minutes=minute),
        )
        repo.record(ctx, engine_free_info, _empty_assessment(ctx.correlation_id), False)
    # A made-up name (no account) counts for nothing: anyone can type one.
    made_up = make_ctx(ip="45.9.148.7", username="nobody", user_id=None, password_valid=False)
    repo.record(made_up, engine_free_info, _empty_assessment(made_up.correlation_id), False)
    for minute in range(3):
        ctx = make_ctx(kind=SignInKind.MFA_FAILED, time=T0 + timedelta(minutes=minute))
        repo.record(ctx, engine_free_info, _empty_assessment(ctx.correlation_id), False)
    assert repo.failed_accounts_from_ip("45.9.148.7", T0) == 3
    assert repo.failed_accounts_from_ip("45.9.148.7", T0 + timedelta(minutes=1)) == 2
    assert repo.failed_accounts_from_ip("45.9.148.8", T0) == 0
    assert repo.failed_passwords("u-b", "45.9.148.7", T0) == 1
    assert repo.failed_passwords("u-b", "45.9.148.7", T0 + timedelta(minutes=2)) == 0
    assert repo.failed_mfa_count("u-alice", T0 + timedelta(minutes=2)) == 1
    assert repo.failed_mfa_count("u-alice", T0 + timedelta(minutes=3)) == 0
    assert repo.user_profile("u-alice") == UserProfile()


def _empty_assessment(correlation_id: str) -> Assessment:
    return Assessment(
        correlation_id=correlation_id,
        sign_in_risk_level=Level.NONE,
        detections=(),
        not_evaluated=(),
        ip_info=IpInfo(ip="45.9.148.7"),
        trusted_location=False,
        features=frozenset(),
        evaluated_at=T0,
    )
