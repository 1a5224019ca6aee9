"""Who is signed in where: one row per signed-in browser, found by the cookie's token."""

from __future__ import annotations

import hashlib
import secrets
import time

from sqlalchemy import delete, select
from sqlmodel import Session, col

from minitwit.models import SignIn, User

TOKEN_BYTES = 32


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def start(session: Session, *, user_id: int, max_age: int) -> str:
    """Sign ``user_id`` in for ``max_age`` seconds; returns the token for the cookie."""
    now = int(time.time())
    token = secrets.token_urlsafe(TOKEN_BYTES)
    # Expired sign-ins of everyone go here: cheap on the index, and no timer needed.
    session.connection().execute(delete(SignIn).where(col(SignIn.expires_at) <= now))
    session.add(
        SignIn(token_hash=_digest(token), user_id=user_id, created_at=now, expires_at=now + max_age)
    )
    session.flush()
    return token


def user_for(session: Session, token: str) -> User | None:
    """The user a token signs in, while it has not expired or been ended."""
    statement = (
        select(User)
        .join(SignIn, col(SignIn.user_id) == col(User.id))
        .where(col(SignIn.token_hash) == _digest(token), col(SignIn.expires_at) > int(time.time()))
    )
    return session.scalars(statement).first()


def end(session: Session, token: str) -> None:
    session.connection().execute(delete(SignIn).where(col(SignIn.token_hash) == _digest(token)))
