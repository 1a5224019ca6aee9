"""Subscription: live timelines over the ``graphql-transport-ws`` protocol at ``/graphql``.

A subscription's context is a ``LiveContext``: the viewer is known from the socket's session
cookie when it opened, and nothing reads the database on the event loop. The fields of an
event's message are the message's own (text, date, author, gravatarUrl, flagged); a field
that would query the database (an author's messages, followedByViewer) is refused: ask for
it over HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any, Concatenate, ParamSpec, TypeVar

import strawberry
from strawberry import relay
from strawberry.types import Info

from minitwit.db.database import Tx
from minitwit.live.feeds import Delivery, DeliveryKind, Feed, Timeline
from minitwit.live.hub import Hub
from minitwit.models import User
from minitwit.resolvers import accounts
from minitwit.resolvers.errors import Invalid, NotFound
from minitwit.schema.context import Context
from minitwit.schema.types import Message

P = ParamSpec("P")
T = TypeVar("T")

NOT_LIVE = "This field is not available in a subscription; query it over HTTP"


@dataclass
class LiveContext(Context):
    """The context of one WebSocket connection, shared by its subscriptions."""

    hub: Hub | None = None
    connection_params: dict[str, Any] = field(default_factory=dict)

    def query(self, func: Callable[Concatenate[Tx, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        raise Invalid(NOT_LIVE)

    def set_viewer(self, viewer: User | None) -> None:
        self._viewer = viewer

    def require_hub(self) -> Hub:
        if self.hub is None:
            raise RuntimeError("live timelines are not running")
        return self.hub

    async def load(
        self, func: Callable[Concatenate[Tx, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self.db.run_work(lambda tx: func(tx, *args, **kwargs))


@strawberry.enum(description="What a timeline event asks of the timeline that shows it.")
class TimelineEventKind(Enum):
    ADDED = strawberry.enum_value(
        "added",
        description=(
            "Show this message: just posted, or unflagged by a moderator (on the moderators'"
            " list of flagged messages: just flagged)."
        ),
    )
    REMOVED = strawberry.enum_value(
        "removed",
        description="Take this message away: a moderator flagged it (on their list: unflagged).",
    )
    REFETCH = strawberry.enum_value(
        "refetch",
        description=(
            "Events may have been missed (the server lost its database connection for a while,"
            " or this subscriber fell behind): load the timeline again."
        ),
    )


_KINDS = {
    DeliveryKind.ADDED: TimelineEventKind.ADDED,
    DeliveryKind.REMOVED: TimelineEventKind.REMOVED,
    DeliveryKind.REFETCH: TimelineEventKind.REFETCH,
}


@strawberry.type(description="A change of a timeline, as it happens.")
class TimelineEvent:
    kind: TimelineEventKind = strawberry.field(description="What to do with the timeline.")
    message: Message | None = strawberry.field(
        description="The message to show, for ADDED; null otherwise."
    )
    message_id: strawberry.ID | None = strawberry.field(
        description="The message's global id (its Message.id), for ADDED and REMOVED."
    )
    # The event executed for each distinct subscription (see ``SharedEventExecutor``).
    results: strawberry.Private[dict[Any, Any]] = field(default_factory=dict)

    @classmethod
    def from_delivery(cls, delivery: Delivery) -> TimelineEvent:
        message_id = delivery.message_id
        return cls(
            kind=_KINDS[delivery.kind],
            message=None if delivery.message is None else Message.from_view(delivery.message),
            message_id=None
            if message_id is None
            else strawberry.ID(relay.to_base64("Message", message_id)),
        )


def event_of(delivery: Delivery) -> TimelineEvent:
    """The delivery's event, made once for all the subscribers it goes to."""
    event: TimelineEvent | None = delivery.memo.get(TimelineEvent)
    if event is None:
        event = delivery.memo[TimelineEvent] = TimelineEvent.from_delivery(delivery)
    return event


async def _events(hub: Hub, feed: Feed) -> AsyncGenerator[TimelineEvent, None]:
    try:
        async for delivery in feed.deliveries():
            yield event_of(delivery)
    finally:
        hub.unsubscribe(feed)


@strawberry.type(description="Live timelines: what changes, as it changes, on any replica.")
class Subscription:
    @strawberry.subscription(
        description=(
            "Changes of the public timeline: messages as they are posted, and removals of"
            " messages a moderator flagged. Flagged messages are never delivered."
        )
    )
    async def public_timeline_events(
        self, info: Info[LiveContext, None]
    ) -> AsyncGenerator[TimelineEvent, None]:
        hub = info.context.require_hub()
        async for event in _events(hub, hub.subscribe(Timeline.PUBLIC)):
            yield event

    @strawberry.subscription(
        description="Changes of one user's timeline: their messages as they post them."
    )
    async def user_timeline_events(
        self,
        info: Info[LiveContext, None],
        username: Annotated[str, strawberry.argument(description="The exact username.")],
    ) -> AsyncGenerator[TimelineEvent, None]:
        ctx = info.context
        hub = ctx.require_hub()
        user = await ctx.load(accounts.user_by_name, username)
        if user is None or user.id is None:
            raise NotFound(f"There is no user {username!r}", field="username")
        async for event in _events(hub, hub.subscribe(Timeline.USER, author_id=user.id)):
            yield event

    @strawberry.subscription(
        description=(
            "Changes of the signed-in user's home timeline: their own messages and those of"
            " everyone they follow at the moment each is delivered."
        )
    )
    async def home_timeline_events(
        self, info: Info[LiveContext, None]
    ) -> AsyncGenerator[TimelineEvent, None]:
        ctx = info.context
        hub = ctx.require_hub()
        viewer = ctx.require_viewer()
        async for event in _events(hub, hub.subscribe(Timeline.HOME, viewer_id=viewer.id)):
            yield event

    @strawberry.subscription(
        description=(
            "For moderators: messages as they are flagged (ADDED) and unflagged (REMOVED)."
        )
    )
    async def flagged_message_events(
        self, info: Info[LiveContext, None]
    ) -> AsyncGenerator[TimelineEvent, None]:
        ctx = info.context
        hub = ctx.require_hub()
        ctx.require_moderator()
        async for event in _events(hub, hub.subscribe(Timeline.FLAGGED)):
            yield event
