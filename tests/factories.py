"""Test data: users and messages, made through the same resolvers the service uses."""

from __future__ import annotations

from sqlmodel import Session

from minitwit.db.database import Database
from minitwit.models import Message, User
from minitwit.resolvers import accounts

PASSWORD = "correct horse"


def make_user(db: Database, username: str, *, moderator: bool = False) -> User:
    user = accounts.sign_up(
        db, username=username, email=f"{username}@example.org", password=PASSWORD
    )
    if moderator:
        with db.transaction(write=True) as tx:
            user = accounts.set_moderator(tx, username=username)
    return user


def make_message(db: Database, author: User, text: str, pub_date: int) -> int:
    """A message at a chosen time (the resolver stamps the clock's, tests need control)."""
    if author.id is None:
        raise ValueError("author must be stored")
    with db.session(write=True) as session:
        message = Message(author_id=author.id, text=text, pub_date=pub_date)
        session.add(message)
        session.flush()
        if message.id is None:
            raise RuntimeError("a flushed message has an id")
        return message.id


def session_of(db: Database) -> Session:
    return Session(db.engine, expire_on_commit=False)
