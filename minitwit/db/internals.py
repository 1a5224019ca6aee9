"""Everything the database layer does with SQLAlchemy's internals, in one place.

The request path takes shortcuts past SQLAlchemy's execution machinery (see ``database``): a
constant statement is compiled once and its SQL and values handed straight to the driver,
PostgreSQL's reads and writes go to psycopg2's own cursor, and the dialect's commit and
rollback are skipped in autocommit. Each shortcut does by hand what SQLAlchemy would have done
(the types' bind processors, the ``before_cursor_execute`` listeners, invalidating a dead
connection, wrapping the driver's error), and reaches for attributes SQLAlchemy does not
promise to keep: ``Compiled._bind_processors``, ``Compiled.positiontup``, ``Engine.dispatch``,
the dialect's ``do_commit`` and ``do_rollback``.

``SQLALCHEMY_VERSION`` is the release this was written and checked against;
tests/test_db_internals.py fails on any other, so an upgrade re-reads this module first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import Compiled

from minitwit.db.statements import Constant

SQLALCHEMY_VERSION = "2.1.9"


class Rows(list[tuple[Any, ...]]):
    """Rows as the driver gave them, with the few ``Result`` methods callers use."""

    def all(self) -> Rows:
        return self

    def first(self) -> tuple[Any, ...] | None:
        return self[0] if self else None

    def one(self) -> tuple[Any, ...]:
        if not self:
            raise sa_exc.NoResultFound("no row where one was expected")
        if len(self) > 1:
            raise sa_exc.MultipleResultsFound("several rows where one was expected")
        return self[0]

    def scalar(self) -> Any:
        return self[0][0] if self else None

    def scalar_one(self) -> Any:
        return self.one()[0]


class OnDriver(Protocol):
    """What ``fetch_raw`` needs of a unit of work (``database.Tx``)."""

    bind: Engine
    pooled: PoolProxiedConnection
    dialect: Dialect

    @property
    def connection(self) -> Connection: ...


def compiled_for(constant: Constant, dialect: Dialect) -> Compiled:
    """``constant`` compiled for ``dialect``, once. A statement that renders per call (an
    expanding parameter) cannot be one."""
    compiled = constant.compiled.get(dialect.name)
    if compiled is None:
        statement: Any = constant.statement
        compiled = statement.compile(dialect=dialect)
        if any(bind.expanding for bind in compiled.binds.values()):
            raise TypeError(f"renders per call, so not a constant: {constant.statement}")
        constant.compiled[dialect.name] = compiled  # a race compiles twice, harmlessly
    return compiled


def driver_args(
    statement: Constant | Executable, params: Mapping[str, Any], dialect: Dialect
) -> tuple[str, Any]:
    """The SQL and the values the driver gets for ``statement`` with ``params``; a statement
    that is no constant is compiled for this call alone."""
    compiled: Any = (
        compiled_for(statement, dialect)
        if type(statement) is Constant
        else _compiled_once(statement, dialect)
    )
    values: Any = compiled.construct_params(params)
    # What SQLAlchemy's own execution does with each value on its way in (the types'
    # checks and conversions: psycopg2's booleans are checked to be booleans).
    for name, process in compiled._bind_processors.items():
        if name in values:
            values[name] = process(values[name])
    if compiled.positiontup is not None:
        values = tuple(values[name] for name in compiled.positiontup)
    return compiled.string, values


def _compiled_once(statement: Any, dialect: Dialect) -> Compiled:
    if not isinstance(statement, ClauseElement):
        raise TypeError(f"not a compilable statement: {statement!r}")
    return statement.compile(dialect=dialect)


def fetch_raw(tx: OnDriver, sql: str | bytes, values: Any) -> Rows:
    """Run ``sql`` on the driver's own cursor of ``tx``'s pooled connection."""
    connection: Any = tx.pooled
    cursor = connection.cursor()
    # Listeners of before_cursor_execute (statement counters, tracing) see these
    # statements as they see SQLAlchemy's own.
    for listener in tx.bind.dispatch.before_cursor_execute:
        sql, values = listener(tx.connection, cursor, _text(sql), values, None, False)
    try:
        cursor.execute(sql, values)
        return Rows(cursor.fetchall() if cursor.description else ())
    except tx.dialect.loaded_dbapi.Error as error:
        # What SQLAlchemy does for its own executions: a dead connection is invalidated
        # (and, with it, the pool's older ones), and the error is SQLAlchemy's.
        disconnect = tx.dialect.is_disconnect(error, connection, cursor)
        if disconnect:
            tx.connection.invalidate(error)
        raise sqlalchemy_error(error, tx.dialect, _text(sql), values, disconnect) from error
    finally:
        if not cursor.closed:
            cursor.close()


def sqlalchemy_error(
    error: Exception, dialect: Dialect, sql: str | None, values: Any, disconnect: bool
) -> sa_exc.StatementError:
    """The driver's ``error`` as SQLAlchemy would have raised it (``DBAPIError`` subclasses:
    OperationalError, IntegrityError, ...), so callers see one kind of error either way."""
    return sa_exc.DBAPIError.instance(
        sql,
        values,
        error,
        dialect.loaded_dbapi.Error,
        connection_invalidated=disconnect,
        dialect=dialect,
    )


def skip_commit_and_rollback_in_autocommit(dialect: Dialect) -> None:
    """SQLAlchemy calls the driver's commit and rollback after autocommit work too. psycopg2
    sends nothing then, but each call releases and retakes the GIL, which costs the event
    loop's thread a wait under load; so they are not made at all in autocommit."""
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection: Any) -> None:
        if not dbapi_connection.autocommit:
            commit(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        if not dbapi_connection.autocommit:
            rollback(dbapi_connection)

    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]


def _text(sql: str | bytes) -> str:
    return sql.decode() if isinstance(sql, bytes) else sql
