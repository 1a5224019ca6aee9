"""GraphQL object types. They are built from resolver rows and kept separate from the tables.

``User`` and ``Message`` are Relay nodes: their ``id`` is a global id (base64 of
``"User:42"``), stable and opaque, and ``Query.node`` finds either by it. Lists are Relay
connections (``edges { cursor node }``, ``nodes``, ``pageInfo``) paged by keyset with
``first``/``after`` forwards and ``last``/``before`` backwards, one statement a page.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.types import Info

from minitwit.models import User as UserRow
from minitwit.resolvers import accounts, social, timelines
from minitwit.resolvers.errors import Invalid
from minitwit.resolvers.validation import INT32_MAX
from minitwit.schema.context import Context
from minitwit.schema.limits import cost

GRAVATAR_MAX_SIZE = 2048
FOLLOW_LIST_DEFAULT = 100
FOLLOW_LIST_MAX = 100

FIRST = (
    "How many messages to return, from the newest end of the window: MINITWIT_PAGE_SIZE (30)"
    " when neither first nor last is given, at most 100."
)
LAST = "How many messages to return from the oldest end of the window instead (at most 100)."
FIRST_PEOPLE = "How many users to return, oldest follow first: 100 when absent, at most 100."
LAST_PEOPLE = "How many users to return from the newest follow's end instead (at most 100)."
AFTER = "Return only items after this cursor (an endCursor or an edge's cursor)."
BEFORE = "Return only items before this cursor (a startCursor or an edge's cursor)."

FirstArg = Annotated[int | None, strawberry.argument(description=FIRST)]
LastArg = Annotated[int | None, strawberry.argument(description=LAST)]
FirstPeopleArg = Annotated[int | None, strawberry.argument(description=FIRST_PEOPLE)]
LastPeopleArg = Annotated[int | None, strawberry.argument(description=LAST_PEOPLE)]
AfterArg = Annotated[str | None, strawberry.argument(description=AFTER)]
BeforeArg = Annotated[str | None, strawberry.argument(description=BEFORE)]


def gravatar_url(email: str, size: int) -> str:
    digest = hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()
    return f"https://www.gravatar.com/avatar/{digest}?d=identicon&s={size}"


def _row_ids(node_ids: Iterable[str]) -> list[int | None]:
    """The node ids Strawberry decoded from global ids, as database ids (None: no such row)."""
    return [
        int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) <= INT32_MAX else None
        for raw in node_ids
    ]


@strawberry.type(description="A MiniTwit user.")
class User(relay.Node):
    id: relay.NodeID[int]
    email: strawberry.Private[str]
    username: str = strawberry.field(description="The user's name, unique and case-sensitive.")
    is_moderator: bool = strawberry.field(
        description="Whether the user may flag and unflag messages."
    )

    @classmethod
    def resolve_typename(cls, root: Any, info: Info[Any, Any]) -> str:
        return "User"

    @classmethod
    def resolve_nodes(  # type: ignore[override]  # one signature serves Strawberry's overloads
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[User | None]:
        ids = _row_ids(node_ids)
        rows = info.context.query(accounts.users_by_ids, [i for i in ids if i is not None])
        return [None if i is None or i not in rows else cls.from_row(rows[i]) for i in ids]

    @classmethod
    def from_row(cls, row: UserRow) -> User:
        if row.id is None:
            raise ValueError("a stored user has an id")
        return cls(id=row.id, email=row.email, username=row.username, is_moderator=row.is_moderator)

    @strawberry.field(description="The user's Gravatar image (an identicon if they have none).")
    def gravatar_url(
        self,
        size: Annotated[
            int,
            strawberry.argument(
                description=f"Width and height in pixels, 1 to {GRAVATAR_MAX_SIZE}."
            ),
        ] = 48,
    ) -> str:
        return user_gravatar_url(self, size)

    @strawberry.field(
        description="The user's messages, newest first (flagged ones hidden).",
        metadata=cost(queries=True, page="timeline"),
    )
    def messages(
        self,
        info: Info[Context, None],
        first: FirstArg = None,
        after: AfterArg = None,
        last: LastArg = None,
        before: BeforeArg = None,
    ) -> MessageConnection:
        ctx = info.context
        window = timeline_window(ctx, first, last)
        page = ctx.query(
            timelines.user_timeline,
            user_id=self.id,
            limit=window.limit,
            backward=window.backward,
            after=after,
            before=before,
        )
        return MessageConnection.from_page(page)

    @strawberry.field(
        description="The users who follow this user, oldest follower first (at most 100 a page).",
        metadata=cost(queries=True, page="people"),
    )
    def followers(
        self,
        info: Info[Context, None],
        first: FirstPeopleArg = None,
        after: AfterArg = None,
        last: LastPeopleArg = None,
        before: BeforeArg = None,
    ) -> UserConnection:
        window = _follow_window(first, last)
        page = info.context.query(
            social.followers_page,
            user_id=self.id,
            limit=window.limit,
            backward=window.backward,
            after=after,
            before=before,
        )
        return UserConnection.from_page(page)

    @strawberry.field(
        description="The users this user follows, oldest follow first (at most 100 a page).",
        metadata=cost(queries=True, page="people"),
    )
    def following(
        self,
        info: Info[Context, None],
        first: FirstPeopleArg = None,
        after: AfterArg = None,
        last: LastPeopleArg = None,
        before: BeforeArg = None,
    ) -> UserConnection:
        window = _follow_window(first, last)
        page = info.context.query(
            social.following_page,
            user_id=self.id,
            limit=window.limit,
            backward=window.backward,
            after=after,
            before=before,
        )
        return UserConnection.from_page(page)

    @strawberry.field(description="Whether the signed-in user follows this user.")
    def followed_by_viewer(self, info: Info[Context, None]) -> bool:
        return self.id in info.context.viewer_following_ids()

    @strawberry.field(description="Whether this user is the signed-in user.")
    def is_viewer(self, info: Info[Context, None]) -> bool:
        viewer = info.context.viewer
        return viewer is not None and viewer.id == self.id


def user_gravatar_url(user: User, size: int) -> str:
    if not 1 <= size <= GRAVATAR_MAX_SIZE:
        raise Invalid(f"size must be between 1 and {GRAVATAR_MAX_SIZE}", field="size")
    return gravatar_url(user.email, size)


def _resolve_gravatar_url(source: User, info: Any, size: int = 48) -> str:
    return user_gravatar_url(source, size)


# Fields resolved once per item of a list, given plain graphql-core resolvers: Strawberry's
# wrapper converts arguments and builds its Info on every call, which costs more than the
# field itself. Each must behave exactly as its Strawberry resolver (same checks, same errors).
FAST_RESOLVERS: dict[tuple[str, str], Any] = {("User", "gravatarUrl"): _resolve_gravatar_url}


def timeline_window(ctx: Context, first: int | None, last: int | None) -> timelines.Window:
    settings = ctx.settings
    return timelines.page_window(
        first, last, default=settings.page_size, maximum=settings.max_page_size
    )


def _follow_window(first: int | None, last: int | None) -> timelines.Window:
    return timelines.page_window(first, last, default=FOLLOW_LIST_DEFAULT, maximum=FOLLOW_LIST_MAX)


@strawberry.type(description="A message, as a timeline shows it.")
class Message(relay.Node):
    id: relay.NodeID[int]
    text: str = strawberry.field(description="What the author wrote, as they wrote it.")
    pub_date: datetime = strawberry.field(description="When it was posted (UTC).")
    author: User = strawberry.field(description="Who posted it.")
    flagged: bool = strawberry.field(
        description="Whether a moderator has hidden it (only moderators see flagged messages)."
    )

    @classmethod
    def resolve_typename(cls, root: Any, info: Info[Any, Any]) -> str:
        return "Message"

    @classmethod
    def resolve_nodes(  # type: ignore[override]  # one signature serves Strawberry's overloads
        cls, *, info: Info[Context, None], node_ids: Iterable[str], required: bool = False
    ) -> list[Message | None]:
        """Flagged messages are found by moderators only, as everywhere else."""
        ctx = info.context
        ids = _row_ids(node_ids)
        views = ctx.query(timelines.messages_by_ids, [i for i in ids if i is not None])
        moderator = ctx.viewer is not None and ctx.viewer.is_moderator
        return [
            cls.from_view(views[i])
            if i is not None and i in views and (moderator or not views[i].flagged)
            else None
            for i in ids
        ]

    @classmethod
    def from_view(cls, view: timelines.MessageView) -> Message:
        return cls(
            id=view.id,
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


@strawberry.type(description="A message and the cursor that points at it.")
class MessageEdge:
    cursor: str = strawberry.field(description="Give this to after or before to page from here.")
    node: Message = strawberry.field(description="The message.")


@strawberry.type(description="A page of messages, newest first.")
class MessageConnection:
    nodes: list[Message] = strawberry.field(description="The messages of this page.")
    page_info: relay.PageInfo = strawberry.field(description="Where this page lies.")
    page: strawberry.Private[timelines.Page]

    @strawberry.field(description="The messages of this page, each with its cursor.")
    def edges(self) -> list[MessageEdge]:
        return [
            MessageEdge(cursor=timelines.encode_cursor(view), node=node)
            for view, node in zip(self.page.items, self.nodes, strict=True)
        ]

    @classmethod
    def from_page(cls, page: timelines.Page) -> MessageConnection:
        return cls(
            nodes=[Message.from_view(view) for view in page.items],
            page_info=_page_info(page.has_next, page.has_previous, page),
            page=page,
        )


@strawberry.type(description="A user and the cursor that points at them.")
class UserEdge:
    cursor: str = strawberry.field(description="Give this to after or before to page from here.")
    node: User = strawberry.field(description="The user.")


@strawberry.type(description="A page of users, in the order the follows began.")
class UserConnection:
    nodes: list[User] = strawberry.field(description="The users of this page.")
    page_info: relay.PageInfo = strawberry.field(description="Where this page lies.")
    page: strawberry.Private[social.PeoplePage]

    @strawberry.field(description="The users of this page, each with its cursor.")
    def edges(self) -> list[UserEdge]:
        return [
            UserEdge(cursor=social.person_cursor(user, at), node=node)
            for (user, at), node in zip(self.page.items, self.nodes, strict=True)
        ]

    @classmethod
    def from_page(cls, page: social.PeoplePage) -> UserConnection:
        return cls(
            nodes=[User.from_row(user) for user, _ in page.items],
            page_info=_page_info(page.has_next, page.has_previous, page),
            page=page,
        )


def _page_info(
    has_next: bool, has_previous: bool, page: timelines.Page | social.PeoplePage
) -> relay.PageInfo:
    return relay.PageInfo(
        has_next_page=has_next,
        has_previous_page=has_previous,
        start_cursor=page.start_cursor,
        end_cursor=page.end_cursor,
    )
