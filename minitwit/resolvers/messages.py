"""Posting and moderating messages."""

from __future__ import annotations

import time

from sqlmodel import Session

from minitwit.models import Message, User
from minitwit.resolvers.errors import Forbidden, Invalid, NotFound
from minitwit.resolvers.timelines import MessageView, message_by_id
from minitwit.resolvers.validation import is_storable

DEFAULT_MAX_LENGTH = 1000


def post_message(
    session: Session,
    *,
    author: User,
    text: str,
    max_length: int = DEFAULT_MAX_LENGTH,
    allow_empty: bool = False,
) -> MessageView:
    """Post ``text`` as ``author``. ``allow_empty``: the simulator's API accepts empty text."""
    if not allow_empty and not text.strip():
        raise Invalid("You have to enter a message", field="text")
    if len(text) > max_length:
        raise Invalid(f"A message can have at most {max_length} characters", field="text")
    if not is_storable(text):
        raise Invalid("The message contains characters that cannot be stored", field="text")
    if author.id is None:
        raise ValueError("the author must be a stored user")
    message = Message(author_id=author.id, text=text, pub_date=int(time.time()))
    session.add(message)
    session.flush()
    if message.id is None:
        raise RuntimeError("a flushed message has an id")
    return MessageView(
        id=message.id,
        text=message.text,
        pub_date=message.pub_date,
        flagged=False,
        author_id=author.id,
        author_username=author.username,
        author_email=author.email,
        author_is_moderator=author.is_moderator,
    )


def set_flagged(
    session: Session, *, message_id: int, flagged: bool, moderator: User | None
) -> MessageView:
    """Flag or unflag a message. ``moderator`` None means the operator, from the CLI."""
    if moderator is not None and not moderator.is_moderator:
        raise Forbidden("Only moderators can flag and unflag messages")
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound(f"There is no message {message_id}", field="id")
    message.flagged = flagged
    message.flagged_by = moderator.id if (flagged and moderator is not None) else None
    message.flagged_at = int(time.time()) if flagged else None
    session.add(message)
    session.flush()
    view = message_by_id(session, message_id)
    if view is None:
        raise NotFound(f"There is no message {message_id}")
    return view
