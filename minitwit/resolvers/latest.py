"""The simulator's ``latest``: the last action id received, shared by every process; and the
actions already done, by id, so that a retried write is not done twice."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, select
from sqlalchemy import insert as plain_insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from minitwit.db.database import Step, Tx
from minitwit.db.statements import constant
from minitwit.models import Latest, SimulatorAction

NOTHING_RECEIVED = -1

_GET = constant(select(col(Latest.value)).where(col(Latest.id) == 1))
_STORE = {
    dialect.__name__.rsplit(".", 1)[-1]: constant(
        (
            insert := dialect.insert(Latest).values(id=1, value=bindparam("value"))
        ).on_conflict_do_update(
            index_elements=[col(Latest.id)], set_={"value": insert.excluded.value}
        )
    )
    for dialect in (postgresql, sqlite)
}


def get_latest(tx: Tx) -> int:
    value = tx.execute(_GET, {}).scalar()
    return NOTHING_RECEIVED if value is None else int(value)


def store(tx: Tx, value: int) -> Step:
    """The statement that stores ``value``, to run with a write (see ``Tx.also``)."""
    return _STORE[tx.dialect.name], {"value": value}


def set_latest(tx: Tx, value: int) -> None:
    tx.write(store(tx, value))


# -- idempotent writes ------------------------------------------------------------------------

ACTION_RETENTION_SECONDS = 3600  # a retry comes within seconds; an hour is plenty
PRUNE_EVERY_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Action:
    """A simulator write: the ``latest`` id it came with and a digest of the request (its path
    and body), so only a retry of the very same request with the same id counts as a replay;
    another request that happens to carry a used id is not mistaken for one."""

    latest: int
    digest: int

    @classmethod
    def of(cls, latest: int, path: str, body: bytes) -> Action:
        hashed = hashlib.blake2b(path.encode("utf-8", "surrogateescape"), digest_size=8)
        hashed.update(b"\0")
        hashed.update(body)
        return cls(latest, int.from_bytes(hashed.digest(), "big", signed=True))


_CLAIM = constant(
    plain_insert(SimulatorAction).values(
        latest=bindparam("latest"), digest=bindparam("digest"), received_at=bindparam("now")
    )
)
_CLAIMED = constant(
    select(col(SimulatorAction.latest)).where(
        col(SimulatorAction.latest) == bindparam("latest"),
        col(SimulatorAction.digest) == bindparam("digest"),
    )
)
_RELEASE = constant(
    delete(SimulatorAction).where(
        col(SimulatorAction.latest) == bindparam("latest"),
        col(SimulatorAction.digest) == bindparam("digest"),
    )
)
_PRUNE = constant(
    delete(SimulatorAction).where(col(SimulatorAction.received_at) < bindparam("cutoff"))
)
_next_prune = 0.0


def claim(action: Action) -> list[Step]:
    """The statements that record ``action``, to run in the same write as the action itself
    (``Tx.also``): if the same action was recorded before, the insert fails with an
    IntegrityError and the whole write, the action with it, is undone (see ``claimed``).
    Once a minute per process they also delete the records older than an hour."""
    global _next_prune
    now = time.time()
    steps: list[Step] = []
    if now >= _next_prune:
        _next_prune = now + PRUNE_EVERY_SECONDS
        steps.append((_PRUNE, {"cutoff": int(now) - ACTION_RETENTION_SECONDS}))
    steps.append((_CLAIM, {"latest": action.latest, "digest": action.digest, "now": int(now)}))
    return steps


def claimed(tx: Tx, action: Action) -> bool:
    """Whether ``action`` was recorded by a write that committed: a replay, to answer as the
    success it was the first time, without doing it again."""
    params = {"latest": action.latest, "digest": action.digest}
    return tx.execute(_CLAIMED, params).first() is not None


def release(tx: Tx, action: Action) -> None:
    """Forget ``action`` after its write committed but the action was refused (an unknown
    user): a retry must be refused the same way, not taken for a replay of a success."""
    tx.write((_RELEASE, {"latest": action.latest, "digest": action.digest}))
