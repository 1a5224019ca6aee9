"""Statements written once, at import: ``constant(select(...))``.

A constant has bind parameters for everything that varies, so it compiles once per dialect
and its SQL and values go straight to the driver (``Tx.execute``, ``Tx.write``), with no cache
key built per call: the request path's reads and writes are all constants. A statement built
per call, or one that renders per call (an expanding ``IN`` list), is passed as it is and runs
as SQLAlchemy's own; each statement says which it is, not its caller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.sql import ClauseElement, Executable

if TYPE_CHECKING:
    from sqlalchemy.sql.compiler import Compiled


class Constant:
    """``statement``, compiled once per dialect (``minitwit.db.internals.compiled_for``)."""

    __slots__ = ("compiled", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self.compiled: dict[str, Compiled] = {}

    def __repr__(self) -> str:
        return f"constant({self.statement})"


def constant(statement: Executable) -> Constant:
    if not isinstance(statement, ClauseElement):
        raise TypeError(f"not a compilable statement: {statement!r}")
    return Constant(statement)
