"""Engine, connections and units of database work.

All database work is synchronous (psycopg2 or sqlite3) and runs in worker threads, never on the
event loop. The pool is sized to the number of threads allowed to do database work at once
(``Database.limiter``), so a thread that holds a limiter token always gets a connection
without waiting and no connection is opened per request.

Round trips are what a request pays for on PostgreSQL, so the request path spends as few as
the work allows:

- Connections run in autocommit: a read is one statement and one round trip, with no
  ``BEGIN`` and no ``ROLLBACK`` around it.
- A write is one round trip too: ``Tx.write`` sends its statements as one query string, which
  PostgreSQL runs as one implicit transaction (all or nothing).
- No pre-ping: a pooled connection is checked on checkout by polling its socket, which costs
  a system call, not a round trip. A connection the server ended while it sat in the pool
  (a restart, ``pg_terminate_backend``) has a readable socket and is replaced before use.

On SQLite (one file, no network) a unit of work is an ordinary transaction; writers take the
write lock up front (``BEGIN IMMEDIATE``) so two writers never deadlock upgrading a read lock.
"""

from __future__ import annotations

import select
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

import anyio
import anyio.to_thread
from loguru import logger
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.sql import Executable

from minitwit.db import internals
from minitwit.db.changes import Change
from minitwit.db.errors import is_outage
from minitwit.db.internals import driver_args, fetch_raw
from minitwit.db.statements import Constant
from minitwit.settings import Settings

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 5000
WRITE_OPTION = "minitwit_write"
TCP_USER_TIMEOUT_MS = 1000
PROBE_CONNECT_SECONDS = 0.25

# A statement and its parameters, for ``Tx.write``. Statements that are written often are
# module-level constants (``statements.constant``), compiled once per dialect.
Step = tuple[Constant | Executable, Mapping[str, Any]]


def make_engine(settings: Settings, *, request_timeouts: bool = True) -> Engine:
    """The pooled engine. On PostgreSQL its sessions cancel a statement that runs longer than
    ``settings.db_statement_timeout`` and end one left idle in a transaction longer than
    ``db_idle_in_transaction_timeout``: request work never holds a connection (and its locks)
    for long. ``request_timeouts=False`` for the command line; migrations lift the limits for
    their own run (``minitwit.db.migrate``), backups and readiness use engines of their own."""
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
    engine = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=0,
        pool_timeout=10,
        isolation_level="AUTOCOMMIT",
        connect_args={
            "connect_timeout": 5,
            # Data unacknowledged this long (a server whose address vanished) fails the
            # connection instead of TCP's minutes of retransmissions.
            "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
            "application_name": "minitwit",
            **({"options": session_options(settings)} if request_timeouts else {}),
        },
    )
    event.listen(engine, "checkout", _replace_if_closed_by_server)
    internals.skip_commit_and_rollback_in_autocommit(engine.dialect)
    return engine


def session_options(settings: Settings) -> str:
    """libpq's ``options``: the request engine's timeouts, set once per connection."""
    return " ".join(
        f"-c {name}={round(seconds * 1000)}"
        for name, seconds in (
            ("statement_timeout", settings.db_statement_timeout),
            ("idle_in_transaction_session_timeout", settings.db_idle_in_transaction_timeout),
        )
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


def _replace_if_closed_by_server(
    dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
) -> None:
    """An idle connection's socket has nothing to read unless the server ended it (it sends
    a FATAL error and closes): such a connection is replaced before anyone uses it."""
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLPRI)
    if poller.poll(0):
        raise sa_exc.DisconnectionError("the server closed this pooled connection")


_NO_PARAMS: Mapping[str, Any] = {}


def _plain(statement: Constant | Executable) -> Executable:
    """What SQLAlchemy executes for ``statement`` (SQLite's writes: one transaction, its own
    compiled cache)."""
    return statement.statement if isinstance(statement, Constant) else statement


class DatabaseObserver(Protocol):
    """What the metrics hear of the database."""

    def queried(self, kind: str, seconds: float) -> None:
        """A round trip (``kind`` read or write) took ``seconds``."""

    def waited(self) -> None:
        """A unit of work waited for a free connection."""

    def committed(self, events: list[str]) -> None:
        """A unit of work committed, and with it these domain events (``Tx.record``)."""


class Result(Protocol):
    """What a write gives back: ``Rows`` on PostgreSQL, SQLAlchemy's result on SQLite."""

    def all(self) -> Any: ...
    def first(self) -> Any: ...
    def one(self) -> Any: ...
    def scalar(self) -> Any: ...
    def scalar_one(self) -> Any: ...


class Tx:
    """One pooled connection, for one unit of work.

    ``execute`` runs one statement. ``write`` runs its statements all or nothing; ``also``
    adds statements to the next ``write`` (or to the end of the unit, when nothing else is
    written), so a face can make its own bookkeeping commit with the resolver's work.
    ``record`` names a domain event that happens if the unit commits; ``announce`` a change
    of the messages that live timelines show (on PostgreSQL a trigger announces it instead).
    """

    def __init__(
        self,
        bind: Engine,
        pooled: PoolProxiedConnection,
        *,
        batched: bool,
        observer: DatabaseObserver | None = None,
    ) -> None:
        self.bind = bind
        self.pooled = pooled
        self.dialect: Dialect = bind.dialect
        self.batched = batched  # PostgreSQL in autocommit: one query string per write
        self.observer = observer
        self.pending: list[Step] = []
        self.events: list[str] = []
        self.changes: list[Change] = []
        self.wrote = False
        self._connection: Connection | None = None

    @property
    def connection(self) -> Connection:
        """SQLAlchemy's connection over the pooled one, made when first needed: a read of a
        constant on PostgreSQL (``execute``) goes to the driver and needs none."""
        if self._connection is None:
            self._connection = Connection(self.bind, connection=self.pooled)
        return self._connection

    def close(self, *, commit: bool) -> None:
        """Commit (or roll back) and give the connection back to the pool."""
        connection = self._connection
        if connection is None:
            self.pooled.close()
            return
        try:
            if commit:
                connection.commit()
            else:
                connection.rollback()
        finally:
            connection.close()

    def record(self, event: str) -> None:
        self.events.append(event)

    def announce(self, change: Change) -> None:
        self.changes.append(change)

    def execute(
        self, statement: Constant | Executable, params: Mapping[str, Any] | None = None
    ) -> Any:
        """Run ``statement``. A constant's compiled SQL goes straight to the driver, with no
        cache key built per call; on PostgreSQL (autocommit, nothing for SQLAlchemy to track)
        to the driver's own cursor, and its rows come back as plain tuples (``Rows``). Any
        other statement runs as SQLAlchemy's own."""
        began = time.perf_counter()
        if type(statement) is Constant:
            sql, values = driver_args(statement, params or _NO_PARAMS, self.dialect)
            if self.batched:
                result: Any = fetch_raw(self, sql, values)
            else:
                result = self.connection.exec_driver_sql(sql, values)
        else:
            result = self.connection.execute(statement, params)  # type: ignore[arg-type]
        if self.observer is not None:
            self.observer.queried("read", time.perf_counter() - began)
        return result

    def also(self, *steps: Step) -> None:
        self.pending.extend(steps)

    def write(self, *steps: Step) -> Result:
        """Run ``steps`` (after any pending ones) atomically; the last one's result."""
        began = time.perf_counter()
        result = self._write((*self.pending, *steps))
        if self.observer is not None:
            self.observer.queried("write", time.perf_counter() - began)
        return result

    def _write(self, steps: Sequence[Step]) -> Result:
        self.pending.clear()
        if not steps:
            raise ValueError("nothing to write")
        self.wrote = True
        if not self.batched:
            for statement, params in steps[:-1]:
                self.connection.execute(_plain(statement), params)
            statement, params = steps[-1]
            return self.connection.execute(_plain(statement), params)
        if len(steps) == 1:
            statement, params = steps[0]
            return fetch_raw(self, *driver_args(statement, params, self.dialect))
        return fetch_raw(self, self._one_query(steps), None)

    def finish(self) -> None:
        if self.pending:
            self.write()

    def _one_query(self, steps: Sequence[Step]) -> bytes:
        # psycopg2 interpolates parameters on the client (mogrify) for every execute; doing it
        # here lets several statements travel as one simple query, run as one transaction.
        # The bytes go to the driver as mogrify made them, in the connection's own encoding.
        cursor = self.pooled.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            return b";\n".join(
                [cursor.mogrify(*driver_args(*step, self.dialect)) for step in steps]
            )
        finally:
            cursor.close()


def _checkout(bind: Engine) -> PoolProxiedConnection:
    """A pooled connection; a failure to connect is SQLAlchemy's error, as from ``connect``."""
    dialect = bind.dialect
    try:
        return bind.raw_connection()
    except dialect.loaded_dbapi.Error as error:
        disconnect = dialect.is_disconnect(error, None, None)
        raise internals.sqlalchemy_error(error, dialect, None, None, disconnect) from error


class Outage:
    """Fail fast while the database server is out of reach.

    Without this, every request during a PostgreSQL restart would open a connection of its
    own and wait for it to fail: promptly while the server refuses, but up to a second (the
    TCP retransmission of a connection to an address that no longer answers) once its
    container is gone. So the first connection that cannot be made (``is_outage``) starts an
    outage: from then on requests fail at once with the same 503 (and Retry-After)
    while one thread of its own tries a fresh connection every ``interval`` seconds; the
    first that succeeds ends the outage."""

    def __init__(self, probe: Callable[[], None], interval: float = 0.2) -> None:
        self.probe = probe
        self.interval = interval
        self.down = False
        self._lock = threading.Lock()

    def check(self) -> None:
        """Raise the database's unavailability at once during an outage."""
        if self.down:
            raise sa_exc.OperationalError(
                "(no statement: the database server is out of reach, probing)",
                None,
                ConnectionError("the database server is out of reach"),
            )

    def failed(self, error: BaseException) -> None:
        """Start an outage if ``error`` says so (and none is under way)."""
        if not is_outage(error):
            return
        with self._lock:
            if self.down:
                return
            self.down = True
        logger.warning(
            "database out of reach: failing fast until it answers: {e}",
            e=f"{type(error).__name__}: {str(error).strip().splitlines()[0]}",
        )
        threading.Thread(target=self._probe_until_up, name="minitwit-db-probe", daemon=True).start()

    def _probe_until_up(self) -> None:
        # A new attempt every ``interval``, each in a thread of its own, whether or not the
        # ones before it returned: while the server's name has no address, looking it up can
        # hang for seconds (Docker's DNS asks the host's resolvers), and a probe stuck in
        # that lookup would keep the outage going long after the server is back.
        started = time.monotonic()
        up = threading.Event()

        def attempt() -> None:
            try:
                self.probe()
            except Exception:
                return
            up.set()

        while not up.is_set():
            threading.Thread(target=attempt, name="minitwit-db-probe-try", daemon=True).start()
            up.wait(self.interval)
        self.down = False
        logger.info("database answers again after {s:.1f} s", s=time.monotonic() - started)


class Database:
    """The engine, plus the thread limiter that keeps database work off the event loop."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine | None = None,
        observer: DatabaseObserver | None = None,
        *,
        request_timeouts: bool = True,
    ) -> None:
        self.settings = settings
        self.observer = observer
        self.engine = engine or make_engine(settings, request_timeouts=request_timeouts)
        self.batched = self.engine.dialect.name == "postgresql"
        self.write_engine = self.engine.execution_options(**{WRITE_OPTION: True})
        # For the command line (``atomic``): real transactions on PostgreSQL too.
        self.transactional_engine = (
            self.engine.execution_options(isolation_level="READ COMMITTED")
            if self.batched
            else self.write_engine
        )
        self.limiter = anyio.CapacityLimiter(settings.db_pool_size)
        self.outage = Outage(self._probe) if self.batched else None
        # Hears the changes each unit announced, after it committed: the in-process fan-out
        # of live timelines on SQLite. PostgreSQL announces them itself (NOTIFY, in the write).
        self.announced: Callable[[list[Change]], None] | None = None

    @contextmanager
    def unit(self, *, write: bool = False, atomic: bool = False) -> Iterator[Tx]:
        """A unit of work on one pooled connection. Its reads (``Tx.execute``) and its writes
        (``Tx.write``, with what ``Tx.also`` added to them) run in order; each write is all or
        nothing, on both backends. It is not one transaction on PostgreSQL, which runs in
        autocommit (a read costs no BEGIN and COMMIT): ``atomic`` makes the whole unit one
        (for the command line; it costs a BEGIN and a COMMIT). On SQLite it always is one.
        What it wrote is committed at its end, its events recorded and its changes announced."""
        bind = self.transactional_engine if atomic else self.write_engine if write else self.engine
        outage = self.outage
        if outage is not None:
            outage.check()
        try:
            connection = _checkout(bind)
        except Exception as error:
            if outage is not None:
                outage.failed(error)
            raise
        tx = Tx(bind, connection, batched=self.batched and not atomic, observer=self.observer)
        try:
            yield tx
            tx.finish()
        except BaseException:
            tx.close(commit=False)
            raise
        tx.close(commit=True)
        if tx.events and self.observer is not None:
            self.observer.committed(tx.events)
        if tx.changes and self.announced is not None:
            self.announced(tx.changes)

    def work(self, func: Callable[..., T], *args: Any, write: bool = False) -> T:
        """``func(tx, *args)`` in one unit of work. A unit that wrote nothing is tried once
        more when its connection turned out to be dead: reads have no effects to repeat."""
        tx: Tx | None = None
        try:
            with self.unit(write=write) as tx:
                return func(tx, *args)
        except sa_exc.DBAPIError as error:
            if not error.connection_invalidated or tx is None or tx.wrote:
                raise
        with self.unit(write=write) as tx:
            return func(tx, *args)

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """Run ``func(*args)`` in a worker thread that may use one pooled connection."""
        if self.observer is not None and self.limiter.available_tokens == 0:
            self.observer.waited()
        return await anyio.to_thread.run_sync(func, *args, limiter=self.limiter)

    def _probe(self) -> None:
        """One fresh connection and a round trip, outside the pool (whose connections may
        all be held by requests). A TCP connection comes first, given PROBE_CONNECT_SECONDS:
        libpq waits at least 2 s for an address that does not answer (a database task that
        is gone, while DNS still names it), which would hold the outage that long after the
        new task is there. The probe's success ends the outage; the pool then connects as
        usual."""
        args, params = self.engine.dialect.create_connect_args(self.engine.url)
        params = {**params, "connect_timeout": 2, "application_name": "minitwit-probe"}
        host, port = self.engine.url.host, self.engine.url.port or 5432
        if host and not host.startswith("/"):
            # The address that answered is the one libpq is given: DNS may still name the
            # old one first for a moment.
            with socket.create_connection((host, port), timeout=PROBE_CONNECT_SECONDS) as tcp:
                params["hostaddr"] = tcp.getpeername()[0]
        connection = self.engine.dialect.connect(*args, **params)
        try:
            cursor = connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        finally:
            connection.close()

    async def run_work(self, func: Callable[..., T], *args: Any, write: bool = False) -> T:
        """Run ``func(tx, *args)`` in a worker thread, in one unit of work (see ``work``)."""

        def call() -> T:
            return self.work(func, *args, write=write)

        return await self.run(call)

    def checked_out(self) -> int:
        status: Any = self.engine.pool
        return int(status.checkedout()) if hasattr(status, "checkedout") else 0

    def dispose(self) -> None:
        self.engine.dispose()
