"""One subscription to a live timeline (``Feed``) and what it is handed (``Delivery``).

Each feed has a bounded queue. A consumer that falls behind loses what is queued and gets one
``refetch`` instead, so memory never grows with a slow socket; so does every subscriber after
the listener lost its connection (a restart of PostgreSQL): they may have missed something.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from minitwit.db.changes import Change
from minitwit.resolvers.timelines import MessageView

QUEUE_SIZE = 64


class Timeline(StrEnum):
    PUBLIC = "public"
    USER = "user"  # one author's messages
    HOME = "home"  # the viewer's and those of whom they follow
    FLAGGED = "flagged"  # the moderators' list


class DeliveryKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    REFETCH = "refetch"


@dataclass(frozen=True, slots=True)
class Delivery:
    """What subscribers are told: a message to add, one to remove, or to refetch. One
    delivery goes to every subscriber it concerns; ``memo`` keeps what the faces derive from
    it (the GraphQL event and its executed results), so that is done once, not per subscriber.
    """

    kind: DeliveryKind
    message: MessageView | None = None
    message_id: int | None = None
    announced_at: float = 0.0  # Unix time the change was announced (latency is measured from it)
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Announcement:
    change: Change
    at: float


class LiveObserver(Protocol):
    """What the metrics hear of live timelines (see ``minitwit.ops.metrics.LiveMetrics``)."""

    def connected(self, delta: int) -> None:
        """A WebSocket connection opened (+1) or closed (-1)."""

    def subscribed(self, timeline: str, delta: int) -> None:
        """A subscription to ``timeline`` began (+1) or ended (-1)."""

    def delivered(self, kind: str, seconds: float) -> None:
        """A subscriber was handed a delivery ``seconds`` after its change was announced."""

    def dropped(self, count: int) -> None:
        """A slow subscriber's queue overflowed: ``count`` deliveries replaced by a refetch."""

    def listener_connected(self, reconnect: bool) -> None:
        """The listening connection (re)connected."""


@dataclass(eq=False)
class Feed:
    """One subscription: a timeline, whose it is, and a bounded queue of deliveries."""

    timeline: Timeline
    author_id: int | None = None  # the user timeline's owner
    viewer_id: int | None = None  # the home timeline's owner
    size: int = QUEUE_SIZE
    observer: LiveObserver | None = None
    queue: asyncio.Queue[Delivery | None] = field(init=False)

    def __post_init__(self) -> None:
        # one place more than ``size``: the refetch that replaces an overflow always fits
        self.queue = asyncio.Queue(self.size + 1)

    def offer(self, delivery: Delivery) -> None:
        if self.queue.qsize() < self.size:
            self.queue.put_nowait(delivery)
            return
        dropped = 0
        while not self.queue.empty():
            if self.queue.get_nowait() is None:  # closing: keep the end
                self.queue.put_nowait(None)
                return
            dropped += 1
        if self.observer is not None:
            self.observer.dropped(dropped)
        self.queue.put_nowait(Delivery(DeliveryKind.REFETCH, announced_at=delivery.announced_at))

    def close(self) -> None:
        while self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(None)

    async def deliveries(self) -> AsyncIterator[Delivery]:
        while (delivery := await self.queue.get()) is not None:
            if self.observer is not None:
                self.observer.delivered(delivery.kind, time.time() - delivery.announced_at)
            yield delivery

    def watches(self, author_id: int, follows: set[tuple[int, int]]) -> bool:
        """Whether a message by ``author_id`` belongs on this feed's timeline now."""
        if self.timeline == Timeline.PUBLIC:
            return True
        if self.timeline == Timeline.USER:
            return self.author_id == author_id
        if self.timeline == Timeline.HOME:
            viewer = self.viewer_id
            return viewer == author_id or (viewer, author_id) in follows
        return False
