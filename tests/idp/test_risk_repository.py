"""One contract for sign-in history: the in-memory repository and the SQL one must agree.

Every scenario runs against `risk.repository.InMemoryHistoryRepository` and against
`idp.risk_repository.SqlHistoryRepository` on each database backend. The two learn failures
differently: the in-memory one through `record()`, the SQL one from the sign-in log, so
the harnesses below write a failure the way each side would see it in production.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from risk.context import IpInfo, SignInContext, SignInKind
from risk.engine import Assessment
from risk.features import Feature
from risk.levels import Level
from risk.novelty import Novelty, Seen, Stage
from risk.repository import HistoryRepository, InMemoryHistoryRepository, PastSignIn, UserProfile
from tests.conftest import BACKENDS, _truncate

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
SPRAYER = "45.9.148.7"
OTHER_IP = "45.9.148.8"
LONDON = IpInfo(
    ip="81.2.69.142",
    country="GB",
    city="London",
    latitude=51.5142,
    longitude=-0.0931,
    accuracy_radius_km=10.0,
    asn=20712,
)
CHANGCHUN = IpInfo(
    ip="175.16.199.10",
    country="CN",
    city="Changchun",
    latitude=43.88,
    longitude=125.3228,
    accuracy_radius_km=100.0,
    asn=4837,
)
UNLOCATED = IpInfo(ip="8.8.4.4")
CHROME: frozenset[Feature] = frozenset({("browser", "Chrome"), ("os", "Windows")})


def assessment(
    ctx: SignInContext,
    ip_info: IpInfo,
    features: frozenset[Feature],
    trusted: bool,
    observed: tuple[tuple[str, bool, Seen, int | None], ...] | None = None,
) -> Assessment:
    """An engine verdict carrying what record() stores: features, the trusted flag and,
    for a user past learning, which kinds of property were new."""
    return Assessment(
        correlation_id=ctx.correlation_id,
        sign_in_risk_level=Level.NONE,
        detections=(),
        not_evaluated=(),
        ip_info=ip_info,
        trusted_location=trusted,
        features=features,
        evaluated_at=ctx.time,
        novelty=None if observed is None else Novelty(Stage.LEARNED, observed, (), 0.0),
    )


@dataclass
class Harness:
    """A repository under test plus the way its side learns about users and failures."""

    repo: HistoryRepository
    ids: dict[str, str] = field(default_factory=dict)
    counter: int = 0

    def user(self, name: str) -> str:
        """The id of user `name`, creating the user on first use."""
        if name not in self.ids:
            self.ids[name] = self._create_user(name)
        return self.ids[name]

    def _create_user(self, name: str) -> str:
        return f"u-{name}"

    def context(
        self,
        when: datetime,
        ip: str,
        username: str,
        *,
        kind: SignInKind = SignInKind.PASSWORD,
        password_valid: bool | None = True,
    ) -> SignInContext:
        self.counter += 1
        user_id = self.ids.get(username.casefold())
        return SignInContext(
            correlation_id=f"corr-{self.counter}",
            time=when,
            ip=ip,
            user_agent="test",
            client_id="app",
            username=username,
            user_id=user_id,
            kind=kind,
            password_valid=password_valid,
        )

    def succeed(
        self,
        name: str,
        when: datetime,
        ip_info: IpInfo = LONDON,
        features: frozenset[Feature] = CHROME,
        trusted: bool = False,
        observed: tuple[tuple[str, bool, Seen, int | None], ...] | None = None,
    ) -> None:
        """A sign-in that ended in tokens."""
        self.user(name)
        ctx = self.context(when, ip_info.ip, name)
        self.repo.record(ctx, ip_info, assessment(ctx, ip_info, features, trusted, observed), True)

    def fail_password(self, username: str, when: datetime, ip: str = SPRAYER) -> None:
        """A wrong password typed for `username` (who may not exist)."""
        ctx = self.context(when, ip, username, password_valid=False)
        info = IpInfo(ip=ip, country="CN")
        self.repo.record(ctx, info, assessment(ctx, info, frozenset(), False), False)

    def fail_mfa(self, name: str, when: datetime, ip: str = LONDON.ip) -> None:
        """A wrong second-factor code after a correct password."""
        self.user(name)
        ctx = self.context(when, ip, name, kind=SignInKind.MFA_FAILED, password_valid=None)
        info = IpInfo(ip=ip)
        self.repo.record(ctx, info, assessment(ctx, info, frozenset(), False), False)


class SqlHarness(Harness):
    """SqlHistoryRepository inside an app context; failures are sign-in log rows."""

    def _create_user(self, name: str) -> str:
        from idp.extensions import db
        from idp.models import User

        user = User(username=name, password_hash="unused", password_changed_at=T0, created_at=T0)
        db.session.add(user)
        db.session.commit()
        return str(user.id)

    def _log(self, ctx: SignInContext, kind: str, error_code: int | None) -> None:
        from idp.extensions import db
        from idp.models import SignIn

        db.session.add(
            SignIn(
                created_at=ctx.time,
                correlation_id=ctx.correlation_id,
                user_id=ctx.user_id,
                username=ctx.username,
                client_id=ctx.client_id,
                ip=ctx.ip,
                user_agent="test",
                kind=kind,
                outcome="failure",
                error_code=error_code,
            )
        )
        db.session.commit()

    def succeed(self, *args: Any, **kwargs: Any) -> None:
        """As Harness.succeed, then committed, as the provider commits it with the rest of
        the sign-in (record() writes in the caller's transaction)."""
        from idp.extensions import db

        super().succeed(*args, **kwargs)
        db.session.commit()

    def fail_password(self, username: str, when: datetime, ip: str = SPRAYER) -> None:
        self._log(self.context(when, ip, username, password_valid=False), "password", 50126)

    def fail_mfa(self, name: str, when: datetime, ip: str = LONDON.ip) -> None:
        self.user(name)
        self._log(
            self.context(when, ip, name, kind=SignInKind.MFA_FAILED, password_valid=None),
            "mfa",
            None,
        )


@pytest.fixture(params=["memory", *BACKENDS])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, pg_schema_url: str | None
) -> str:
    """tests/conftest.py's backends plus "memory", which needs no database."""
    if request.param == "memory":
        return ""
    if request.param == "sqlite":
        path = tmp_path / "idp.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    assert pg_schema_url is not None
    _truncate(pg_schema_url)
    return pg_schema_url


@pytest.fixture
def h(request: pytest.FixtureRequest, database_url: str) -> Any:
    if not database_url:
        yield Harness(InMemoryHistoryRepository())
        return
    from idp.risk_repository import SqlHistoryRepository

    request.getfixturevalue("db")  # enters the app context for the whole test
    yield SqlHarness(SqlHistoryRepository())


def past(when: datetime, info: IpInfo, trusted: bool = False) -> PastSignIn:
    return PastSignIn.from_sign_in(when, info, trusted)


# last_successful_sign_in


def test_no_sign_in_for_an_unknown_or_never_successful_user(h: Harness) -> None:
    assert h.repo.last_successful_sign_in("no-such-user", T0) is None
    h.user("alice")
    h.fail_password("alice", T0)
    h.fail_mfa("alice", T0)
    assert h.repo.last_successful_sign_in(h.user("alice"), T0 + timedelta(days=1)) is None


def test_last_sign_in_comes_back_with_everything_travel_needs(h: Harness) -> None:
    h.succeed("alice", T0, LONDON, trusted=True)
    found = h.repo.last_successful_sign_in(h.user("alice"), T0 + timedelta(hours=1))
    assert found == past(T0, LONDON, trusted=True)
    assert found is not None and found.time.utcoffset() == timedelta(0)


def test_last_sign_in_without_a_location_keeps_the_unknowns(h: Harness) -> None:
    h.succeed("alice", T0, UNLOCATED)
    found = h.repo.last_successful_sign_in(h.user("alice"), T0 + timedelta(hours=1))
    assert found == past(T0, UNLOCATED)
    assert found is not None and found.place == UNLOCATED.ip


@pytest.mark.parametrize(
    ("before", "found"),
    [(T0 - MICROSECOND, False), (T0, False), (T0 + MICROSECOND, True)],
    ids=["earlier", "same-instant", "one-microsecond-later"],
)
def test_last_sign_in_is_strictly_before(h: Harness, before: datetime, found: bool) -> None:
    h.succeed("alice", T0)
    result = h.repo.last_successful_sign_in(h.user("alice"), before)
    assert (result == past(T0, LONDON)) if found else result is None


def test_the_latest_sign_in_wins(h: Harness) -> None:
    h.succeed("alice", T0, LONDON)
    h.succeed("alice", T0 + timedelta(hours=2), CHANGCHUN)
    later = T0 + timedelta(days=1)
    assert h.repo.last_successful_sign_in(h.user("alice"), later) == past(
        T0 + timedelta(hours=2), CHANGCHUN
    )


def test_a_sign_in_recorded_late_does_not_replace_a_newer_one(h: Harness) -> None:
    h.succeed("alice", T0 + timedelta(hours=2), CHANGCHUN)
    h.succeed("alice", T0, LONDON)
    alice = h.user("alice")
    assert h.repo.last_successful_sign_in(alice, T0 + timedelta(days=1)) == past(
        T0 + timedelta(hours=2), CHANGCHUN
    )
    profile = h.repo.user_profile(alice)
    assert (profile.first_seen, profile.successful_sign_ins) == (T0, 2)


def test_never_a_sign_in_at_or_after_before(h: Harness) -> None:
    # The SQL table keeps only the latest sign-in, so between two sign-ins it has nothing
    # to offer (None); the engine only ever asks about "now", which is after both.
    h.succeed("alice", T0, LONDON)
    h.succeed("alice", T0 + timedelta(hours=2), CHANGCHUN)
    between = T0 + timedelta(hours=1)
    result = h.repo.last_successful_sign_in(h.user("alice"), between)
    assert result is None or result == past(T0, LONDON)


def test_users_do_not_share_history(h: Harness) -> None:
    h.succeed("alice", T0, LONDON, CHROME | {("country", "GB")})
    h.succeed("bob", T0 + timedelta(hours=1), CHANGCHUN, CHROME | {("country", "CN")})
    later = T0 + timedelta(days=1)
    assert h.repo.last_successful_sign_in(h.user("alice"), later) == past(T0, LONDON)
    assert h.repo.user_profile(h.user("alice")).countries == {"GB"}


# user_profile


def test_profile_of_an_unknown_user_is_empty(h: Harness) -> None:
    assert h.repo.user_profile("no-such-user") == UserProfile()
    h.user("alice")
    h.fail_password("alice", T0)
    assert h.repo.user_profile(h.user("alice")) == UserProfile()


def test_profile_accumulates_features_without_duplicates(h: Harness) -> None:
    london = CHROME | {("country", "GB"), ("city", "London, GB"), ("asn", "20712")}
    changchun = CHROME | {("country", "CN"), ("city", "Changchun, CN"), ("device", "d-1")}
    h.succeed("alice", T0, LONDON, london)
    h.succeed("alice", T0 + timedelta(hours=1), LONDON, london)
    h.succeed("alice", T0 + timedelta(hours=2), CHANGCHUN, changchun)
    profile = h.repo.user_profile(h.user("alice"))
    last_seen = {f: T0 + timedelta(hours=1) for f in london}
    last_seen |= {f: T0 + timedelta(hours=2) for f in changchun}
    first_used = {f: T0 + timedelta(hours=2) for f in changchun} | dict.fromkeys(london, T0)
    assert profile == UserProfile(
        first_seen=T0,
        successful_sign_ins=3,
        features=london | changchun,
        last_seen=last_seen,
        first_used=first_used,
    )
    assert profile.countries == {"GB", "CN"}


def test_last_use_of_a_property_never_moves_back(h: Harness) -> None:
    """Workers finish sign-ins out of order: an older one must not make a property stale."""
    h.succeed("alice", T0 + timedelta(days=30), LONDON, CHROME)
    h.succeed("alice", T0, LONDON, CHROME)
    profile = h.repo.user_profile(h.user("alice"))
    assert set(profile.last_seen.values()) == {T0 + timedelta(days=30)}


def test_novelty_counts_add_up_what_sign_ins_observed(h: Harness) -> None:
    new, rare, old = Seen.NEW, Seen.RARE, Seen.FAMILIAR
    assert h.repo.novelty_counts().counters == {}
    # (kind, parent new, seen, the bin of the user's habit for the kind)
    h.succeed("alice", T0, observed=(("asn", False, rare, -2), ("subnet", True, new, None)))
    h.succeed("bob", T0, observed=(("asn", False, old, -2), ("subnet", False, new, 0)))
    h.succeed("carol", T0, observed=(("asn", False, old, 1), ("subnet", False, old, 0)))
    # Neither a failure nor a sign-in without novelty weighed is counted.
    h.succeed("dave", T0)
    ctx = h.context(T0, LONDON.ip, "alice")
    h.repo.record(
        ctx,
        LONDON,
        assessment(ctx, LONDON, CHROME, False, observed=(("asn", False, new, 0),)),
        False,
    )
    counts = h.repo.novelty_counts()
    assert counts.counters == {
        "learned.asn.f~-2": 2,
        "learned.asn.f~-2.rare": 1,
        "learned.asn.f~1": 1,
        "learned.subnet.n": 1,
        "learned.subnet.n.new": 1,
        "learned.subnet.f~0": 2,
        "learned.subnet.f~0.new": 1,
        "learned.bits.0": 3,
    }
    # A cell is the sum of its habit bins, each of which is read on its own too.
    assert counts.cell(Stage.LEARNED, "asn", False) == (3, 0, 1)
    assert counts.cell(Stage.LEARNED, "asn", False, -2) == (2, 0, 1)
    assert counts.cell(Stage.LEARNED, "subnet", False) == (2, 1, 0)


def test_users_with_a_feature_are_counted_once_each(h: Harness) -> None:
    office = ("asn", "64500")
    assert h.repo.users_with_feature(office) == 0
    h.succeed("alice", T0, features=CHROME | {office})
    h.succeed("alice", T0 + timedelta(hours=1), features=CHROME | {office})
    h.succeed("bob", T0, features=CHROME | {office})
    h.fail_password("carol", T0)
    assert h.repo.users_with_feature(office) == 2
    assert h.repo.users_with_feature(("browser", "Chrome")) == 2
    # Counting stops where the answer no longer matters: common is common.
    assert h.repo.users_with_feature(office, at_most=1) == 1


def test_users_who_kept_a_feature_are_counted_apart(h: Harness) -> None:
    """Kept: used again at least `kept_days` after the first time. An attacker's hour in
    each account they got into does not make their network one people here keep."""
    exit_node = ("asn", "64511")
    h.succeed("alice", T0, features=CHROME | {exit_node})
    h.succeed("alice", T0 + timedelta(hours=23), features=CHROME | {exit_node})
    h.succeed("bob", T0, features=CHROME | {exit_node})
    assert h.repo.users_with_feature(exit_node) == 2
    assert h.repo.users_with_feature(exit_node, kept_days=0.5) == 1
    assert h.repo.users_with_feature(exit_node, kept_days=1) == 0
    h.succeed("alice", T0 + timedelta(days=1), features=CHROME | {exit_node})
    assert h.repo.users_with_feature(exit_node, kept_days=1) == 1
    assert h.repo.users_with_feature(exit_node, kept_days=1, at_most=0) == 0
    assert h.repo.users_with_feature(exit_node, kept_days=1.5) == 0
    # A sign-in finished out of order (an older one written last) shortens nothing.
    h.succeed("bob", T0 + timedelta(days=3), features=CHROME | {exit_node})
    h.succeed("bob", T0 + timedelta(days=2), features=CHROME | {exit_node})
    assert h.repo.users_with_feature(exit_node, kept_days=3) == 1
    assert h.repo.users_with_feature(("asn", "64512"), kept_days=1) == 0


def test_failures_teach_the_profile_nothing(h: Harness) -> None:
    h.succeed("alice", T0, LONDON, CHROME | {("country", "GB")})
    h.fail_password("alice", T0 + timedelta(minutes=1))
    h.fail_mfa("alice", T0 + timedelta(minutes=2))
    profile = h.repo.user_profile(h.user("alice"))
    assert (profile.successful_sign_ins, profile.countries) == (1, frozenset({"GB"}))


# org_has_seen_country


def test_org_learns_a_country_from_any_users_success(h: Harness) -> None:
    assert not h.repo.org_has_seen_country("GB")
    h.succeed("alice", T0, LONDON)
    h.succeed("bob", T0, UNLOCATED)
    h.fail_password("alice", T0, ip=CHANGCHUN.ip)
    assert h.repo.org_has_seen_country("GB")
    assert not h.repo.org_has_seen_country("CN")
    h.succeed("bob", T0 + timedelta(hours=1), CHANGCHUN)
    assert h.repo.org_has_seen_country("CN")


# failed_accounts_from_ip


def _spray(h: Harness) -> None:
    for name in ("alice", "bob", "carol", "dave"):
        h.user(name)
    for minute, name in enumerate(["alice", "ALICE", "Bob", "carol"]):
        h.fail_password(name, T0 + timedelta(minutes=minute))
    # Made-up names count for nothing: anyone can type them from a shared address.
    for name in ("mallory", "trent", "victor"):
        h.fail_password(name, T0)
    h.fail_password("dave", T0, ip=OTHER_IP)
    h.fail_mfa("erin", T0 + timedelta(minutes=1), ip=SPRAYER)
    h.succeed("frank", T0 + timedelta(minutes=1), IpInfo(ip=SPRAYER))


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        (T0 - timedelta(hours=1), 3),
        (T0, 3),
        (T0 + timedelta(minutes=1), 3),
        (T0 + timedelta(minutes=1) + MICROSECOND, 2),
        (T0 + timedelta(minutes=3), 1),
        (T0 + timedelta(minutes=3) + MICROSECOND, 0),
    ],
    ids=["all", "at-first", "at-ALICE", "after-ALICE", "at-carol", "after-carol"],
)
def test_failed_accounts_counts_distinct_names_at_or_after_since(
    h: Harness, since: datetime, expected: int
) -> None:
    _spray(h)
    assert h.repo.failed_accounts_from_ip(SPRAYER, since) == expected


def test_failed_accounts_are_per_ip(h: Harness) -> None:
    _spray(h)
    assert h.repo.failed_accounts_from_ip(OTHER_IP, T0) == 1
    assert h.repo.failed_accounts_from_ip(LONDON.ip, T0) == 0


def test_failed_passwords_are_per_account_and_ip(h: Harness) -> None:
    _spray(h)
    assert h.repo.failed_passwords(h.user("alice"), SPRAYER, T0) == 2
    assert h.repo.failed_passwords(h.user("alice"), SPRAYER, T0 + timedelta(minutes=1)) == 1
    assert h.repo.failed_passwords(h.user("alice"), OTHER_IP, T0) == 0
    assert h.repo.failed_passwords(h.user("dave"), OTHER_IP, T0) == 1


# failed_mfa_count


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        (T0 - MICROSECOND, 3),
        (T0, 3),
        (T0 + timedelta(minutes=2), 1),
        (T0 + timedelta(minutes=2) + MICROSECOND, 0),
    ],
    ids=["before-first", "at-first", "at-last", "after-last"],
)
def test_failed_mfa_counts_codes_at_or_after_since(
    h: Harness, since: datetime, expected: int
) -> None:
    for minute in range(3):
        h.fail_mfa("alice", T0 + timedelta(minutes=minute))
    h.fail_mfa("bob", T0)
    h.fail_password("alice", T0 + timedelta(minutes=1))
    h.succeed("alice", T0 + timedelta(minutes=2))
    assert h.repo.failed_mfa_count(h.user("alice"), since) == expected


def test_failed_mfa_count_of_an_unknown_user_is_zero(h: Harness) -> None:
    assert h.repo.failed_mfa_count("no-such-user", T0) == 0


# record


def test_record_of_a_success_updates_every_read(h: Harness) -> None:
    alice = h.user("alice")
    features = CHROME | {("country", "GB"), ("subnet", "81.2.69.0/24")}
    ctx = h.context(T0, LONDON.ip, "alice")
    h.repo.record(ctx, LONDON, assessment(ctx, LONDON, features, True), True)
    assert h.repo.last_successful_sign_in(alice, T0 + MICROSECOND) == past(T0, LONDON, True)
    assert h.repo.user_profile(alice) == UserProfile(
        T0, 1, features, dict.fromkeys(features, T0), dict.fromkeys(features, T0)
    )
    assert h.repo.org_has_seen_country("GB")
    assert h.repo.failed_accounts_from_ip(LONDON.ip, T0) == 0
    assert h.repo.failed_mfa_count(alice, T0) == 0


def test_record_of_a_blocked_or_anonymous_sign_in_stores_no_history(h: Harness) -> None:
    alice = h.user("alice")
    blocked = h.context(T0, LONDON.ip, "alice")
    h.repo.record(blocked, LONDON, assessment(blocked, LONDON, CHROME, False), False)
    nobody = h.context(T0, CHANGCHUN.ip, "nobody")
    assert nobody.user_id is None
    h.repo.record(nobody, CHANGCHUN, assessment(nobody, CHANGCHUN, CHROME, False), True)
    assert h.repo.last_successful_sign_in(alice, T0 + timedelta(days=1)) is None
    assert h.repo.user_profile(alice) == UserProfile()
    assert not h.repo.org_has_seen_country("GB")
    assert not h.repo.org_has_seen_country("CN")


# concurrency (SQL only: the in-memory repository is per process and not shared)


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_concurrent_records_for_one_user_lose_no_count(app: Any) -> None:
    from idp.extensions import db
    from idp.models import UserFeature, UserHistory
    from idp.risk_repository import SqlHistoryRepository

    per_thread = 20
    with app.app_context():
        alice = SqlHarness(SqlHistoryRepository()).user("alice")
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def sign_ins(offset: int) -> None:
        try:
            with app.app_context():
                harness = SqlHarness(SqlHistoryRepository(), ids={"alice": alice})
                start.wait(timeout=30)
                for index in range(per_thread):
                    when = T0 + timedelta(seconds=2 * index + offset)
                    shared_and_own = CHROME | {("device", f"d-{index % 3}-{offset}")}
                    harness.succeed("alice", when, LONDON, shared_and_own)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=sign_ins, args=(offset,)) for offset in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    with app.app_context():
        row = db.session.get(UserHistory, alice)
        assert row is not None
        assert row.successful_sign_ins == 2 * per_thread
        assert (row.first_seen, row.last_at) == (T0, T0 + timedelta(seconds=2 * per_thread - 1))
        features = db.session.scalar(
            sa.select(sa.func.count()).select_from(UserFeature).where(UserFeature.user_id == alice)
        )
        assert features == len(CHROME) + 6


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_concurrent_sign_ins_of_many_users_lose_no_novelty_count(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The population counters are shared by every user: workers finishing sign-ins at once
    all add to the same rows, and none of their additions may be lost."""
    from idp import risk_repository

    users, per_thread = 4, 15
    observed = (("asn", False, Seen.NEW, -4), ("subnet", True, Seen.NEW, None))
    with app.app_context():
        setup = SqlHarness(risk_repository.SqlHistoryRepository())
        for index in range(users):
            setup.user(f"user{index}")
    start = threading.Barrier(users)
    errors: list[BaseException] = []

    def sign_ins(index: int) -> None:
        try:
            with app.app_context():
                harness = SqlHarness(risk_repository.SqlHistoryRepository(), ids=setup.ids)
                start.wait(timeout=30)
                for number in range(per_thread):
                    when = T0 + timedelta(seconds=users * number + index)
                    harness.succeed(f"user{index}", when, observed=observed)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=sign_ins, args=(index,)) for index in range(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    monkeypatch.setattr(risk_repository, "NOVELTY_COUNTS_SECONDS", -1.0)
    with app.app_context():
        counters = risk_repository.SqlHistoryRepository().novelty_counts().counters
    total = users * per_thread
    assert counters == {
        "learned.asn.f~-4": total,
        "learned.asn.f~-4.new": total,
        "learned.subnet.n": total,
        "learned.subnet.n.new": total,
        "learned.bits.0": total,
    }


@pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
def test_each_process_sees_the_others_novelty_counts_once_its_copy_expires(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from idp import risk_repository

    with app.app_context():
        first = SqlHarness(risk_repository.SqlHistoryRepository())
        second = SqlHarness(risk_repository.SqlHistoryRepository(), ids=first.ids)
        assert second.repo.novelty_counts().counters == {}
        first.succeed("alice", T0, observed=(("asn", False, Seen.NEW, -4),))
        # Its own sign-ins at once, the other worker's only after the cache time.
        assert first.repo.novelty_counts().counters["learned.asn.f~-4.new"] == 1
        assert second.repo.novelty_counts().counters == {}
        monkeypatch.setattr(risk_repository, "NOVELTY_COUNTS_SECONDS", -1.0)
        assert second.repo.novelty_counts().counters["learned.asn.f~-4.new"] == 1


def test_a_profile_keeps_the_most_recently_seen_values_of_each_kind(h: Harness) -> None:
    """A client that never keeps the device cookie brings a new device with every sign-in:
    the profile keeps the latest PROFILE_VALUES_PER_KIND of them, so reading it costs no
    more with every sign-in, and a value dropped is new again."""
    from risk.repository import PROFILE_VALUES_PER_KIND

    extra = 5
    for n in range(PROFILE_VALUES_PER_KIND + extra):
        features = CHROME | {("device", f"cookie-{n:03d}")}
        h.succeed("alice", T0 + timedelta(minutes=n), features=features)
    profile = h.repo.user_profile(h.user("alice"))
    devices = sorted(value for kind, value in profile.features if kind == "device")
    assert devices == [f"cookie-{n:03d}" for n in range(extra, PROFILE_VALUES_PER_KIND + extra)]
    assert CHROME <= profile.features  # other kinds keep theirs
    assert h.repo.users_with_feature(("device", "cookie-000")) == 0
    assert h.repo.users_with_feature(("device", f"cookie-{extra:03d}")) == 1
    # Seen again, the oldest kept value is the latest: the next one dropped is another.
    later = T0 + timedelta(days=1)
    h.succeed("alice", later, features=CHROME | {("device", f"cookie-{extra:03d}")})
    h.succeed("alice", later + MICROSECOND, features=CHROME | {("device", "cookie-new")})
    profile = h.repo.user_profile(h.user("alice"))
    devices = {value for kind, value in profile.features if kind == "device"}
    assert len(devices) == PROFILE_VALUES_PER_KIND
    assert f"cookie-{extra:03d}" in devices and "cookie-new" in devices
    assert f"cookie-{extra + 1:03d}" not in devices


# What the detectors read back


def test_travel_back_to_a_place_the_repository_remembers_is_not_flagged(h: Harness) -> None:
    """unlikelyTravel's familiar-place skip reads the profile the repository keeps: London,
    then Changchun two days later, then London an hour after that is not travel; a new
    network in London an hour after Changchun is."""
    from risk.engine import RiskEngine
    from risk.feeds import Feeds
    from risk.settings import RiskSettings

    engine = RiskEngine(RiskSettings(), Feeds(), h.repo)

    def sign_in(when: datetime, info: IpInfo) -> Assessment:
        ctx = replace(h.context(when, info.ip, "alice"), ip_info=info)
        verdict = engine.evaluate(ctx)
        h.repo.record(ctx, info, verdict, True)
        if isinstance(h, SqlHarness):
            from idp.extensions import db

            db.session.commit()  # as the provider commits it with the rest of the sign-in
        return verdict

    h.user("alice")
    sign_in(T0, LONDON)
    sign_in(T0 + timedelta(days=2), CHANGCHUN)
    back = sign_in(T0 + timedelta(days=2, hours=1), LONDON)
    assert "unlikelyTravel" not in back.risk_event_types
    reasons = {n.detector: n.reason for n in back.not_evaluated}
    assert reasons["unlikelyTravel"].endswith(
        "to a network and city this user already signs in from"
    )
    sign_in(T0 + timedelta(days=4), CHANGCHUN)
    stranger = replace(LONDON, ip="81.2.69.7", asn=64999)
    assert "unlikelyTravel" in sign_in(T0 + timedelta(days=4, hours=1), stranger).risk_event_types
