"""The simulator's ``latest``: the last action id received, shared by every process."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlmodel import Session, col

from minitwit.models import Latest

NOTHING_RECEIVED = -1


def get_latest(session: Session) -> int:
    statement = select(col(Latest.value)).where(col(Latest.id) == 1)
    value = session.connection().execute(statement).scalar()
    return NOTHING_RECEIVED if value is None else int(value)


def set_latest(session: Session, value: int) -> None:
    result = session.connection().execute(
        update(Latest).where(col(Latest.id) == 1).values(value=value)
    )
    if result.rowcount == 0:
        session.add(Latest(id=1, value=value))
        session.flush()
