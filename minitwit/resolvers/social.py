"""Who follows whom."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, bindparam, delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from minitwit.db.database import Tx
from minitwit.db.statements import Constant, constant
from minitwit.models import Follower, User
from minitwit.resolvers import cursors
from minitwit.resolvers.accounts import (
    USER_COLUMNS,
    is_plausible_username,
    no_such_user,
    require_user,
    user_from_row,
)
from minitwit.resolvers.errors import Invalid

_FOLLOW = {
    dialect.__name__.rsplit(".", 1)[-1]: constant(
        dialect.insert(Follower)
        .values(
            who_id=bindparam("who_id"),
            whom_id=bindparam("whom_id"),
            followed_at=bindparam("followed_at"),
        )
        .on_conflict_do_nothing()
    )
    for dialect in (postgresql, sqlite)
}
_WHO = User.__table__.alias("who")  # type: ignore[attr-defined]
_WHOM = User.__table__.alias("whom")  # type: ignore[attr-defined]
_WHO_ID = select(_WHO.c.id).where(_WHO.c.username == bindparam("who_name")).scalar_subquery()
_WHOM_ID = select(_WHOM.c.id).where(_WHOM.c.username == bindparam("whom_name")).scalar_subquery()
_PAIR_IDS = constant(select(_WHO_ID, _WHOM_ID))
_FOLLOW_BY_NAMES = {
    dialect.__name__.rsplit(".", 1)[-1]: constant(
        dialect.insert(Follower)
        .from_select(
            ["who_id", "whom_id", "followed_at"],
            select(_WHO.c.id, _WHOM.c.id, bindparam("followed_at", type_=BigInteger)).where(
                _WHO.c.username == bindparam("who_name"),
                _WHOM.c.username == bindparam("whom_name"),
                _WHO.c.id != _WHOM.c.id,
            ),
        )
        .on_conflict_do_nothing()
    )
    for dialect in (postgresql, sqlite)
}
_UNFOLLOW_BY_NAMES = constant(
    delete(Follower).where(col(Follower.who_id) == _WHO_ID, col(Follower.whom_id) == _WHOM_ID)
)
_UNFOLLOW = constant(
    delete(Follower).where(
        col(Follower.who_id) == bindparam("who_id"), col(Follower.whom_id) == bindparam("whom_id")
    )
)
_FOLLOWING_IDS = constant(
    select(col(Follower.whom_id)).where(col(Follower.who_id) == bindparam("who_id"))
)
_NAMED = User.__table__.alias("named")  # type: ignore[attr-defined]
# The named user joined with whom they follow: no row means no such user, one row of NULLs
# that they follow nobody; so a user's follows by name are one round trip either way.
_FOLLOWING_BY_NAME = constant(
    select(*USER_COLUMNS)
    .select_from(_NAMED)
    .outerjoin(Follower, col(Follower.who_id) == _NAMED.c.id)
    .outerjoin(User, col(User.id) == col(Follower.whom_id))
    .where(_NAMED.c.username == bindparam("username"))
    .order_by(col(Follower.followed_at), col(Follower.whom_id))
    .limit(bindparam("limit"))
)


def follow(tx: Tx, *, who: User, whom: User | str) -> User:
    """``who`` follows ``whom`` (a user, or a name to look up); following twice changes
    nothing."""
    whom = require_user(tx, whom) if isinstance(whom, str) else whom
    if whom.id == who.id:
        raise Invalid("You cannot follow yourself", field="username")
    values = {"who_id": who.id, "whom_id": whom.id, "followed_at": int(time.time())}
    tx.write((_FOLLOW[tx.dialect.name], values))
    tx.record("followed")
    return whom


def unfollow(tx: Tx, *, who: User, whom: User | str) -> User:
    """``who`` no longer follows ``whom`` (a user, or a name to look up); unfollowing a
    stranger changes nothing."""
    whom = require_user(tx, whom) if isinstance(whom, str) else whom
    tx.write((_UNFOLLOW, {"who_id": who.id, "whom_id": whom.id}))
    tx.record("unfollowed")
    return whom


def follow_by_names(tx: Tx, *, who_name: str, whom_name: str) -> None:
    """``who_name`` follows ``whom_name``, in one round trip (the simulator's API): unknown
    names are NotFound, the follower's first; following oneself changes nothing."""
    if _change_by_names(tx, _FOLLOW_BY_NAMES[tx.dialect.name], who_name, whom_name):
        tx.record("followed")


def unfollow_by_names(tx: Tx, *, who_name: str, whom_name: str) -> None:
    """``who_name`` no longer follows ``whom_name``, in one round trip; unknown names are
    NotFound, the follower's first."""
    _change_by_names(tx, _UNFOLLOW_BY_NAMES, who_name, whom_name)
    tx.record("unfollowed")


def _change_by_names(tx: Tx, change: Constant, who_name: str, whom_name: str) -> bool:
    """Run ``change`` and read both ids in one write; whether the two are different users."""
    if not is_plausible_username(who_name):
        raise no_such_user(who_name)
    if not is_plausible_username(whom_name):
        require_user(tx, who_name)
        raise no_such_user(whom_name)
    names = {"who_name": who_name, "whom_name": whom_name}
    values = {**names, "followed_at": int(time.time())}
    row: Any = tx.write((change, values), (_PAIR_IDS, names)).one()
    who_id, whom_id = row
    if who_id is None:
        raise no_such_user(who_name)
    if whom_id is None:
        raise no_such_user(whom_name)
    return bool(who_id != whom_id)


def following_ids(tx: Tx, *, who_id: int) -> set[int]:
    return {row[0] for row in tx.execute(_FOLLOWING_IDS, {"who_id": who_id})}


def following_by_name(tx: Tx, *, username: str, limit: int) -> list[User]:
    """The first ``limit`` users the user with this name follows, in one statement when they
    follow anyone; an unknown name is NotFound."""
    if not is_plausible_username(username):
        raise no_such_user(username)
    rows = tx.execute(_FOLLOWING_BY_NAME, {"username": username, "limit": max(limit, 1)}).all()
    if not rows:
        raise no_such_user(username)
    return [user_from_row(row) for row in rows[:limit] if row[0] is not None]


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


@cache
def _people_statement(followers: bool, after: bool, before: bool, backward: bool) -> Constant:
    """Keyset-paginated on ``(followed_at, the other user's id)``, oldest follow first;
    backwards (``last``) reads the reverse order. Built once per shape."""
    mine, theirs = (
        (col(Follower.whom_id), col(Follower.who_id))
        if followers
        else (col(Follower.who_id), col(Follower.whom_id))
    )
    key = tuple_(col(Follower.followed_at), theirs)
    conditions = [mine == bindparam("user_id")]
    if after:
        conditions.append(key > tuple_(bindparam("after_at"), bindparam("after_id")))
    if before:
        conditions.append(key < tuple_(bindparam("before_at"), bindparam("before_id")))
    order = (
        (col(Follower.followed_at).desc(), theirs.desc())
        if backward
        else (col(Follower.followed_at).asc(), theirs.asc())
    )
    return constant(
        select(*USER_COLUMNS, col(Follower.followed_at))
        .join(Follower, theirs == col(User.id))
        .where(*conditions)
        .order_by(*order)
        .limit(bindparam("limit"))
    )


def _people(
    tx: Tx,
    *,
    user_id: int,
    followers: bool,
    limit: int,
    after: str | None = None,
    before: str | None = None,
    backward: bool = False,
) -> PeoplePage:
    params: dict[str, Any] = {"user_id": user_id, "limit": limit + 1}
    if after is not None:
        params["after_at"], params["after_id"] = cursors.decode(after, "after")
    if before is not None:
        params["before_at"], params["before_id"] = cursors.decode(before, "before")
    if limit <= 0:
        return PeoplePage(items=(), has_next=False)
    statement = _people_statement(followers, after is not None, before is not None, backward)
    rows = tx.execute(statement, params).all()
    items = [(user_from_row(row[:-1]), row[-1]) for row in rows[:limit]]
    more = len(rows) > limit
    if backward:
        items.reverse()
        return PeoplePage(items=items, has_next=False, has_previous=more)
    return PeoplePage(items=items, has_next=more)


def following_page(
    tx: Tx,
    *,
    user_id: int,
    limit: int,
    after: str | None = None,
    before: str | None = None,
    backward: bool = False,
) -> PeoplePage:
    """The users ``user_id`` follows, in the order they were followed."""
    return _people(
        tx,
        user_id=user_id,
        followers=False,
        limit=limit,
        after=after,
        before=before,
        backward=backward,
    )


def followers_page(
    tx: Tx,
    *,
    user_id: int,
    limit: int,
    after: str | None = None,
    before: str | None = None,
    backward: bool = False,
) -> PeoplePage:
    """The users who follow ``user_id``, in the order they started."""
    return _people(
        tx,
        user_id=user_id,
        followers=True,
        limit=limit,
        after=after,
        before=before,
        backward=backward,
    )


def follows_among(
    tx: Tx, *, who_ids: Sequence[int], whom_ids: Sequence[int]
) -> set[tuple[int, int]]:
    """The ``(who, whom)`` pairs in which one of ``who_ids`` follows one of ``whom_ids``,
    in one statement: who, of the people watching their home timeline, follows an author."""
    if not who_ids or not whom_ids:
        return set()
    statement = select(col(Follower.who_id), col(Follower.whom_id)).where(
        col(Follower.who_id).in_(sorted(set(who_ids))),
        col(Follower.whom_id).in_(sorted(set(whom_ids))),
    )
    return {(int(who), int(whom)) for who, whom in tx.execute(statement).all()}
