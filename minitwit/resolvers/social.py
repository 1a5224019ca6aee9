"""Who follows whom."""

from __future__ import annotations

import time

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from minitwit.models import Follower, User
from minitwit.resolvers.accounts import require_user
from minitwit.resolvers.errors import Invalid

FOLLOW_LIST_MAX = 10_000


def follow(session: Session, *, who: User, whom_name: str) -> User:
    """``who`` follows ``whom_name``; following twice changes nothing."""
    whom = require_user(session, whom_name)
    if whom.id == who.id:
        raise Invalid("You cannot follow yourself")
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


def following(session: Session, *, user_id: int, limit: int = FOLLOW_LIST_MAX) -> list[User]:
    """The users ``user_id`` follows, in the order they were followed."""
    statement = (
        select(User)
        .join(Follower, col(Follower.whom_id) == col(User.id))
        .where(col(Follower.who_id) == user_id)
        .order_by(col(Follower.followed_at), col(Follower.whom_id))
        .limit(limit)
    )
    return list(session.scalars(statement))


def followers(session: Session, *, user_id: int, limit: int = FOLLOW_LIST_MAX) -> list[User]:
    """The users who follow ``user_id``, in the order they started."""
    statement = (
        select(User)
        .join(Follower, col(Follower.who_id) == col(User.id))
        .where(col(Follower.whom_id) == user_id)
        .order_by(col(Follower.followed_at), col(Follower.who_id))
        .limit(limit)
    )
    return list(session.scalars(statement))
