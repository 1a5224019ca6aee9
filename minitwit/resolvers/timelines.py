"""The three timelines, and the moderators' list of flagged messages.

Each page is one statement: messages joined with their authors, newest first
(``pub_date DESC, id DESC``), keyset-paginated on that pair, one row more than asked for to
know whether another page follows. Paging backwards (``last``/``before``) reads the reverse
order (``pub_date ASC, id ASC``) and turns the page round, still one statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, partial
from typing import Any, Literal, NamedTuple

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    not_,
    or_,
    select,
    true,
    tuple_,
)
from sqlmodel import col

from minitwit.db.database import Tx
from minitwit.db.statements import Constant, constant
from minitwit.models import Follower, Message, User
from minitwit.resolvers import cursors
from minitwit.resolvers.accounts import is_plausible_username, no_such_user, require_user
from minitwit.resolvers.errors import Invalid


class MessageView(NamedTuple):
    """A message with what a timeline shows of its author (a tuple: a page makes many)."""

    id: int
    text: str
    pub_date: int
    flagged: bool
    author_id: int
    author_username: str
    author_email: str
    author_is_moderator: bool


class Brief(NamedTuple):
    """What the simulator's message lists show of a message: no id, no paging, no flag."""

    text: str
    pub_date: int
    author_username: str


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
    """The (pub_date, id) a cursor stands for, or Invalid naming ``field``."""
    return cursors.decode(cursor, field)


Kind = Literal["public", "user", "user_named", "home", "flagged", "one", "ids"]


def _where(kind: Kind) -> ColumnElement[bool]:
    not_flagged = not_(col(Message.flagged))
    if kind == "public":
        return not_flagged
    if kind == "user":
        return and_(col(Message.author_id) == bindparam("user_id"), not_flagged)
    if kind == "user_named":
        named = User.__table__.alias("named")  # type: ignore[attr-defined]
        author = select(named.c.id).where(named.c.username == bindparam("username"))
        return and_(col(Message.author_id) == author.scalar_subquery(), not_flagged)
    if kind == "home":
        viewer_id: BindParameter[int] = bindparam("user_id")
        followed = select(col(Follower.whom_id)).where(col(Follower.who_id) == viewer_id)
        by = col(Message.author_id)
        return and_(or_(by == viewer_id, by.in_(followed)), not_flagged)
    if kind == "flagged":
        return col(Message.flagged).is_(True)
    if kind == "ids":
        return col(Message.id).in_(bindparam("message_ids", expanding=True))
    return col(Message.id) == bindparam("message_id")


@dataclass(frozen=True, slots=True)
class Paging:
    """Which cursors bound a page, and which end of that window it is read from."""

    after: bool = False
    before: bool = False
    backward: bool = False

    def conditions(self) -> list[ColumnElement[bool]]:
        key = tuple_(col(Message.pub_date), col(Message.id))
        found = []
        if self.after:
            found.append(key < tuple_(bindparam("after_pub_date"), bindparam("after_id")))
        if self.before:
            found.append(key > tuple_(bindparam("before_pub_date"), bindparam("before_id")))
        return found

    def order(self, pub_date: Any, message_id: Any) -> tuple[Any, Any]:
        if self.backward:
            return pub_date.asc(), message_id.asc()
        return pub_date.desc(), message_id.desc()


@cache
def _statement(kind: Kind, paging: Paging, dialect: str) -> Constant | Select[*tuple[Any, ...]]:
    """One statement per timeline, paging and dialect, built once: a page is one round trip.
    A list of ids is rendered per call (an expanding parameter): no constant."""
    if kind == "home" and dialect == "postgresql":
        return constant(_home_by_author(paging))
    statement: Select[*tuple[Any, ...]] = (
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
        .where(_where(kind), *paging.conditions())
        .order_by(*paging.order(col(Message.pub_date), col(Message.id)))
        .limit(bindparam("limit"))
    )
    return statement if kind == "ids" else constant(statement)


@cache
def _brief_statement(kind: Kind) -> Constant:
    """The newest ``limit`` messages of a timeline, three columns each: the simulator's lists
    read no more than they show (every column costs the driver a conversion per row)."""
    return constant(
        select(col(Message.text), col(Message.pub_date), col(User.username))
        .join(User, col(User.id) == col(Message.author_id))
        .where(_where(kind))
        .order_by(col(Message.pub_date).desc(), col(Message.id).desc())
        .limit(bindparam("limit"))
    )


def _home_by_author(paging: Paging) -> Select[*tuple[Any, ...]]:
    """The home timeline as the newest page of each author it shows, merged: each author's
    page is a short backward walk of the (author, pub_date, id) index, so the cost follows
    how many people one follows, not how many messages there are. (Filtering the newest
    messages of everyone walks back until enough are found: through most of the table for
    someone who follows one quiet user.) PostgreSQL only: SQLite has no LATERAL."""
    newest = (
        select(
            col(Message.id),
            col(Message.text),
            col(Message.pub_date),
            col(Message.flagged),
            col(Message.author_id),
        )
        .where(
            col(Message.author_id) == col(User.id),
            not_(col(Message.flagged)),
            *paging.conditions(),
        )
        .order_by(*paging.order(col(Message.pub_date), col(Message.id)))
        .limit(bindparam("limit"))
        .lateral("newest")
    )
    viewer_id: BindParameter[int] = bindparam("user_id", type_=Integer)
    authors = select(viewer_id).union_all(
        select(col(Follower.whom_id)).where(col(Follower.who_id) == viewer_id)
    )
    return (
        select(
            newest.c.id,
            newest.c.text,
            newest.c.pub_date,
            newest.c.flagged,
            newest.c.author_id,
            col(User.username),
            col(User.email),
            col(User.is_moderator),
        )
        .select_from(User)
        .join(newest, true())
        .where(col(User.id).in_(authors))
        .order_by(*paging.order(newest.c.pub_date, newest.c.id))
        .limit(bindparam("limit"))
    )


def _timeline(
    tx: Tx,
    kind: Kind,
    *,
    limit: int,
    after: str | None = None,
    before: str | None = None,
    backward: bool = False,
    **params: Any,
) -> Page:
    """Forwards: the ``limit`` newest messages older than ``after`` (and newer than
    ``before``). Backwards (``last``): the ``limit`` oldest of that window, read in the
    reverse order and turned round here."""
    if after is not None:
        params["after_pub_date"], params["after_id"] = decode_cursor(after, "after")
    if before is not None:
        params["before_pub_date"], params["before_id"] = decode_cursor(before, "before")
    if limit <= 0:
        return Page(items=(), has_next=False)
    params["limit"] = limit + 1
    paging = Paging(after is not None, before is not None, backward)
    statement = _statement(kind, paging, tx.dialect.name)
    rows = tx.execute(statement, params).all()
    items = _views(rows[:limit], native_booleans=tx.dialect.supports_native_boolean)
    more = len(rows) > limit
    if backward:
        items.reverse()
        return Page(items=items, has_next=False, has_previous=more)
    return Page(items=items, has_next=more)


_view = partial(tuple.__new__, MessageView)


def _views(rows: Sequence[Sequence[Any]], *, native_booleans: bool) -> list[MessageView]:
    """Rows in ``MessageView``'s column order as views. Where the driver gives booleans as
    they are (PostgreSQL) each row becomes a view in one C call: a page holds many rows."""
    if native_booleans:
        return list(map(_view, rows))
    return [
        MessageView(m_id, text, pub_date, bool(flagged), author_id, name, email, bool(moderator))
        for m_id, text, pub_date, flagged, author_id, name, email, moderator in rows
    ]


def public_timeline(
    tx: Tx,
    *,
    limit: int,
    after: str | None = None,
    before: str | None = None,
    backward: bool = False,
) -> Page:
    return _timeline(tx, "public", limit=limit, after=after, before=before, backward=backward)


def user_timeline(
    tx: Tx,
    *,
    user_id: int,
    limit: int,
    after: str | None = None,
    before: str | None = None,
    backward: bool = False,
) -> Page:
    return _timeline(
        tx, "user", limit=limit, after=after, before=before, backward=backward, user_id=user_id
    )


def public_messages(tx: Tx, *, limit: int) -> list[Brief]:
    """The public timeline's ``limit`` newest messages, in brief, in one statement."""
    if limit <= 0:
        return []
    return list(map(_brief, tx.execute(_brief_statement("public"), {"limit": limit})))


def user_messages_by_name(tx: Tx, *, username: str, limit: int) -> list[Brief]:
    """A user's ``limit`` newest messages, in brief, found by name in one statement when
    there are any; an unknown name is NotFound."""
    if not is_plausible_username(username):
        raise no_such_user(username)
    params = {"username": username, "limit": limit}
    found = (
        list(map(_brief, tx.execute(_brief_statement("user_named"), params))) if limit > 0 else []
    )
    if not found:
        require_user(tx, username)
    return found


_brief = partial(tuple.__new__, Brief)


def home_timeline(
    tx: Tx,
    *,
    user_id: int,
    limit: int,
    after: str | None = None,
    before: str | None = None,
    backward: bool = False,
) -> Page:
    """The user's own messages and those of everyone they follow."""
    return _timeline(
        tx, "home", limit=limit, after=after, before=before, backward=backward, user_id=user_id
    )


def flagged_messages(
    tx: Tx,
    *,
    limit: int,
    after: str | None = None,
    before: str | None = None,
    backward: bool = False,
) -> Page:
    return _timeline(tx, "flagged", limit=limit, after=after, before=before, backward=backward)


def message_by_id(tx: Tx, message_id: int) -> MessageView | None:
    page = _timeline(tx, "one", limit=1, message_id=message_id)
    return page.items[0] if page.items else None


def messages_by_ids(tx: Tx, message_ids: Sequence[int]) -> dict[int, MessageView]:
    """The messages with these ids (flagged ones too), by id, in one statement."""
    if not message_ids:
        return {}
    page = _timeline(tx, "ids", limit=len(message_ids), message_ids=list(message_ids))
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
