"""The three timelines, and the moderators' list of flagged messages.

Each page is one statement: messages joined with their authors, newest first
(``pub_date DESC, id DESC``), keyset-paginated on that pair, one row more than asked for to
know whether another page follows. Paging backwards (``last``/``before``) reads the reverse
order (``pub_date ASC, id ASC``) and turns the page round, still one statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, not_, or_, select, tuple_
from sqlmodel import Session, col

from minitwit.models import Follower, Message, User
from minitwit.resolvers import cursors
from minitwit.resolvers.errors import Invalid


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
    """A page of messages, newest first, and whether more lie beyond either end.

    ``has_next`` is known when paging forwards (``first``), ``has_previous`` when paging
    backwards (``last``); the other is False, as the Relay connection specification allows.
    """

    items: Sequence[MessageView]
    has_next: bool
    has_previous: bool = False

    @property
    def start_cursor(self) -> str | None:
        return encode_cursor(self.items[0]) if self.items else None

    @property
    def end_cursor(self) -> str | None:
        return encode_cursor(self.items[-1]) if self.items else None


def encode_cursor(message: MessageView) -> str:
    return cursors.encode(message.pub_date, message.id)


def decode_cursor(cursor: str, field: str = "after") -> tuple[int, int]:
    """The (pub_date, id) a cursor stands for, or Invalid."""
    return cursors.decode(cursor, field)


def _timeline(
    session: Session,
    where: ColumnElement[bool],
    *,
    limit: int,
    after: str | None = None,
    before: str | None = None,
    backward: bool = False,
) -> Page:
    """One statement. Forwards: the ``limit`` newest messages older than ``after`` (and newer
    than ``before``). Backwards (``last``): the ``limit`` oldest of that window, read in the
    reverse order (``pub_date ASC, id ASC``) and turned round here."""
    key = tuple_(col(Message.pub_date), col(Message.id))
    conditions = [where]
    if after is not None:
        conditions.append(key < tuple_(*decode_cursor(after, "after")))
    if before is not None:
        conditions.append(key > tuple_(*decode_cursor(before, "before")))
    if limit <= 0:
        return Page(items=(), has_next=False)
    order = (
        (col(Message.pub_date).asc(), col(Message.id).asc())
        if backward
        else (col(Message.pub_date).desc(), col(Message.id).desc())
    )
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
        .where(*conditions)
        .order_by(*order)
        .limit(limit + 1)
    )
    rows = session.connection().execute(statement).all()
    # Message.id is Optional only before a row is stored; a selected id is never NULL.
    items = [MessageView(*row) for row in rows[:limit]]  # type: ignore[arg-type]
    more = len(rows) > limit
    if backward:
        items.reverse()
        return Page(items=items, has_next=False, has_previous=more)
    return Page(items=items, has_next=more)


def public_timeline(
    session: Session,
    *,
    limit: int,
    after: str | None = None,
    before: str | None = None,
    backward: bool = False,
) -> Page:
    where = not_(col(Message.flagged))
    return _timeline(session, where, limit=limit, after=after, before=before, backward=backward)


def user_timeline(
    session: Session,
    *,
    user_id: int,
    limit: int,
    after: str | None = None,
    before: str | None = None,
    backward: bool = False,
) -> Page:
    where = and_(col(Message.author_id) == user_id, not_(col(Message.flagged)))
    return _timeline(session, where, limit=limit, after=after, before=before, backward=backward)


def home_timeline(
    session: Session,
    *,
    user_id: int,
    limit: int,
    after: str | None = None,
    before: str | None = None,
    backward: bool = False,
) -> Page:
    """The user's own messages and those of everyone they follow."""
    followed = select(col(Follower.whom_id)).where(col(Follower.who_id) == user_id)
    where = and_(
        or_(col(Message.author_id) == user_id, col(Message.author_id).in_(followed)),
        not_(col(Message.flagged)),
    )
    return _timeline(session, where, limit=limit, after=after, before=before, backward=backward)


def flagged_messages(
    session: Session,
    *,
    limit: int,
    after: str | None = None,
    before: str | None = None,
    backward: bool = False,
) -> Page:
    where = col(Message.flagged).is_(True)
    return _timeline(session, where, limit=limit, after=after, before=before, backward=backward)


def message_by_id(session: Session, message_id: int) -> MessageView | None:
    page = _timeline(session, col(Message.id) == message_id, limit=1)
    return page.items[0] if page.items else None


def messages_by_ids(session: Session, message_ids: Sequence[int]) -> dict[int, MessageView]:
    """The messages with these ids (flagged ones too), by id, in one statement."""
    if not message_ids:
        return {}
    page = _timeline(session, col(Message.id).in_(message_ids), limit=len(message_ids))
    return {view.id: view for view in page.items}


@dataclass(frozen=True, slots=True)
class Window:
    """How many rows a page holds, and from which end of the cursors' window it takes them."""

    limit: int
    backward: bool = False


def page_window(first: int | None, last: int | None, *, default: int, maximum: int) -> Window:
    """GraphQL's ``first`` or ``last`` as a page size, or Invalid naming the argument."""
    if first is not None and last is not None:
        raise Invalid("Give first or last, not both", field="last")
    if last is not None:
        return Window(clamp_first(last, default=default, maximum=maximum, field="last"), True)
    return Window(clamp_first(first, default=default, maximum=maximum))


def clamp_first(first: int | None, *, default: int, maximum: int, field: str = "first") -> int:
    """A GraphQL ``first`` (or ``last``) argument as a page size, or Invalid."""
    if first is None:
        return default
    if not 0 <= first <= maximum:
        raise Invalid(f"{field} must be between 0 and {maximum}", field=field)
    return first
