"""The three timelines, and the moderators' list of flagged messages.

Each page is one statement: messages joined with their authors, newest first
(``pub_date DESC, id DESC``), keyset-paginated on that pair, one row more than asked for to
know whether another page follows.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, not_, or_, select, tuple_
from sqlmodel import Session, col

from minitwit.models import Follower, Message, User
from minitwit.resolvers.errors import Invalid
from minitwit.resolvers.validation import INT32_MAX, INT64_MAX, INT64_MIN


@dataclass(frozen=True, slots=True)
class MessageView:
    """A message with what a timeline shows of its author."""

    id: int
    text: str
    pub_date: int
    flagged: bool
    author_id: int
    author_username: str
    author_email: str
    author_is_moderator: bool


@dataclass(frozen=True, slots=True)
class Page:
    items: Sequence[MessageView]
    has_next: bool

    @property
    def end_cursor(self) -> str | None:
        return encode_cursor(self.items[-1]) if self.items else None


def encode_cursor(message: MessageView) -> str:
    raw = f"{message.pub_date}:{message.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    """The (pub_date, id) a cursor stands for, or Invalid."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        pub_date_text, id_text = base64.urlsafe_b64decode(padded).decode().split(":")
        pub_date, message_id = int(pub_date_text), int(id_text)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise Invalid("Invalid cursor") from None
    if not (INT64_MIN <= pub_date <= INT64_MAX and 0 <= message_id <= INT32_MAX):
        raise Invalid("Invalid cursor")
    return pub_date, message_id


def _timeline(
    session: Session, where: ColumnElement[bool], *, limit: int, after: str | None
) -> Page:
    if limit <= 0:
        return Page(items=(), has_next=False)
    statement = (
        select(
            col(Message.id),
            col(Message.text),
            col(Message.pub_date),
            col(Message.flagged),
            col(Message.author_id),
            col(User.username),
            col(User.email),
            col(User.is_moderator),
        )
        .join(User, col(User.id) == col(Message.author_id))
        .where(where)
        .order_by(col(Message.pub_date).desc(), col(Message.id).desc())
        .limit(limit + 1)
    )
    if after is not None:
        statement = statement.where(
            tuple_(col(Message.pub_date), col(Message.id)) < tuple_(*decode_cursor(after))
        )
    rows = session.connection().execute(statement).all()
    # Message.id is Optional only before a row is stored; a selected id is never NULL.
    items = [MessageView(*row) for row in rows[:limit]]  # type: ignore[arg-type]
    return Page(items=items, has_next=len(rows) > limit)


def public_timeline(session: Session, *, limit: int, after: str | None = None) -> Page:
    return _timeline(session, not_(col(Message.flagged)), limit=limit, after=after)


def user_timeline(session: Session, *, user_id: int, limit: int, after: str | None = None) -> Page:
    where = and_(col(Message.author_id) == user_id, not_(col(Message.flagged)))
    return _timeline(session, where, limit=limit, after=after)


def home_timeline(session: Session, *, user_id: int, limit: int, after: str | None = None) -> Page:
    """The user's own messages and those of everyone they follow."""
    followed = select(col(Follower.whom_id)).where(col(Follower.who_id) == user_id)
    where = and_(
        or_(col(Message.author_id) == user_id, col(Message.author_id).in_(followed)),
        not_(col(Message.flagged)),
    )
    return _timeline(session, where, limit=limit, after=after)


def flagged_messages(session: Session, *, limit: int, after: str | None = None) -> Page:
    return _timeline(session, col(Message.flagged).is_(True), limit=limit, after=after)


def message_by_id(session: Session, message_id: int) -> MessageView | None:
    page = _timeline(session, col(Message.id) == message_id, limit=1, after=None)
    return page.items[0] if page.items else None


def clamp_first(first: int | None, *, default: int, maximum: int) -> int:
    """A GraphQL ``first`` argument as a page size, or Invalid."""
    if first is None:
        return default
    if not 0 <= first <= maximum:
        raise Invalid(f"first must be between 0 and {maximum}")
    return first
