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
from functools import cache
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

from minitwit.db import Tx
from minitwit.models import Follower, Message, User
from minitwit.resolvers.accounts import is_plausible_username, no_such_user, require_user
from minitwit.resolvers.errors import Invalid
from minitwit.resolvers.validation import INT32_MAX, INT64_MAX, INT64_MIN


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


Kind = Literal["public", "user", "user_named", "home", "flagged", "one"]


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
    return col(Message.id) == bindparam("message_id")


def _keyset(paged: bool) -> list[ColumnElement[bool]]:
    if not paged:
        return []
    key = tuple_(col(Message.pub_date), col(Message.id))
    return [key < tuple_(bindparam("after_pub_date"), bindparam("after_id"))]


@cache
def _statement(kind: Kind, paged: bool, dialect: str) -> Select[*tuple[Any, ...]]:
    """One statement per timeline, paging and dialect, built once: a page is one round trip."""
    if kind == "home" and dialect == "postgresql":
        return _home_by_author(paged)
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
        .where(_where(kind), *_keyset(paged))
        .order_by(col(Message.pub_date).desc(), col(Message.id).desc())
        .limit(bindparam("limit"))
    )
    return statement


def _home_by_author(paged: bool) -> Select[*tuple[Any, ...]]:
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
        .where(col(Message.author_id) == col(User.id), not_(col(Message.flagged)), *_keyset(paged))
        .order_by(col(Message.pub_date).desc(), col(Message.id).desc())
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
        .order_by(newest.c.pub_date.desc(), newest.c.id.desc())
        .limit(bindparam("limit"))
    )


def _timeline(tx: Tx, kind: Kind, *, limit: int, after: str | None, **params: Any) -> Page:
    if limit <= 0:
        return Page(items=(), has_next=False)
    params["limit"] = limit + 1
    if after is not None:
        params["after_pub_date"], params["after_id"] = decode_cursor(after)
    rows = tx.fetch(_statement(kind, after is not None, tx.dialect.name), params).all()
    items = [
        MessageView(m_id, text, pub_date, bool(flagged), author_id, name, email, bool(moderator))
        for m_id, text, pub_date, flagged, author_id, name, email, moderator in rows[:limit]
    ]
    return Page(items=items, has_next=len(rows) > limit)


def public_timeline(tx: Tx, *, limit: int, after: str | None = None) -> Page:
    return _timeline(tx, "public", limit=limit, after=after)


def user_timeline(tx: Tx, *, user_id: int, limit: int, after: str | None = None) -> Page:
    return _timeline(tx, "user", limit=limit, after=after, user_id=user_id)


def user_timeline_by_name(tx: Tx, *, username: str, limit: int) -> Page:
    """A user's timeline found by name, in one statement when it has messages; an unknown
    name is NotFound."""
    if not is_plausible_username(username):
        raise no_such_user(username)
    page = _timeline(tx, "user_named", limit=limit, after=None, username=username)
    if not page.items:
        require_user(tx, username)
    return page


def home_timeline(tx: Tx, *, user_id: int, limit: int, after: str | None = None) -> Page:
    """The user's own messages and those of everyone they follow."""
    return _timeline(tx, "home", limit=limit, after=after, user_id=user_id)


def flagged_messages(tx: Tx, *, limit: int, after: str | None = None) -> Page:
    return _timeline(tx, "flagged", limit=limit, after=after)


def message_by_id(tx: Tx, message_id: int) -> MessageView | None:
    page = _timeline(tx, "one", limit=1, after=None, message_id=message_id)
    return page.items[0] if page.items else None


def clamp_first(first: int | None, *, default: int, maximum: int) -> int:
    """A GraphQL ``first`` argument as a page size, or Invalid."""
    if first is None:
        return default
    if not 0 <= first <= maximum:
        raise Invalid(f"first must be between 0 and {maximum}")
    return first
