"""Sign-up, sign-in and user look-ups."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from minitwit import passwords
from minitwit.db.database import Step, Tx
from minitwit.db.statements import constant
from minitwit.models import EMAIL_MAX_LENGTH, USERNAME_MAX_LENGTH, User
from minitwit.resolvers import throttle
from minitwit.resolvers.errors import Conflict, Invalid, NotFound
from minitwit.resolvers.transactions import Transactions
from minitwit.resolvers.validation import has_control_characters, is_storable

PASSWORD_MAX_LENGTH = 1024

USERNAME_TAKEN = "The username is already taken"

USER_COLUMNS = (
    col(User.id),
    col(User.username),
    col(User.email),
    col(User.pw_hash),
    col(User.is_moderator),
    col(User.created_at),
)
_BY_NAME = constant(select(*USER_COLUMNS).where(col(User.username) == bindparam("username")))
_BY_IDS = select(*USER_COLUMNS).where(col(User.id).in_(bindparam("user_ids", expanding=True)))
_CREATE = constant(
    insert(User)
    .values(
        username=bindparam("username"),
        email=bindparam("email"),
        pw_hash=bindparam("pw_hash"),
        is_moderator=False,
        created_at=bindparam("created_at"),
    )
    .returning(*USER_COLUMNS)
)
_REHASH = constant(
    update(User)
    .where(col(User.id) == bindparam("user_id"), col(User.pw_hash) == bindparam("old_hash"))
    .values(pw_hash=bindparam("new_hash"))
)
_SET_MODERATOR = constant(
    update(User)
    .where(col(User.username) == bindparam("name"))
    .values(is_moderator=bindparam("moderator"))
    .returning(*USER_COLUMNS)
)


def user_from_row(row: Any) -> User:
    """A ``User`` from a row of ``USER_COLUMNS``."""
    user_id, username, email, pw_hash, is_moderator, created_at = row
    return User(
        id=user_id,
        username=username,
        email=email,
        pw_hash=pw_hash,
        is_moderator=bool(is_moderator),
        created_at=created_at,
    )


def validate_registration(
    *, username: str, email: str, password: str, password2: str | None = None
) -> None:
    """The original's checks, in the original's order, plus bounds the original lacked."""
    validate_username(username)
    validate_email(email)
    if not password:
        raise Invalid("You have to enter a password", field="password")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise Invalid(
            f"The password can have at most {PASSWORD_MAX_LENGTH} characters", field="password"
        )
    if not is_storable(password):
        raise Invalid("The password contains characters that cannot be stored", field="password")
    if password2 is not None and password != password2:
        raise Invalid("The two passwords do not match", field="password2")


def validate_username(username: str) -> None:
    if not username:
        raise Invalid("You have to enter a username", field="username")
    if len(username) > USERNAME_MAX_LENGTH:
        raise Invalid(
            f"The username can have at most {USERNAME_MAX_LENGTH} characters", field="username"
        )
    if not is_storable(username) or has_control_characters(username) or "/" in username:
        raise Invalid("The username may not contain '/' or control characters", field="username")
    if username != username.strip():
        raise Invalid("The username may not start or end with a space", field="username")


def validate_email(email: str) -> None:
    if not email or "@" not in email:
        raise Invalid("You have to enter a valid email address", field="email")
    if len(email) > EMAIL_MAX_LENGTH or not is_storable(email) or has_control_characters(email):
        raise Invalid("You have to enter a valid email address", field="email")


def sign_up(
    transactions: Transactions,
    *,
    username: str,
    email: str,
    password: str,
    password2: str | None = None,
    attempt: throttle.Attempt | None = None,
) -> User:
    """Create a user. ``password2`` is the form's repetition; the simulator sends none.
    ``attempt`` counts the sign-up against its address (the simulator's are not counted);
    it is counted before the name is looked up, so asking which names are taken is too."""
    validate_registration(username=username, email=email, password=password, password2=password2)
    if attempt is not None:
        with transactions.write() as tx:
            throttle.count_sign_up(tx, attempt)
    with transactions.read() as tx:
        if user_by_name(tx, username) is not None:
            raise Conflict(USERNAME_TAKEN, field="username")
    pw_hash = passwords.hash_password(password)
    with transactions.write() as tx:
        return create_user(tx, username=username, email=email, pw_hash=pw_hash)


def create_user(tx: Tx, *, username: str, email: str, pw_hash: str) -> User:
    """Store a user whose details are valid; a name taken meanwhile is a Conflict."""
    values = {
        "username": username,
        "email": email,
        "pw_hash": pw_hash,
        "created_at": int(time.time()),
    }
    try:
        row = tx.write((_CREATE, values)).one()
    except IntegrityError:
        raise Conflict(USERNAME_TAKEN, field="username") from None
    tx.record("user_registered")
    return user_from_row(row)


def sign_in(
    transactions: Transactions,
    *,
    username: str,
    password: str,
    attempt: throttle.Attempt | None = None,
) -> User:
    """The user whose credentials these are; upgrades legacy hashes on success.

    An unknown user costs a verification all the same, so timing tells no names. ``attempt``
    counts the sign-in against the username and the address first (TooManyRequests over a
    limit, before any password is checked); a success clears the username's count.
    """
    if attempt is not None:
        with transactions.write() as tx:
            throttle.count_sign_in(tx, attempt, username[: USERNAME_MAX_LENGTH + 1])
    with transactions.read() as tx:
        user = user_by_name(tx, username)
    if user is None:
        passwords.burn_verification_time(password[:PASSWORD_MAX_LENGTH])
        raise Invalid("Invalid username", field="username")
    if len(password) > PASSWORD_MAX_LENGTH or not passwords.verify_password(user.pw_hash, password):
        raise Invalid("Invalid password", field="password")
    steps: list[Step] = []
    if attempt is not None:
        steps.append(throttle.forgive_sign_in(username))
    if passwords.needs_rehash(user.pw_hash):
        new_hash = passwords.hash_password(password)
        steps.append(
            (_REHASH, {"user_id": user.id, "old_hash": user.pw_hash, "new_hash": new_hash})
        )
        user.pw_hash = new_hash
    if steps:
        with transactions.write() as tx:
            tx.write(*steps)
    return user


def users_by_ids(tx: Tx, user_ids: Sequence[int]) -> dict[int, User]:
    """The users with these ids, by id, in one statement."""
    if not user_ids:
        return {}
    rows = tx.execute(_BY_IDS, {"user_ids": list(user_ids)})
    return {user.id: user for user in map(user_from_row, rows) if user.id is not None}


def is_plausible_username(username: str) -> bool:
    """Whether a user could have this name (else no query is needed to know there is none)."""
    return bool(username) and len(username) <= USERNAME_MAX_LENGTH and is_storable(username)


def user_by_name(tx: Tx, username: str) -> User | None:
    if not is_plausible_username(username):
        return None
    row = tx.execute(_BY_NAME, {"username": username}).first()
    return None if row is None else user_from_row(row)


def no_such_user(username: str) -> NotFound:
    return NotFound(f"There is no user {username!r}", field="username")


def require_user(tx: Tx, username: str) -> User:
    user = user_by_name(tx, username)
    if user is None:
        raise no_such_user(username)
    return user


def set_moderator(tx: Tx, *, username: str, moderator: bool = True) -> User:
    row = None
    if user_by_name(tx, username) is not None:
        row = tx.write((_SET_MODERATOR, {"name": username, "moderator": moderator})).first()
    if row is None:
        raise no_such_user(username)
    return user_from_row(row)
