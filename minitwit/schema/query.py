"""Query: what a visitor can read."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.types import Info

from minitwit.resolvers import accounts, timelines
from minitwit.resolvers.errors import Invalid
from minitwit.schema.context import Context
from minitwit.schema.limits import cost
from minitwit.schema.types import (
    AfterArg,
    BeforeArg,
    FirstArg,
    LastArg,
    Message,
    MessageConnection,
    User,
    timeline_window,
)

NODE_TYPES: dict[str, type[User] | type[Message]] = {"User": User, "Message": Message}


@strawberry.type(description="What a visitor can read.")
class Query:
    @strawberry.field(description="The signed-in user; null when signed out.")
    def viewer(self, info: Info[Context, None]) -> User | None:
        viewer = info.context.viewer
        return None if viewer is None else User.from_row(viewer)

    @strawberry.field(
        description="The user with this name; null when there is none.", metadata=cost(queries=True)
    )
    def user(
        self,
        info: Info[Context, None],
        username: Annotated[str, strawberry.argument(description="The exact username.")],
    ) -> User | None:
        row = info.context.query(accounts.user_by_name, username)
        return None if row is None else User.from_row(row)

    @strawberry.field(
        description=(
            "The user or message with this global id (a User's or Message's id); null when"
            " there is none, or it is a flagged message and you are not a moderator."
        ),
        metadata=cost(queries=True),
    )
    def node(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="A global id.")],
    ) -> relay.Node | None:
        try:
            global_id = relay.GlobalID.from_id(id)
        except ValueError:
            raise Invalid("Invalid id", field="id") from None
        kind = NODE_TYPES.get(global_id.type_name)
        if kind is None:
            raise Invalid("Invalid id", field="id")
        found: list[User | None] | list[Message | None] = kind.resolve_nodes(
            info=info, node_ids=[global_id.node_id]
        )
        return found[0]

    @strawberry.field(
        description="Everyone's messages, newest first.",
        metadata=cost(queries=True, page="timeline"),
    )
    def public_timeline(
        self,
        info: Info[Context, None],
        first: FirstArg = None,
        after: AfterArg = None,
        last: LastArg = None,
        before: BeforeArg = None,
    ) -> MessageConnection:
        window = timeline_window(info.context, first, last)
        page = info.context.query(
            timelines.public_timeline,
            limit=window.limit,
            backward=window.backward,
            after=after,
            before=before,
        )
        return MessageConnection.from_page(page)

    @strawberry.field(
        description="The signed-in user's messages and those of everyone they follow.",
        metadata=cost(queries=True, page="timeline"),
    )
    def home_timeline(
        self,
        info: Info[Context, None],
        first: FirstArg = None,
        after: AfterArg = None,
        last: LastArg = None,
        before: BeforeArg = None,
    ) -> MessageConnection:
        ctx = info.context
        viewer = ctx.require_viewer("You have to sign in to see your timeline")
        window = timeline_window(ctx, first, last)
        page = ctx.query(
            timelines.home_timeline,
            user_id=User.from_row(viewer).id,
            limit=window.limit,
            backward=window.backward,
            after=after,
            before=before,
        )
        return MessageConnection.from_page(page)

    @strawberry.field(
        description="Flagged messages, newest first, for moderators.",
        metadata=cost(queries=True, page="timeline"),
    )
    def flagged_messages(
        self,
        info: Info[Context, None],
        first: FirstArg = None,
        after: AfterArg = None,
        last: LastArg = None,
        before: BeforeArg = None,
    ) -> MessageConnection:
        ctx = info.context
        ctx.require_moderator()
        window = timeline_window(ctx, first, last)
        page = ctx.query(
            timelines.flagged_messages,
            limit=window.limit,
            backward=window.backward,
            after=after,
            before=before,
        )
        return MessageConnection.from_page(page)
