"""Query: what a visitor can read."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from minitwit.resolvers import accounts, timelines
from minitwit.schema.context import Context
from minitwit.schema.types import MessageConnection, User


def _limit(info: Info[Context, None], first: int | None) -> int:
    settings = info.context.settings
    return timelines.clamp_first(first, default=settings.page_size, maximum=settings.max_page_size)


@strawberry.type
class Query:
    @strawberry.field(description="The signed-in user; null when signed out.")
    def viewer(self, info: Info[Context, None]) -> User | None:
        viewer = info.context.viewer
        return None if viewer is None else User.from_row(viewer)

    @strawberry.field(description="The user with this name; null when there is none.")
    def user(self, info: Info[Context, None], username: str) -> User | None:
        row = info.context.query(accounts.user_by_name, username)
        return None if row is None else User.from_row(row)

    @strawberry.field(description="Everyone's messages, newest first.")
    def public_timeline(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> MessageConnection:
        page = info.context.query(timelines.public_timeline, limit=_limit(info, first), after=after)
        return MessageConnection.from_page(page)

    @strawberry.field(
        description="The signed-in user's messages and those of everyone they follow."
    )
    def home_timeline(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> MessageConnection:
        ctx = info.context
        viewer = ctx.require_viewer("You have to sign in to see your timeline")
        page = ctx.query(
            timelines.home_timeline,
            user_id=User.from_row(viewer).id,
            limit=_limit(info, first),
            after=after,
        )
        return MessageConnection.from_page(page)

    @strawberry.field(description="Flagged messages, for moderators.")
    def flagged_messages(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> MessageConnection:
        ctx = info.context
        ctx.require_moderator()
        page = ctx.query(timelines.flagged_messages, limit=_limit(info, first), after=after)
        return MessageConnection.from_page(page)
