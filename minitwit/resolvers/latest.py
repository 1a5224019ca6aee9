"""The simulator's ``latest``: the last action id received, shared by every process."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from minitwit.db import Step, Tx
from minitwit.models import Latest

NOTHING_RECEIVED = -1

_GET = select(col(Latest.value)).where(col(Latest.id) == 1)
_STORE = {
    dialect.__name__.rsplit(".", 1)[-1]: (
        insert := dialect.insert(Latest).values(id=1, value=bindparam("value"))
    ).on_conflict_do_update(index_elements=[col(Latest.id)], set_={"value": insert.excluded.value})
    for dialect in (postgresql, sqlite)
}


def get_latest(tx: Tx) -> int:
    value = tx.fetch(_GET, {}).scalar()
    return NOTHING_RECEIVED if value is None else int(value)


def store(tx: Tx, value: int) -> Step:
    """The statement that stores ``value``, to run with a write (see ``Tx.also``)."""
    return _STORE[tx.dialect.name], {"value": value}


def set_latest(tx: Tx, value: int) -> None:
    tx.write(store(tx, value))
