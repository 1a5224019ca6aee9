"""Who is signed in where: one row per signed-in browser, found by the cookie's token."""

from __future__ import annotations

import hashlib
import secrets
import time

from sqlalchemy import bindparam, delete, insert, select
from sqlmodel import col

from minitwit.db.database import Tx
from minitwit.db.statements import constant
from minitwit.models import SignIn, User
from minitwit.resolvers.accounts import USER_COLUMNS, user_from_row

TOKEN_BYTES = 32

_DELETE_EXPIRED = constant(delete(SignIn).where(col(SignIn.expires_at) <= bindparam("now")))
_START = constant(
    insert(SignIn).values(
        token_hash=bindparam("token_hash"),
        user_id=bindparam("user_id"),
        created_at=bindparam("now"),
        expires_at=bindparam("expires_at"),
    )
)
_USER_FOR = constant(
    select(*USER_COLUMNS)
    .join(SignIn, col(SignIn.user_id) == col(User.id))
    .where(
        col(SignIn.token_hash) == bindparam("token_hash"),
        col(SignIn.expires_at) > bindparam("now"),
    )
)
_END = constant(delete(SignIn).where(col(SignIn.token_hash) == bindparam("token_hash")))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def start(tx: Tx, *, user_id: int, max_age: int) -> str:
    """Sign ``user_id`` in for ``max_age`` seconds; returns the token for the cookie."""
    now = int(time.time())
    token = secrets.token_urlsafe(TOKEN_BYTES)
    values = {"token_hash": _digest(token), "user_id": user_id, "now": now}
    # Expired sign-ins of everyone go here: cheap on the index, and no timer needed.
    tx.write((_DELETE_EXPIRED, {"now": now}), (_START, {**values, "expires_at": now + max_age}))
    tx.record("signed_in")
    return token


def user_for(tx: Tx, token: str) -> User | None:
    """The user a token signs in, while it has not expired or been ended."""
    params = {"token_hash": _digest(token), "now": int(time.time())}
    row = tx.execute(_USER_FOR, params).first()
    return None if row is None else user_from_row(row)


def end(tx: Tx, token: str) -> None:
    tx.write((_END, {"token_hash": _digest(token)}))
