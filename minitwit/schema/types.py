"""GraphQL object types. They are built from resolver rows and kept separate from the tables."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import strawberry
from strawberry.types import Info

from minitwit.models import User as UserRow
from minitwit.resolvers import social, timelines
from minitwit.resolvers.errors import Invalid
from minitwit.schema.context import Context

GRAVATAR_MAX_SIZE = 2048
FOLLOW_LIST_DEFAULT = 100
FOLLOW_LIST_MAX = 1000


def gravatar_url(email: str, size: int) -> str:
    digest = hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()
    return f"https://www.gravatar.com/avatar/{digest}?d=identicon&s={size}"


@strawberry.type(description="A MiniTwit user.")
class User:
    id: strawberry.Private[int]
    email: strawberry.Private[str]
    username: str
    is_moderator: bool

    @classmethod
    def from_row(cls, row: UserRow) -> User:
        if row.id is None:
            raise ValueError("a stored user has an id")
        return cls(id=row.id, email=row.email, username=row.username, is_moderator=row.is_moderator)

    @strawberry.field(description="The user's Gravatar image (an identicon if they have none).")
    def gravatar_url(self, size: int = 48) -> str:
        return user_gravatar_url(self, size)

    @strawberry.field(description="The user's messages, newest first.")
    def messages(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> MessageConnection:
        ctx = info.context
        limit = timelines.clamp_first(
            first, default=ctx.settings.page_size, maximum=ctx.settings.max_page_size
        )
        page = ctx.query(timelines.user_timeline, user_id=self.id, limit=limit, after=after)
        return MessageConnection.from_page(page)

    @strawberry.field(description="The users who follow this user.")
    def followers(self, info: Info[Context, None], first: int | None = None) -> list[User]:
        limit = _follow_limit(first)
        rows = info.context.query(social.followers, user_id=self.id, limit=limit)
        return [User.from_row(row) for row in rows]

    @strawberry.field(description="The users this user follows.")
    def following(self, info: Info[Context, None], first: int | None = None) -> list[User]:
        limit = _follow_limit(first)
        rows = info.context.query(social.following, user_id=self.id, limit=limit)
        return [User.from_row(row) for row in rows]

    @strawberry.field(description="Whether the signed-in user follows this user.")
    def followed_by_viewer(self, info: Info[Context, None]) -> bool:
        return self.id in info.context.viewer_following_ids()

    @strawberry.field(description="Whether this user is the signed-in user.")
    def is_viewer(self, info: Info[Context, None]) -> bool:
        viewer = info.context.viewer
        return viewer is not None and viewer.id == self.id


def user_gravatar_url(user: User, size: int) -> str:
    if not 1 <= size <= GRAVATAR_MAX_SIZE:
        raise Invalid(f"size must be between 1 and {GRAVATAR_MAX_SIZE}")
    return gravatar_url(user.email, size)


def _resolve_gravatar_url(source: User, info: Any, size: int = 48) -> str:
    return user_gravatar_url(source, size)


# Fields resolved once per item of a list, given plain graphql-core resolvers: Strawberry's
# wrapper converts arguments and builds its Info on every call, which costs more than the
# field itself. Each must behave exactly as its Strawberry resolver (same checks, same errors).
FAST_RESOLVERS: dict[tuple[str, str], Any] = {("User", "gravatarUrl"): _resolve_gravatar_url}


def _follow_limit(first: int | None) -> int:
    return timelines.clamp_first(first, default=FOLLOW_LIST_DEFAULT, maximum=FOLLOW_LIST_MAX)


@strawberry.type(description="A message, as a timeline shows it.")
class Message:
    id: strawberry.ID
    text: str
    pub_date: datetime = strawberry.field(description="When it was posted (UTC).")
    author: User
    flagged: bool

    @classmethod
    def from_view(cls, view: timelines.MessageView) -> Message:
        return cls(
            id=strawberry.ID(str(view.id)),
            text=view.text,
            pub_date=datetime.fromtimestamp(view.pub_date, tz=UTC),
            author=User(
                id=view.author_id,
                email=view.author_email,
                username=view.author_username,
                is_moderator=view.author_is_moderator,
            ),
            flagged=view.flagged,
        )


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="A page of messages, newest first.")
class MessageConnection:
    nodes: list[Message]
    page_info: PageInfo

    @classmethod
    def from_page(cls, page: timelines.Page) -> MessageConnection:
        return cls(
            nodes=[Message.from_view(view) for view in page.items],
            page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor),
        )
