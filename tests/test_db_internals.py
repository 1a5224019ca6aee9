"""minitwit/db/internals.py: the shortcuts past SQLAlchemy's execution hand the driver what
SQLAlchemy itself would, on the SQLAlchemy release they were written for."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import bindparam, event, select
from sqlmodel import col

from minitwit.db.database import Database
from minitwit.db.internals import SQLALCHEMY_VERSION, compiled_for, driver_args
from minitwit.db.statements import constant
from minitwit.models import Message, User

_FLAGGED_SINCE = constant(
    select(col(Message.id)).where(
        col(Message.flagged) == bindparam("flagged"), col(Message.pub_date) >= bindparam("since")
    )
)


def test_the_shortcuts_were_written_for_the_installed_sqlalchemy() -> None:
    assert sqlalchemy.__version__ == SQLALCHEMY_VERSION, (
        "SQLAlchemy changed: re-read minitwit/db/internals.py against the new release (the"
        " private attributes it uses, what its own execution does), then update the pin"
    )


def test_a_constant_statement_is_compiled_once_per_dialect(db: Database) -> None:
    dialect = db.engine.dialect
    assert compiled_for(_FLAGGED_SINCE, dialect) is compiled_for(_FLAGGED_SINCE, dialect)


def test_the_driver_gets_what_sqlalchemy_itself_would_send(db: Database) -> None:
    params = {"flagged": True, "since": 0}
    sent: list[tuple[str, Any]] = []

    def hear(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", hear)
    try:
        with db.engine.connect() as connection:
            connection.execute(_FLAGGED_SINCE.statement, params).all()
    finally:
        event.remove(db.engine, "before_cursor_execute", hear)
    # booleans go through the type's bind processor (1 on SQLite, True on PostgreSQL)
    assert driver_args(_FLAGGED_SINCE, params, db.engine.dialect) == sent[-1]


def test_a_statement_that_renders_per_call_is_no_constant(db: Database) -> None:
    by_ids = select(col(User.id)).where(col(User.id).in_(bindparam("ids", expanding=True)))
    with pytest.raises(TypeError, match="renders per call"):
        compiled_for(constant(by_ids), db.engine.dialect)
    with db.unit() as tx:  # as it is, it runs as SQLAlchemy's own
        assert tx.execute(by_ids, {"ids": [1, 2]}).all() == []
