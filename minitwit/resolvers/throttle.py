"""Rate limits on signing in and signing up, counted in the database.

The counters live in a table (``rate_counters``) rather than in each process or in Redis: every
worker process and every replica already shares the database, so the limits hold across all of
them with no new service to run, secure, back up and monitor. Signing in and up is rare and
already costs tens of milliseconds of password hashing; one more short write is cheap beside it.

Each limit is a fixed window per key. One statement counts an attempt against every key it
concerns and returns their counts (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``), in the
same round trip as the deletion of expired counters, so two replicas cannot both let the same
attempt through: the row lock orders them. An attempt over a limit is refused before any
password is checked, with the seconds until its window ends.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import bindparam, case, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from minitwit.db.database import Step, Tx
from minitwit.db.statements import Constant, constant
from minitwit.models import RateCounter
from minitwit.resolvers.errors import TooManyRequests

SIGN_IN_USERNAME = "sign_in_username"
SIGN_IN_ADDRESS = "sign_in_address"
SIGN_UP_ADDRESS = "sign_up_address"


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``attempts`` per ``window`` seconds; 0 attempts means no limit."""

    attempts: int
    window: int


@dataclass(frozen=True, slots=True)
class Limits:
    sign_in_per_username: Limit
    sign_in_per_address: Limit
    sign_up_per_address: Limit


@dataclass(frozen=True, slots=True)
class Attempt:
    """Who is trying: the client's address as the trusted proxy saw it, under these limits."""

    address: str
    limits: Limits


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


@cache
def _upsert(dialect_name: str, rows: int) -> Constant:
    """The statement that counts ``rows`` keys on this dialect, built at its first use (not at
    import, so that a mutation test can reach it) and kept for the process."""
    dialect = {"postgresql": postgresql, "sqlite": sqlite}[dialect_name]
    table = RateCounter.__table__  # type: ignore[attr-defined]
    insert = dialect.insert(table).values(
        [
            {
                "scope": bindparam(f"scope_{n}"),
                "key": bindparam(f"key_{n}"),
                "window_start": bindparam(f"window_start_{n}"),
                "hits": 1,
                "expires_at": bindparam(f"expires_at_{n}"),
            }
            for n in range(rows)
        ]
    )
    same_window = table.c.window_start == insert.excluded.window_start
    return constant(
        insert.on_conflict_do_update(
            index_elements=[table.c.scope, table.c.key],
            set_={
                "hits": case((same_window, table.c.hits + 1), else_=1),
                "window_start": insert.excluded.window_start,
                "expires_at": insert.excluded.expires_at,
            },
        ).returning(table.c.scope, table.c.hits, table.c.window_start)
    )


_DELETE_EXPIRED = constant(
    delete(RateCounter).where(col(RateCounter.expires_at) <= bindparam("now"))
)
_FORGET = constant(
    delete(RateCounter).where(
        col(RateCounter.scope) == bindparam("scope"), col(RateCounter.key) == bindparam("key")
    )
)


def count(tx: Tx, message: str, *keys: tuple[str, str, Limit]) -> None:
    """Count one attempt against each ``(scope, value, limit)`` whose limit is on, in one
    round trip; TooManyRequests(``message``) when any is over its limit."""
    counted = [(scope, value, limit) for scope, value, limit in keys if limit.attempts > 0]
    if not counted:
        return
    now = int(time.time())
    params: dict[str, Any] = {}
    limits: dict[str, Limit] = {}
    for n, (scope, value, limit) in enumerate(counted):
        start = now - now % limit.window
        params |= {
            f"scope_{n}": scope,
            f"key_{n}": _digest(value),
            f"window_start_{n}": start,
            f"expires_at_{n}": start + limit.window,
        }
        limits[scope] = limit
    statement = _upsert(tx.dialect.name, len(counted))
    rows: Any = tx.write((_DELETE_EXPIRED, {"now": now}), (statement, params)).all()
    waits = [
        int(start) + limits[scope].window - now
        for scope, hits, start in rows
        if hits > limits[scope].attempts
    ]
    if waits:
        retry_after = max(1, *waits)
        raise TooManyRequests(
            f"{message}; try again in {_duration(retry_after)}", retry_after=retry_after
        )


def count_sign_in(tx: Tx, attempt: Attempt, username: str) -> None:
    """A sign-in attempt, counted against its username and its address before the password
    is checked; a successful one is forgiven for the username (``forgive_sign_in``)."""
    limits = attempt.limits
    count(
        tx,
        "Too many sign-in attempts for this account or from this address",
        (SIGN_IN_USERNAME, username, limits.sign_in_per_username),
        (SIGN_IN_ADDRESS, attempt.address, limits.sign_in_per_address),
    )


def forgive_sign_in(username: str) -> Step:
    """The statement that clears the username's failed sign-ins, after a successful one."""
    return _FORGET, {"scope": SIGN_IN_USERNAME, "key": _digest(username)}


def count_sign_up(tx: Tx, attempt: Attempt) -> None:
    count(
        tx,
        "Too many sign-ups from this address",
        (SIGN_UP_ADDRESS, attempt.address, attempt.limits.sign_up_per_address),
    )


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} seconds"
    return f"{-(-seconds // 60)} minutes"
