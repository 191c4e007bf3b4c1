"""Server-side flow state: rows keyed by an unguessable id, bound to one browser, expiring.

The browser's signed cookie carries only ids (its own random browser id, flow ids, the
session handle); everything a flow knows lives in table `auth_flows`. A save names the
version it read, so of two racing requests on one flow the second finds it changed and
starts that step over instead of overwriting what the first one did.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import session

from .errors import IdpError
from .extensions import db
from .leansql import Lean, own_connection
from .models import AuthFlowRow
from .sessions import clock_now

FLOW_MINUTES = 30
BROWSER_KEY = "bid"
# `load`'s default: the browser of the request's session.
SESSION_BROWSER = object()


class FlowConflict(IdpError):
    """Another request changed the flow since this one read it."""


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def browser_id() -> str:
    """This browser's random id (created on first use); flows are bound to its digest."""
    value = session.get(BROWSER_KEY)
    if not isinstance(value, str):
        value = secrets.token_urlsafe(24)
        session[BROWSER_KEY] = value
    return value


# Core statements built once: every step of a sign-in runs some of them.
_FLOWS = AuthFlowRow.__table__
# Expired flows are removed when a flow is created, a few at a time, so the table stays small.
_DELETE_STALE = sa.delete(_FLOWS).where(
    _FLOWS.c.id.in_(
        sa.select(_FLOWS.c.id)
        .where(_FLOWS.c.expires_at < sa.bindparam("now"))
        .limit(50)
        .scalar_subquery()
    )
)
_INSERT = sa.insert(_FLOWS)
_SAVE = (
    sa.update(_FLOWS)
    .where(_FLOWS.c.id == sa.bindparam("flow_id"), _FLOWS.c.version == sa.bindparam("old_version"))
    .values(data=sa.bindparam("new_data"), version=sa.bindparam("new_version"))
)
_DROP = sa.delete(_FLOWS).where(_FLOWS.c.id == sa.bindparam("flow_id"))


def _connection() -> sa.Connection:
    """The session's connection, in its transaction: flows are Core statements, which the
    ORM's execute would only wrap in bookkeeping."""
    return db.session.connection()


def new_id() -> str:
    return secrets.token_urlsafe(32)


def create(kind: str, data: dict[str, Any], *, minutes: int = FLOW_MINUTES) -> str:
    """Store a new flow of `kind` for this browser and return its id."""
    flow_id = new_id()
    add(flow_id, kind, data, minutes=minutes)
    db.session.commit()
    return flow_id


def add(flow_id: str, kind: str, data: dict[str, Any], *, minutes: int = FLOW_MINUTES) -> None:
    """`create` a flow of the given id (new_id) in the request's transaction, which the
    caller commits."""
    now = clock_now()
    connection = _connection()
    connection.execute(_DELETE_STALE, {"now": now})
    connection.execute(
        _INSERT,
        {
            "id": flow_id,
            "kind": kind,
            "browser": _digest(browser_id()),
            "data": data,
            "version": 1,
            "expires_at": now + timedelta(minutes=minutes),
        },
    )


# Every posted page reads its flow, refused guesses included: on the driver's cursor.
_LOAD = Lean(
    sa.select(
        _FLOWS.c.kind, _FLOWS.c.browser, _FLOWS.c.data, _FLOWS.c.version, _FLOWS.c.expires_at
    ).where(_FLOWS.c.id == sa.bindparam("id"))
)


def load(
    kind: str, flow_id: object, browser: object = SESSION_BROWSER
) -> tuple[dict[str, Any], int] | None:
    """A flow's data and version, if it exists, is of `kind`, is this browser's and is live.
    The browser is the session's unless given (the session's `BROWSER_KEY` value)."""
    if not isinstance(flow_id, str) or not 20 <= len(flow_id) <= 64:
        return None
    if db.session().in_transaction():
        row = _LOAD.first({"id": flow_id})
    else:
        # Nothing of this request is uncommitted, so a connection of its own reads the same
        # row; a page that only reads its flow then costs no BEGIN and ROLLBACK (and on
        # PostgreSQL psycopg drops every prepared statement of a connection rolled back).
        # save() checks the version it read, in or out of a transaction.
        with own_connection():
            row = _LOAD.first({"id": flow_id})
    if browser is SESSION_BROWSER:
        browser = session.get(BROWSER_KEY)
    if (
        row is None
        or row.kind != kind
        or not isinstance(browser, str)
        or not secrets.compare_digest(row.browser, _digest(browser))
        or row.expires_at <= clock_now()
    ):
        return None
    return dict(row.data), row.version


def save(flow_id: str, data: dict[str, Any], version: int) -> int:
    """Replace a flow's data if nobody saved it since `version`; return the new version."""
    result = _connection().execute(
        _SAVE,
        {"flow_id": flow_id, "old_version": version, "new_data": data, "new_version": version + 1},
    )
    db.session.commit()
    if getattr(result, "rowcount", 0) != 1:
        raise FlowConflict(f"flow {flow_id[:6]}... changed since version {version}")
    return version + 1


def drop(flow_id: str) -> bool:
    """End a flow, its id worthless from now on; True when this call was the one that ended
    it (of two racing requests, only one is)."""
    ended = end(flow_id)
    db.session.commit()
    return ended


def end(flow_id: str) -> bool:
    """`drop` in the request's transaction, which the caller commits: of two racing
    requests only one ends the flow (on PostgreSQL the second waits for the first's
    commit, then finds the row gone; SQLite lets one writer at a time)."""
    result = _connection().execute(_DROP, {"flow_id": flow_id})
    return getattr(result, "rowcount", 0) == 1
