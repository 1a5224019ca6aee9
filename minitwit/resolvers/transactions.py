"""How an operation of several steps opens its transactions.

Sign-up and sign-in hash passwords, which takes tens of milliseconds of CPU. They do it
between two short transactions, never inside one: a transaction held open while hashing keeps
a pooled connection busy and, on SQLite, the database-wide write lock.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from minitwit.db.database import Tx


class Transactions(Protocol):
    def read(self) -> AbstractContextManager[Tx]:
        """A transaction for reading only."""

    def write(self) -> AbstractContextManager[Tx]:
        """A transaction that commits when its block ends without an error."""
