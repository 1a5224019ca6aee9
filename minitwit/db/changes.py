"""What a write changed that live timelines show: a message posted, flagged or unflagged.

A unit of work collects them (``Tx.announce``) and, once it committed, the ``Database`` hands
them to whoever listens (SQLite, one process); on PostgreSQL a trigger announces the same
changes itself, with the same kinds (migration 0004), on a channel every replica hears.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class ChangeKind(StrEnum):
    POSTED = "posted"
    FLAGGED = "flagged"
    UNFLAGGED = "unflagged"


class Change(NamedTuple):
    """A change of one message a live timeline shows."""

    kind: ChangeKind
    message_id: int
    author_id: int
