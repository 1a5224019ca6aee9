"""Tables of MiniTwit.

Times are integer Unix seconds (UTC), as the original stores ``pub_date`` and the simulator's
REST contract sends it. Newest first is always ``pub_date DESC, id DESC``; the indexes below
serve exactly those orders.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, ForeignKey, Index, Integer, Text
from sqlmodel import Field, SQLModel

USERNAME_MAX_LENGTH = 64
EMAIL_MAX_LENGTH = 254
PASSWORD_HASH_MAX_LENGTH = 255

metadata = SQLModel.metadata


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=USERNAME_MAX_LENGTH, unique=True)
    email: str = Field(max_length=EMAIL_MAX_LENGTH)
    pw_hash: str = Field(max_length=PASSWORD_HASH_MAX_LENGTH)
    is_moderator: bool = Field(default=False)
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class Follower(SQLModel, table=True):
    """``who`` follows ``whom``; one row per pair."""

    __tablename__ = "followers"
    __table_args__ = (
        Index("ix_followers_whom_id", "whom_id"),
        CheckConstraint("who_id <> whom_id", name="ck_followers_not_self"),
    )

    who_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    )
    whom_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    )
    followed_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_pub_date_id", "pub_date", "id"),
        Index("ix_messages_author_pub_date_id", "author_id", "pub_date", "id"),
        Index(
            "ix_messages_flagged", "flagged_at", postgresql_where="flagged", sqlite_where="flagged"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    author_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    text: str = Field(sa_column=Column(Text, nullable=False))
    pub_date: int = Field(sa_column=Column(BigInteger, nullable=False))
    flagged: bool = Field(default=False)
    flagged_by: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    )
    flagged_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class SignIn(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored, so the
    table leaks no usable session. Signing out deletes the row and with it the cookie's power."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_user_id", "user_id"),
        Index("ix_sessions_expires_at", "expires_at"),
    )

    token_hash: str = Field(max_length=64, primary_key=True)
    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    expires_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class Latest(SQLModel, table=True):
    """The simulator's last received ``latest`` id: exactly one row, id 1."""

    __tablename__ = "latest"
    __table_args__ = (CheckConstraint("id = 1", name="ck_latest_single_row"),)

    id: int = Field(default=1, primary_key=True)
    value: int = Field(sa_column=Column(BigInteger, nullable=False))


class RateCounter(SQLModel, table=True):
    """Attempts in the current fixed window, per limit (``scope``) and per client or username
    (``key``, a SHA-256 hex digest, so the table holds no address or name in clear). One row per
    (scope, key), reused window after window; rows past ``expires_at`` are deleted as others
    are counted."""

    __tablename__ = "rate_counters"
    __table_args__ = (Index("ix_rate_counters_expires_at", "expires_at"),)

    scope: str = Field(max_length=32, primary_key=True)
    key: str = Field(max_length=64, primary_key=True)
    window_start: int = Field(sa_column=Column(BigInteger, nullable=False))
    hits: int = Field(sa_column=Column(Integer, nullable=False))
    expires_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class SimulatorAction(SQLModel, table=True):
    """A simulator write that committed: its ``latest`` id and a digest of its request (path
    and body), written in the same transaction as the write itself. A retry of the same write
    with the same ``latest`` collides with this row and changes nothing. Kept for an hour."""

    __tablename__ = "simulator_actions"
    __table_args__ = (Index("ix_simulator_actions_received_at", "received_at"),)

    latest: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    digest: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    received_at: int = Field(sa_column=Column(BigInteger, nullable=False))
