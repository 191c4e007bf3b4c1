"""Counters with an expiry, shared by every worker and server process.

Attack protection counts failures per account, per IP and per code; the counts must hold
across workers, processes and hosts. They live in the database (table attack_counters,
one atomic upsert per increment) unless `redis_url` is set, then in Redis (one Lua call).
Expiry is judged by the app's clock, so tests move time instead of sleeping.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from .extensions import db
from .leansql import Lean
from .models import AttackCounter

KEY_LIMIT = 200


class Counters(Protocol):
    """Named counts in fixed windows: `incr` starts a window at the first count."""

    def incr(self, key: str, window_seconds: int, now: int) -> tuple[int, int]:
        """Add one; return the count and the window's end (epoch seconds)."""
        ...

    def get(self, key: str, now: int) -> tuple[int, int] | None:
        """The count and the window's end, or None when absent or expired."""
        ...

    def get_many(self, keys: list[str], now: int) -> dict[str, tuple[int, int]]:
        """`get` for several keys in one round trip; absent and expired ones left out."""
        ...

    def put(self, key: str, value: int, expires_at: int, now: int) -> None:
        """Set a count until `expires_at`."""
        ...

    def delete(self, *keys: str) -> None:
        """Forget counts (in the database, with the request's transaction, which the caller
        commits)."""
        ...


def _key(key: str) -> str:
    # Typed user names are part of some keys; bound their length, never their meaning.
    if len(key) <= KEY_LIMIT:
        return key
    # A prefix, "#" and the 64-digit digest: exactly KEY_LIMIT, the column's length.
    return key[: KEY_LIMIT - 65] + "#" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


class _OneFromMany:
    """`get` is `get_many` of one key, so each store judges expiry in one place."""

    def get_many(self, keys: list[str], now: int) -> dict[str, tuple[int, int]]:
        raise NotImplementedError

    def get(self, key: str, now: int) -> tuple[int, int] | None:
        return self.get_many([key], now).get(key)


_TABLE = AttackCounter.__table__


@lru_cache(maxsize=8)
def _get_many(size: int) -> Lean:
    """The read of `size` keys, one bound parameter each (an expanding IN is rendered again
    on every execution), on the driver's cursor: it runs for every posted password."""
    return Lean(
        sa.select(_TABLE.c.key, _TABLE.c.count, _TABLE.c.expires_at).where(
            _TABLE.c.key.in_([sa.bindparam(f"k{i}") for i in range(size)]),
            _TABLE.c.expires_at > sa.bindparam("now"),
        )
    )


# Built once: a success forgets its counts on every sign-in.
_DELETE = sa.delete(_TABLE).where(_TABLE.c.key.in_(sa.bindparam("keys", expanding=True)))


def _upsert(key: str, count: int, expires_at: int) -> Any:
    """INSERT ... ON CONFLICT (key) in the session's dialect (SQLite or PostgreSQL)."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(_TABLE).values(key=_key(key), count=count, expires_at=expires_at)


class SqlCounters(_OneFromMany):
    """Counters in the database: one upsert per increment, atomic on SQLite and PostgreSQL."""

    def incr(self, key: str, window_seconds: int, now: int) -> tuple[int, int]:
        expired = _TABLE.c.expires_at <= now
        stmt = (
            _upsert(key, 1, now + window_seconds)
            .on_conflict_do_update(
                index_elements=[_TABLE.c.key],
                set_={
                    "count": sa.case((expired, 1), else_=_TABLE.c.count + 1),
                    "expires_at": sa.case(
                        (expired, now + window_seconds), else_=_TABLE.c.expires_at
                    ),
                },
            )
            .returning(_TABLE.c.count, _TABLE.c.expires_at)
        )
        row = db.session.execute(stmt).one()
        db.session.commit()
        return int(row[0]), int(row[1])

    def get_many(self, keys: list[str], now: int) -> dict[str, tuple[int, int]]:
        names = {_key(k): k for k in keys}
        if not names:
            return {}
        params: dict[str, Any] = {f"k{i}": key for i, key in enumerate(names)}
        params["now"] = now
        rows = _get_many(len(names)).rows(params)
        return {names[key]: (int(count), int(expires_at)) for key, count, expires_at in rows}

    def put(self, key: str, value: int, expires_at: int, now: int) -> None:
        db.session.execute(
            _upsert(key, value, expires_at).on_conflict_do_update(
                index_elements=[_TABLE.c.key], set_={"count": value, "expires_at": expires_at}
            )
        )
        # Expired rows are removed here, a few at a time.
        stale = sa.select(_TABLE.c.key).where(_TABLE.c.expires_at <= now).limit(50)
        db.session.execute(sa.delete(_TABLE).where(_TABLE.c.key.in_(stale.scalar_subquery())))
        db.session.commit()

    def delete(self, *keys: str) -> None:
        db.session.connection().execute(_DELETE, {"keys": [_key(key) for key in keys]})


# KEYS[1]; ARGV: now, window. A window that ended starts over at one.
_INCR = """
local v = redis.call('HMGET', KEYS[1], 'c', 'e')
local now = tonumber(ARGV[1])
if (not v[1]) or tonumber(v[2]) <= now then
  local e = now + tonumber(ARGV[2])
  redis.call('HSET', KEYS[1], 'c', 1, 'e', e)
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]) + 86400)
  return {1, e}
end
return {redis.call('HINCRBY', KEYS[1], 'c', 1), tonumber(v[2])}
"""


class RedisCounters(_OneFromMany):
    """Counters in Redis; windows end by the app's clock, Redis only collects old keys."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.script = self.client.register_script(_INCR)

    @staticmethod
    def _name(key: str) -> str:
        return "idp:counter:" + _key(key)

    def incr(self, key: str, window_seconds: int, now: int) -> tuple[int, int]:
        count, expires_at = self.script(keys=[self._name(key)], args=[now, window_seconds])
        return int(count), int(expires_at)

    def get_many(self, keys: list[str], now: int) -> dict[str, tuple[int, int]]:
        pipe = self.client.pipeline()
        for key in keys:
            pipe.hmget(self._name(key), "c", "e")
        found = {}
        for key, (count, expires_at) in zip(keys, pipe.execute(), strict=True):
            if count is not None and expires_at is not None and int(expires_at) > now:
                found[key] = (int(count), int(expires_at))
        return found

    def put(self, key: str, value: int, expires_at: int, now: int) -> None:
        name = self._name(key)
        pipe = self.client.pipeline()
        pipe.hset(name, mapping={"c": value, "e": expires_at})
        pipe.expire(name, max(1, expires_at - now) + 86400)
        pipe.execute()

    def delete(self, *keys: str) -> None:
        if keys:
            self.client.delete(*(self._name(key) for key in keys))


def make_counters(redis_url: str) -> Counters:
    """The configured counter store."""
    return RedisCounters(redis_url) if redis_url else SqlCounters()
