"""Sign-up, sign-in and user look-ups."""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from minitwit import passwords
from minitwit.models import EMAIL_MAX_LENGTH, USERNAME_MAX_LENGTH, User
from minitwit.resolvers.errors import Conflict, Invalid, NotFound
from minitwit.resolvers.transactions import Transactions
from minitwit.resolvers.validation import has_control_characters, is_storable

PASSWORD_MAX_LENGTH = 1024

USERNAME_TAKEN = "The username is already taken"


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
) -> User:
    """Create a user. ``password2`` is the form's repetition; the simulator sends none."""
    validate_registration(username=username, email=email, password=password, password2=password2)
    with transactions.read() as session:
        if user_by_name(session, username) is not None:
            raise Conflict(USERNAME_TAKEN, field="username")
    pw_hash = passwords.hash_password(password)
    with transactions.write() as session:
        return create_user(session, username=username, email=email, pw_hash=pw_hash)


def create_user(session: Session, *, username: str, email: str, pw_hash: str) -> User:
    """Store a user whose details are valid; a name taken meanwhile is a Conflict."""
    user = User(username=username, email=email, pw_hash=pw_hash, created_at=int(time.time()))
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(USERNAME_TAKEN, field="username") from None
    return user


def sign_in(transactions: Transactions, *, username: str, password: str) -> User:
    """The user whose credentials these are; upgrades legacy hashes on success.

    An unknown user costs a verification all the same, so timing tells no names.
    """
    with transactions.read() as session:
        user = user_by_name(session, username)
    if user is None:
        passwords.burn_verification_time(password[:PASSWORD_MAX_LENGTH])
        raise Invalid("Invalid username", field="username")
    if len(password) > PASSWORD_MAX_LENGTH or not passwords.verify_password(user.pw_hash, password):
        raise Invalid("Invalid password", field="password")
    if passwords.needs_rehash(user.pw_hash):
        new_hash = passwords.hash_password(password)
        with transactions.write() as session:
            session.connection().execute(
                update(User)
                .where(col(User.id) == user.id, col(User.pw_hash) == user.pw_hash)
                .values(pw_hash=new_hash)
            )
        user.pw_hash = new_hash
    return user


def users_by_ids(session: Session, user_ids: Sequence[int]) -> dict[int, User]:
    """The users with these ids, by id, in one statement."""
    if not user_ids:
        return {}
    rows = session.exec(select(User).where(col(User.id).in_(user_ids)))
    return {user.id: user for user in rows if user.id is not None}


def user_by_name(session: Session, username: str) -> User | None:
    if not username or len(username) > USERNAME_MAX_LENGTH or not is_storable(username):
        return None
    return session.exec(select(User).where(User.username == username)).first()


def require_user(session: Session, username: str) -> User:
    user = user_by_name(session, username)
    if user is None:
        raise NotFound(f"There is no user {username!r}", field="username")
    return user


def set_moderator(session: Session, *, username: str, moderator: bool = True) -> User:
    user = require_user(session, username)
    user.is_moderator = moderator
    session.add(user)
    session.flush()
    return user
