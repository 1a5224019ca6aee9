"""When the database is the problem: which errors are it being out of reach for now (worth a
retry, a 503, no traceback) rather than a bug, and the words a client is told."""

from __future__ import annotations

import sqlite3

from sqlalchemy import exc as sa_exc

UNAVAILABLE = "The database is unavailable; try again shortly"
TIMED_OUT = "The database took too long to answer; try again shortly"
PG_QUERY_CANCELED = "57014"  # statement_timeout (or an operator's pg_cancel_backend)
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


def is_outage(error: BaseException) -> bool:
    """Whether ``error``, raised while getting a connection, says the PostgreSQL server is out
    of reach (refused, unresolvable, timed out, shutting down, starting up). An error on a
    connection already open is not one: a single connection can be ended while the server
    answers (``pg_terminate_backend``), and a unit of work retries with a new one."""
    return isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError) and not isinstance(
        error.orig, sqlite3.Error
    )


def is_timeout(error: BaseException) -> bool:
    """Whether ``error`` is a statement cancelled by ``statement_timeout``."""
    return (
        isinstance(error, sa_exc.DBAPIError)
        and getattr(error.orig, "pgcode", None) == PG_QUERY_CANCELED
    )


def unavailable_reason(error: BaseException) -> str | None:
    """What to tell a client for an error worth retrying (a 503), or None for a bug."""
    if is_timeout(error):
        return TIMED_OUT
    return UNAVAILABLE if is_unavailable(error) else None
