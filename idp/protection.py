"""Attack protection: smart lockout per account and the failed-password throttle per IP.

Both are judged before any password hashing, so a refused guess costs a counter read, not
an argon2 verify, and both answer right and wrong passwords alike. Counts live in
`idp.counters` (the database, or Redis), shared by every worker and server process.

Smart lockout counts a user name's wrong passwords in two buckets, "familiar" (from a
device or /24 network the user has signed in from) and "unfamiliar", so an attacker
elsewhere cannot lock the user out at home. Made-up user names are counted like real
ones: whether a name exists must not show in how it locks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from risk.features import FeatureKind
from risk.netutil import subnet_of

from .config import Settings
from .counters import Counters
from .leansql import Lean
from .metrics import LOCKOUTS
from .models import Account, UserFeature
from .requestinfo import Browser, client_ip
from .risk_repository import cached_profile
from .services import services

LOCKED_OUT = 50053
CHECKED = "idp.protection.checked"
"""The WSGI environ key under which idp.refusals leaves the user name it checked and let
through, so that the sign-in view need not read the same counters again."""
FAILURE_MEMORY_SECONDS = 86400  # wrong passwords older than a day are forgotten
MAX_LOCKOUT_SECONDS = 86400


@dataclass(frozen=True)
class Refusal:
    """The sign-in is not tried: the account is locked or the IP throttled."""

    reason: str  # "locked" or "throttled"
    retry_after_seconds: int
    until: datetime

    @property
    def error_code(self) -> int:
        return LOCKED_OUT


def counters() -> Counters:
    return services().counters


def _settings() -> Settings:
    return services().settings


def _now() -> datetime:
    return services().clock.now()


def _name(username: str) -> str:
    return username.casefold()


def bucket(user: Account | None, browser: Browser, familiar: bool | None = None) -> str:
    """ "familiar" when this browser or network has signed in as the user before (read
    unless the caller read it along with the user, see `known_place`)."""
    if not _settings().lockout.familiar_separate:
        return "all"
    if user is None:
        return "unfamiliar"
    if familiar is None:
        familiar = bool(_KNOWN_PLACE.first({"user_id": user.id, **place_params(browser)}).known)
    return "familiar" if familiar else "unfamiliar"


def place_params(browser: Browser) -> dict[str, str]:
    """The binds of `known_place` for this browser."""
    return {"subnet": subnet_of(browser.ip), "device": browser.device_id or ""}


def known_place(user_id: Any) -> sa.Exists:
    """Whether the user has signed in from the browser's /24 (IPv6 /48) or device before,
    as an EXISTS for a query of the user's own (binds "subnet" and "device")."""
    return sa.exists().where(
        _FEATURES.c.user_id == user_id,
        sa.or_(
            sa.and_(
                _FEATURES.c.kind == FeatureKind.SUBNET.value,
                _FEATURES.c.value == sa.bindparam("subnet"),
            ),
            sa.and_(
                _FEATURES.c.kind == FeatureKind.DEVICE.value,
                _FEATURES.c.value == sa.bindparam("device"),
            ),
        ),
    )


# Has the user signed in from this /24 (IPv6 /48) or this device before? (Run on the
# driver's cursor; a refused guess asks along with the user, idp.refusals.)
_FEATURES = UserFeature.__table__
_KNOWN_PLACE = Lean(sa.select(known_place(sa.bindparam("user_id")).label("known")))


def _group(
    username: str, user: Account | None, browser: Browser, familiar: bool | None = None
) -> str:
    """Which count a sign-in's failures go to: its bucket and the typed name."""
    return f"{bucket(user, browser, familiar)}:{_name(username)}"


def _refusal(reason: str, until_ts: int) -> Refusal:
    now = _now()
    until = datetime.fromtimestamp(until_ts, tz=now.tzinfo)
    return Refusal(reason, max(1, math.ceil((until - now).total_seconds())), until)


BUCKETS = ("familiar", "unfamiliar", "all")


def check(
    username: str,
    user: Account | None,
    browser: Browser | None = None,
    *,
    familiar: bool | None = None,
) -> Refusal | None:
    """Whether this sign-in may be tried at all (before the password is hashed). One read
    of the counters; which bucket the sign-in is in is worked out only if one is locked
    (`familiar` when the caller read it with the user). The browser is the request's
    unless given."""
    browser = browser or Browser.of_request()
    now = int(_now().timestamp())
    ip_key = f"ip:{browser.ip}"
    locks = [f"lock:{b}:{_name(username)}" for b in BUCKETS]
    found = counters().get_many([ip_key, *locks], now)
    ip = found.get(ip_key)
    if ip is not None and ip[0] >= _settings().throttle.failed_per_ip_per_hour:
        return _refusal("throttled", ip[1])
    if any(key in found for key in locks):
        mine = found.get(f"lock:{_group(username, user, browser, familiar)}")
        if mine is not None:
            return _refusal("locked", mine[1])
    return None


def failed(username: str, user: Account | None) -> Refusal | None:
    """Count a wrong password; the refusal when this one locked the account."""
    now = int(_now().timestamp())
    store, config = counters(), _settings().lockout
    ip_failures, _ = store.incr(f"ip:{client_ip()}", 3600, now)
    if ip_failures == _settings().throttle.failed_per_ip_per_hour:
        LOCKOUTS.labels("ip").inc()
    group = _group(username, user, Browser.of_request())
    failures, _ = store.incr(f"fail:{group}", FAILURE_MEMORY_SECONDS, now)
    if failures % config.threshold:
        return None
    # Every threshold-th failure locks, each lockout twice as long as the one before.
    lockouts, _ = store.incr(f"lockouts:{group}", FAILURE_MEMORY_SECONDS, now)
    seconds = min(config.duration_seconds * 2 ** (lockouts - 1), MAX_LOCKOUT_SECONDS)
    store.put(f"lock:{group}", lockouts, now + seconds, now)
    LOCKOUTS.labels("account").inc()
    return _refusal("locked", now + seconds)


def succeeded(username: str, user: Account) -> None:
    """A right password outside any lockout: its bucket starts counting afresh."""
    browser = Browser.of_request()
    group = _group(username, user, browser, _familiar_from_profile(user, browser))
    counters().delete(f"fail:{group}", f"lockouts:{group}")


def _familiar_from_profile(user: Account, browser: Browser) -> bool | None:
    """`known_place` from the user's risk profile when the risk engine has read it in this
    request already (a right password is always assessed first); None otherwise."""
    profile = cached_profile(user.id)
    if profile is None:
        return None
    place = place_params(browser)
    return (FeatureKind.SUBNET.value, place["subnet"]) in profile.features or (
        FeatureKind.DEVICE.value,
        place["device"],
    ) in profile.features
