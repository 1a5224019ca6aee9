"""Who follows whom."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from minitwit.models import Follower, User
from minitwit.resolvers import cursors
from minitwit.resolvers.accounts import require_user
from minitwit.resolvers.errors import Invalid

FOLLOW_LIST_MAX = 10_000


def follow(session: Session, *, who: User, whom_name: str) -> User:
    """``who`` follows ``whom_name``; following twice changes nothing."""
    whom = require_user(session, whom_name)
    if whom.id == who.id:
        raise Invalid("You cannot follow yourself", field="username")
    values = {"who_id": who.id, "whom_id": whom.id, "followed_at": int(time.time())}
    dialect = session.get_bind().dialect.name
    statement = (
        postgresql.insert(Follower).values(values).on_conflict_do_nothing()
        if dialect == "postgresql"
        else sqlite.insert(Follower).values(values).on_conflict_do_nothing()
        if dialect == "sqlite"
        else insert(Follower).values(values)
    )
    session.connection().execute(statement)
    return whom


def unfollow(session: Session, *, who: User, whom_name: str) -> User:
    """``who`` no longer follows ``whom_name``; unfollowing a stranger changes nothing."""
    whom = require_user(session, whom_name)
    session.connection().execute(
        delete(Follower).where(col(Follower.who_id) == who.id, col(Follower.whom_id) == whom.id)
    )
    return whom


def following_ids(session: Session, *, who_id: int) -> set[int]:
    rows = session.connection().execute(
        select(col(Follower.whom_id)).where(col(Follower.who_id) == who_id)
    )
    return {row[0] for row in rows}


@dataclass(frozen=True, slots=True)
class PeoplePage:
    """A page of followers or followings, in the order the follows began, each user with the
    time it began (``followed_at``); the flags as in ``timelines.Page``."""

    items: Sequence[tuple[User, int]]
    has_next: bool
    has_previous: bool = False

    @property
    def start_cursor(self) -> str | None:
        return person_cursor(*self.items[0]) if self.items else None

    @property
    def end_cursor(self) -> str | None:
        return person_cursor(*self.items[-1]) if self.items else None


def person_cursor(user: User, followed_at: int) -> str:
    if user.id is None:
        raise ValueError("a stored user has an id")
    return cursors.encode(followed_at, user.id)


def _people(
    session: Session,
    *,
    user_id: int,
    followers: bool,
    limit: int,
    after: str | None = None,
    before: str | None = None,
    backward: bool = False,
) -> PeoplePage:
    """One statement, keyset-paginated on ``(followed_at, the other user's id)``, oldest
    follow first; backwards (``last``) reads the reverse order and turns the page round."""
    mine, theirs = (
        (col(Follower.whom_id), col(Follower.who_id))
        if followers
        else (col(Follower.who_id), col(Follower.whom_id))
    )
    key = tuple_(col(Follower.followed_at), theirs)
    conditions = [mine == user_id]
    if after is not None:
        conditions.append(key > tuple_(*cursors.decode(after, "after")))
    if before is not None:
        conditions.append(key < tuple_(*cursors.decode(before, "before")))
    if limit <= 0:
        return PeoplePage(items=(), has_next=False)
    order = (
        (col(Follower.followed_at).desc(), theirs.desc())
        if backward
        else (col(Follower.followed_at).asc(), theirs.asc())
    )
    statement = (
        select(User, col(Follower.followed_at))
        .join(Follower, theirs == col(User.id))
        .where(*conditions)
        .order_by(*order)
        .limit(limit + 1)
    )
    rows = [(user, followed_at) for user, followed_at in session.execute(statement).all()]
    more = len(rows) > limit
    items = rows[:limit]
    if backward:
        items.reverse()
        return PeoplePage(items=items, has_next=False, has_previous=more)
    return PeoplePage(items=items, has_next=more)


def following_page(
    session: Session,
    *,
    user_id: int,
    limit: int,
    after: str | None = None,
    before: str | None = None,
    backward: bool = False,
) -> PeoplePage:
    """The users ``user_id`` follows, in the order they were followed."""
    return _people(
        session,
        user_id=user_id,
        followers=False,
        limit=limit,
        after=after,
        before=before,
        backward=backward,
    )


def followers_page(
    session: Session,
    *,
    user_id: int,
    limit: int,
    after: str | None = None,
    before: str | None = None,
    backward: bool = False,
) -> PeoplePage:
    """The users who follow ``user_id``, in the order they started."""
    return _people(
        session,
        user_id=user_id,
        followers=True,
        limit=limit,
        after=after,
        before=before,
        backward=backward,
    )


def following(session: Session, *, user_id: int, limit: int = FOLLOW_LIST_MAX) -> list[User]:
    """The users ``user_id`` follows, in the order they were followed."""
    return [user for user, _ in following_page(session, user_id=user_id, limit=limit).items]


def followers(session: Session, *, user_id: int, limit: int = FOLLOW_LIST_MAX) -> list[User]:
    """The users who follow ``user_id``, in the order they started."""
    return [user for user, _ in followers_page(session, user_id=user_id, limit=limit).items]
