"""Core statements run on the driver's cursor: the few every posted password makes.

SQLAlchemy's execution of a cached Core statement costs tens of microseconds of Python on
top of the driver's few (the ORM session's bookkeeping, an execution context, a result
object), and a refused guess (idp.refusals) is mostly such reads. A `Lean` statement is
compiled once per dialect by SQLAlchemy's compiler, its parameters and columns converted by
its column types' own processors, and run on the DBAPI cursor of the session's connection,
inside the session's transaction, or inside `own_connection()`, a connection of their own
that skips the session altogether. A connection found dead is invalidated as SQLAlchemy
would, so the pool replaces it; the error is raised as the driver's.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import make_transient_to_detached

from .extensions import db

Processor = Callable[[Any], Any] | None

# The connection of `own_connection`, while one runs.
_OWN: ContextVar[sa.Connection | None] = ContextVar("idp_lean_connection", default=None)


@contextmanager
def own_connection() -> Iterator[None]:
    """Run the Lean statements inside on a connection of their own, not the session's.

    What they write is committed when the block ends at the latest. On PostgreSQL each
    statement commits as it runs (autocommit): a transaction would cost a BEGIN and a
    COMMIT, two round trips of the few a refused guess makes. SQLite has no round trips
    to save and its autocommit mode costs more, so there the block is one transaction,
    rolled back if the block raises. Either way, write last."""
    engine = db.engine
    if engine.dialect.name == "sqlite":
        # begin(), not connect(): the driver's cursor bypasses SQLAlchemy's autobegin, and
        # a connection with no transaction begun would be rolled back when returned.
        with engine.begin() as connection, _lent(connection):
            yield
        return
    with engine.connect() as connection:
        # The driver's own switch, not SQLAlchemy's isolation_level option: only Lean
        # statements run here, on the driver's cursor, and SQLAlchemy's option costs a
        # third of the block's CPU (setting it, and resetting it at check-in).
        driver: Any = connection.connection.driver_connection
        driver.autocommit = True
        try:
            with _lent(connection):
                yield
        finally:
            try:
                driver.autocommit = False
            except Exception:  # noqa: BLE001 - a dead connection: the pool must not keep it
                connection.invalidate()


@contextmanager
def _lent(connection: sa.Connection) -> Iterator[None]:
    """Lean statements run on `connection` inside the block."""
    token = _OWN.set(connection)
    try:
        yield
    finally:
        _OWN.reset(token)


def commit() -> None:
    """Commit what the Lean statements wrote: the session's transaction, or, inside
    `own_connection`, nothing yet (see there)."""
    if _OWN.get() is None:
        db.session.commit()


def columns_of(model: type) -> list[tuple[str, Any]]:
    """(attribute, column) of every column an ORM class maps, for a Lean SELECT of them all
    and `detached`."""
    mapper: sa.orm.Mapper[Any] = sa.inspect(model)
    return [(prop.key, prop.columns[0]) for prop in mapper.column_attrs]


def detached(model: type, columns: Sequence[tuple[str, Any]], values: Sequence[Any]) -> Any:
    """An instance of `model` as if the ORM had loaded it from `values` (in `columns`'s
    order, see columns_of), detached from any session: to read, never to change (a change
    is saved nowhere), and its relationships cannot load."""
    item = model(**{key: value for (key, _), value in zip(columns, values, strict=True)})
    make_transient_to_detached(item)
    return item


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # bind names in the SQL's order (positional paramstyles)
    positional: bool
    defaults: Mapping[str, Any]  # the statement's own values (constants, LIMIT)
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]  # only the binds with a processor
    columns: tuple[Processor, ...]
    row: Any

    def parameters(self, params: Mapping[str, Any]) -> Any:
        values = {**self.defaults, **params}
        for name, process in self.binds:
            values[name] = process(values[name])
        return tuple(values[name] for name in self.names) if self.positional else values

    def convert(self, raw: tuple[Any, ...]) -> Any:
        return self.row._make(
            value if process is None else process(value)
            for process, value in zip(self.columns, raw, strict=True)
        )


class Lean:
    """A SELECT, or an INSERT of every column named in `column_keys`, run on the driver's
    cursor (see the module's docstring)."""

    def __init__(
        self, statement: sa.Select[Any] | sa.Insert, column_keys: Sequence[str] = ()
    ) -> None:
        self.statement = statement
        self.column_keys = list(column_keys)
        self._by_dialect: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect, column_keys=self.column_keys or None)
        if "POSTCOMPILE" in compiled.string or "RETURNING" in compiled.string:
            raise TypeError("Lean statements take no expanding parameters and no RETURNING")
        names = compiled.bind_names
        columns = (
            list(self.statement.selected_columns) if isinstance(self.statement, sa.Select) else []
        )
        found = _Compiled(
            sql=compiled.string,
            names=tuple(compiled.positiontup or ()),
            positional=bool(compiled.positional),
            defaults={name: bind.value for bind, name in names.items() if not bind.required},
            binds=tuple(
                (name, process)
                for bind, name in names.items()
                if (process := bind.type.dialect_impl(dialect).bind_processor(dialect))
            ),
            columns=tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in columns
            ),
            row=namedtuple("Row", [str(column.key) for column in columns], rename=True),
        )
        self._by_dialect[dialect.name] = found
        return found

    def _run(self, params: Mapping[str, Any], fetch: bool) -> list[Any]:
        connection = _OWN.get() or db.session.connection()
        dialect = connection.dialect
        compiled = self._by_dialect.get(dialect.name) or self._compile(dialect)
        driver = connection.connection
        cursor = None
        try:
            cursor = driver.cursor()
            cursor.execute(compiled.sql, compiled.parameters(params))
            found = cursor.fetchall() if fetch else []
            cursor.close()
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, driver, cursor):
                connection.invalidate(exc)
            raise
        return [compiled.convert(raw) for raw in found]

    def rows(self, params: Mapping[str, Any]) -> list[Any]:
        """The rows (named tuples, by column key), in the session's transaction."""
        return self._run(params, fetch=True)

    def first(self, params: Mapping[str, Any]) -> Any:
        found = self.rows(params)
        return found[0] if found else None

    def execute(self, params: Mapping[str, Any]) -> None:
        """Run the INSERT in the session's transaction (the caller commits)."""
        self._run(params, fetch=False)
