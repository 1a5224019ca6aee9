"""Engine and sessions.

All database work is synchronous (psycopg2 or sqlite3) and runs in worker threads, never on the
event loop. The pool is sized to the number of threads allowed to do database work at once
(``Database.limiter``), so a thread that holds a limiter token always gets a connection
without waiting and no connection is opened per request.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session

from minitwit.settings import Settings

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 5000
WRITE_OPTION = "minitwit_write"
UNAVAILABLE = "The database is unavailable; try again shortly"
SQLITE_BUSY, SQLITE_LOCKED = 5, 6  # primary result codes; extended ones keep them in the low byte
PG_PROGRAM_LIMIT_EXCEEDED = "54"  # SQLSTATE class: statement too complex, too many columns, ...


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` is the database being out of reach or giving up on the transaction
    (down, restarting, connection cut, deadlocked, locked, no pooled connection in time):
    a condition worth retrying, not a bug. Anything else stays an internal error.
    """
    if isinstance(error, sa_exc.TimeoutError):
        return True
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if isinstance(error.orig, sqlite3.Error):
        # sqlite3 says OperationalError for missing tables and bad SQL too: only a lock counts
        code = getattr(error.orig, "sqlite_errorcode", None)
        return isinstance(code, int) and code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED)
    if str(getattr(error.orig, "pgcode", None) or "").startswith(PG_PROGRAM_LIMIT_EXCEEDED):
        return False  # an OperationalError too, but retrying it cannot help
    return isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError)


def first_line(error: BaseException) -> str:
    """``error`` in one line, for a warning that needs no traceback."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def make_engine(settings: Settings) -> Engine:
    if settings.is_sqlite:
        engine = create_engine(
            settings.database_url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=settings.db_pool_size,
            max_overflow=0,
        )
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    return create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=0,
        pool_pre_ping=True,
        pool_timeout=10,
        connect_args={"connect_timeout": 5, "application_name": "minitwit"},
    )


def _configure_sqlite(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
    dbapi_connection.isolation_level = None  # the "begin" listener issues BEGIN itself
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _begin_sqlite(connection: Connection) -> None:
    # pysqlite's own BEGIN handling is off (see _configure_sqlite). Writers take the write lock
    # up front, so two writers never deadlock upgrading a read lock; readers never block in WAL.
    write = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Database:
    """The engine, plus the thread limiter that keeps database work off the event loop."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings)
        self.write_engine = self.engine.execution_options(**{WRITE_OPTION: True})
        self.limiter = anyio.CapacityLimiter(settings.db_pool_size)

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A session whose transaction commits when the block ends normally."""
        bind = self.write_engine if write else self.engine
        with Session(bind, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def read(self) -> AbstractContextManager[Session]:
        return self.session()

    def write(self) -> AbstractContextManager[Session]:
        return self.session(write=True)

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """Run ``func(*args)`` in a worker thread that may use one pooled connection."""
        return await anyio.to_thread.run_sync(func, *args, limiter=self.limiter)

    async def run_in_session(self, func: Callable[..., T], *args: Any, write: bool = False) -> T:
        """Run ``func(session, *args)`` in a worker thread, in one committed transaction."""

        def call() -> T:
            with self.session(write=write) as session:
                return func(session, *args)

        return await self.run(call)

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def checked_out(self) -> int:
        status: Any = self.engine.pool
        return int(status.checkedout()) if hasattr(status, "checkedout") else 0

    def dispose(self) -> None:
        self.engine.dispose()
