"""Who follows whom."""

from __future__ import annotations

import time

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from minitwit.db import Tx
from minitwit.models import USERNAME_MAX_LENGTH, Follower, User
from minitwit.resolvers.accounts import USER_COLUMNS, no_such_user, require_user, user_from_row
from minitwit.resolvers.errors import Invalid
from minitwit.resolvers.validation import is_storable

FOLLOW_LIST_MAX = 10_000

_FOLLOW = {
    dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(Follower)
    .values(
        who_id=bindparam("who_id"),
        whom_id=bindparam("whom_id"),
        followed_at=bindparam("followed_at"),
    )
    .on_conflict_do_nothing()
    for dialect in (postgresql, sqlite)
}
_UNFOLLOW = delete(Follower).where(
    col(Follower.who_id) == bindparam("who_id"), col(Follower.whom_id) == bindparam("whom_id")
)
_FOLLOWING_IDS = select(col(Follower.whom_id)).where(col(Follower.who_id) == bindparam("who_id"))
_FOLLOWING = (
    select(*USER_COLUMNS)
    .join(Follower, col(Follower.whom_id) == col(User.id))
    .where(col(Follower.who_id) == bindparam("user_id"))
    .order_by(col(Follower.followed_at), col(Follower.whom_id))
    .limit(bindparam("limit"))
)
_NAMED = User.__table__.alias("named")  # type: ignore[attr-defined]
# The named user joined with whom they follow: no row means no such user, one row of NULLs
# that they follow nobody; so a user's follows by name are one round trip either way.
_FOLLOWING_BY_NAME = (
    select(*USER_COLUMNS)
    .select_from(_NAMED)
    .outerjoin(Follower, col(Follower.who_id) == _NAMED.c.id)
    .outerjoin(User, col(User.id) == col(Follower.whom_id))
    .where(_NAMED.c.username == bindparam("username"))
    .order_by(col(Follower.followed_at), col(Follower.whom_id))
    .limit(bindparam("limit"))
)
_FOLLOWERS = (
    select(*USER_COLUMNS)
    .join(Follower, col(Follower.who_id) == col(User.id))
    .where(col(Follower.whom_id) == bindparam("user_id"))
    .order_by(col(Follower.followed_at), col(Follower.who_id))
    .limit(bindparam("limit"))
)


def follow(tx: Tx, *, who: User, whom: User | str) -> User:
    """``who`` follows ``whom`` (a user, or a name to look up); following twice changes
    nothing."""
    whom = require_user(tx, whom) if isinstance(whom, str) else whom
    if whom.id == who.id:
        raise Invalid("You cannot follow yourself")
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


def following_ids(tx: Tx, *, who_id: int) -> set[int]:
    return {row[0] for row in tx.fetch(_FOLLOWING_IDS, {"who_id": who_id})}


def following(tx: Tx, *, user_id: int, limit: int = FOLLOW_LIST_MAX) -> list[User]:
    """The users ``user_id`` follows, in the order they were followed."""
    rows = tx.fetch(_FOLLOWING, {"user_id": user_id, "limit": limit})
    return [user_from_row(row) for row in rows]


def following_by_name(tx: Tx, *, username: str, limit: int = FOLLOW_LIST_MAX) -> list[User]:
    """``following`` of the user with this name, in one statement when they follow anyone;
    an unknown name is NotFound."""
    if not username or len(username) > USERNAME_MAX_LENGTH or not is_storable(username):
        raise no_such_user(username)
    rows = tx.fetch(_FOLLOWING_BY_NAME, {"username": username, "limit": max(limit, 1)}).all()
    if not rows:
        raise no_such_user(username)
    return [user_from_row(row) for row in rows[:limit] if row[0] is not None]


def followers(tx: Tx, *, user_id: int, limit: int = FOLLOW_LIST_MAX) -> list[User]:
    """The users who follow ``user_id``, in the order they started."""
    rows = tx.fetch(_FOLLOWERS, {"user_id": user_id, "limit": limit})
    return [user_from_row(row) for row in rows]
