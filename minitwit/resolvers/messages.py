"""Posting and moderating messages."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import BigInteger, Text, bindparam, false, insert, select, update
from sqlmodel import col

from minitwit.db.changes import Change, ChangeKind
from minitwit.db.database import Tx
from minitwit.db.statements import constant
from minitwit.models import Message, User
from minitwit.resolvers.accounts import is_plausible_username, no_such_user, require_user
from minitwit.resolvers.errors import Forbidden, Invalid, NotFound
from minitwit.resolvers.timelines import MessageView, message_by_id
from minitwit.resolvers.validation import is_storable

DEFAULT_MAX_LENGTH = 1000

_POST = constant(
    insert(Message)
    .values(
        author_id=bindparam("author_id"),
        text=bindparam("text"),
        pub_date=bindparam("pub_date"),
        flagged=False,
    )
    .returning(col(Message.id))
)
_POST_AS = constant(
    insert(Message)
    .from_select(
        ["author_id", "text", "pub_date", "flagged"],
        select(
            col(User.id),
            bindparam("text", type_=Text),
            bindparam("pub_date", type_=BigInteger),
            false(),
        ).where(col(User.username) == bindparam("username")),
    )
    .returning(col(Message.id), col(Message.author_id))
)
_SET_FLAGGED = constant(
    update(Message)
    .where(col(Message.id) == bindparam("message_id"))
    .values(
        flagged=bindparam("flagged"),
        flagged_by=bindparam("flagged_by"),
        flagged_at=bindparam("flagged_at"),
    )
    .returning(col(Message.id), col(Message.author_id))
)


def post_message(
    tx: Tx,
    *,
    author: User,
    text: str,
    max_length: int = DEFAULT_MAX_LENGTH,
    allow_empty: bool = False,
) -> MessageView:
    """Post ``text`` as ``author``. ``allow_empty``: the simulator's API accepts empty text."""
    validate_text(text, max_length=max_length, allow_empty=allow_empty)
    if author.id is None:
        raise ValueError("the author must be a stored user")
    pub_date = int(time.time())
    values = {"author_id": author.id, "text": text, "pub_date": pub_date}
    message_id = tx.write((_POST, values)).scalar_one()
    tx.record("message_posted")
    tx.announce(Change(ChangeKind.POSTED, message_id, author.id))
    return MessageView(
        id=message_id,
        text=text,
        pub_date=pub_date,
        flagged=False,
        author_id=author.id,
        author_username=author.username,
        author_email=author.email,
        author_is_moderator=author.is_moderator,
    )


def validate_text(text: str, *, max_length: int, allow_empty: bool) -> None:
    if not allow_empty and not text.strip():
        raise Invalid("You have to enter a message", field="text")
    if len(text) > max_length:
        raise Invalid(f"A message can have at most {max_length} characters", field="text")
    if not is_storable(text):
        raise Invalid("The message contains characters that cannot be stored", field="text")


def post_message_as(
    tx: Tx,
    *,
    username: str,
    text: str,
    max_length: int = DEFAULT_MAX_LENGTH,
    allow_empty: bool = False,
) -> int:
    """Post ``text`` as the user named ``username``, in one statement (the simulator's API);
    the new message's id. An unknown name is NotFound, before any problem with the text."""
    try:
        validate_text(text, max_length=max_length, allow_empty=allow_empty)
    except Invalid:
        require_user(tx, username)
        raise
    if not is_plausible_username(username):
        raise no_such_user(username)
    values = {"username": username, "text": text, "pub_date": int(time.time())}
    row: Any = tx.write((_POST_AS, values)).first()
    if row is None:
        raise no_such_user(username)
    message_id, author_id = row
    tx.record("message_posted")
    tx.announce(Change(ChangeKind.POSTED, message_id, author_id))
    return int(message_id)


def set_flagged(tx: Tx, *, message_id: int, flagged: bool, moderator: User | None) -> MessageView:
    """Flag or unflag a message. ``moderator`` None means the operator, from the CLI."""
    if moderator is not None and not moderator.is_moderator:
        raise Forbidden("Only moderators can flag and unflag messages")
    values = {
        "message_id": message_id,
        "flagged": flagged,
        "flagged_by": moderator.id if (flagged and moderator is not None) else None,
        "flagged_at": int(time.time()) if flagged else None,
    }
    row: Any = tx.write((_SET_FLAGGED, values)).first()
    if row is None:
        raise NotFound(f"There is no message {message_id}", field="id")
    tx.record("message_flagged" if flagged else "message_unflagged")
    tx.announce(Change(ChangeKind.FLAGGED if flagged else ChangeKind.UNFLAGGED, message_id, row[1]))
    view = message_by_id(tx, message_id)
    if view is None:
        raise NotFound(f"There is no message {message_id}", field="id")
    return view
