"""Test data: users and messages, made through the same resolvers the service uses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlmodel import Session

from minitwit.db.database import Database, Tx
from minitwit.models import Message, User
from minitwit.resolvers import accounts

PASSWORD = "correct horse"


@contextmanager
def orm_session(db: Database, *, write: bool = False) -> Iterator[Session]:
    """An ORM session in a real transaction that commits when the block ends normally: for
    setting up and inspecting a test's data, never what the service itself uses."""
    bind = db.transactional_engine if write or db.batched else db.engine
    with Session(bind, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


class Units:
    """A ``Database`` as the ``Transactions`` that sign-up and sign-in take
    (``minitwit.resolvers.transactions``): the faces pass their own, tests pass this."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def read(self) -> AbstractContextManager[Tx]:
        return self.db.unit()

    def write(self) -> AbstractContextManager[Tx]:
        return self.db.unit(write=True)


def make_user(db: Database, username: str, *, moderator: bool = False) -> User:
    user = accounts.sign_up(
        Units(db), username=username, email=f"{username}@example.org", password=PASSWORD
    )
    if moderator:
        with db.unit(write=True) as tx:
            user = accounts.set_moderator(tx, username=username)
    return user


def make_message(db: Database, author: User, text: str, pub_date: int) -> int:
    """A message at a chosen time (the resolver stamps the clock's, tests need control)."""
    if author.id is None:
        raise ValueError("author must be stored")
    with orm_session(db, write=True) as session:
        message = Message(author_id=author.id, text=text, pub_date=pub_date)
        session.add(message)
        session.flush()
        if message.id is None:
            raise RuntimeError("a flushed message has an id")
        return message.id


def session_of(db: Database) -> Session:
    return Session(db.engine, expire_on_commit=False)
