"""The ``Hub``: the fan-out of one worker process, announcements in, deliveries to each feed.

It turns a batch of changes into deliveries with at most two statements for the whole batch,
whatever the number of subscribers: the messages themselves (so flagged ones are never
delivered and no payload carries text) and, when someone watches a home timeline, which of
those watchers follows which author at this moment. It runs only when someone listens.
"""

from __future__ import annotations

import asyncio
import time

from loguru import logger

from minitwit.db.changes import Change, ChangeKind
from minitwit.db.database import Database, Tx
from minitwit.live.feeds import (
    QUEUE_SIZE,
    Announcement,
    Delivery,
    DeliveryKind,
    Feed,
    LiveObserver,
    Timeline,
)
from minitwit.live.listener import BACKOFF_MAX_SECONDS, Listener
from minitwit.ops.logs import first_line
from minitwit.resolvers import social, timelines
from minitwit.resolvers.timelines import MessageView

LISTEN_WAIT_SECONDS = 5.0  # the longest a new socket waits for the listener to LISTEN


class Hub:
    """The fan-out of one worker process: announcements in, deliveries to each ``Feed``."""

    def __init__(
        self,
        db: Database,
        *,
        queue_size: int = QUEUE_SIZE,
        observer: LiveObserver | None = None,
    ) -> None:
        self.db = db
        self.queue_size = queue_size
        self.observer = observer
        self.feeds: set[Feed] = set()
        self.sockets = 0  # open live sockets: the listener LISTENs while there is one
        self.listener: Listener | None = None
        self._settled: list[asyncio.Future[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inbox: list[Announcement | None] = []  # None: tell everyone to refetch
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._dispatch_forever())
        if self.db.batched:
            self.listener = Listener(
                self.db,
                self._from_thread,
                self.observer,
                wanted=lambda: self.sockets > 0 or bool(self.feeds),
                settled=self._settled_from_thread,
            )
            self.listener.start()
        else:
            self.db.announced = self.announced

    async def stop(self) -> None:
        if self.listener is not None:
            self.listener.stop()
            await asyncio.to_thread(self.listener.join, BACKOFF_MAX_SECONDS + 1)
            self.listener.close()
        if self.db.announced == self.announced:
            self.db.announced = None
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for feed in list(self.feeds):
            feed.close()

    # -- sockets and subscribers -----------------------------------------------------------

    async def socket_opened(self) -> None:
        """A live socket opened, before it is acknowledged. The listener LISTENs from now until
        the last socket closes (with no socket open, a write costs no process here a wake-up),
        and this returns once it does, so whatever commits after a subscription on this socket
        began is heard. Without a connection to listen on it returns at once: the listener
        tells every subscriber to refetch when it is back."""
        self.sockets += 1
        listener = self.listener
        if listener is None or self._loop is None:
            return
        if self.sockets == 1 or not listener.channel_on:
            # The first socket wakes it even when it still LISTENs: it may have decided to
            # UNLISTEN just before this socket counted, and must look again (a LISTEN after
            # an UNLISTEN tells the subscribers already there to refetch).
            listener.wake()
        if listener.channel_on or not listener.listening.is_set():
            return
        settled = self._loop.create_future()
        self._settled.append(settled)
        try:
            await asyncio.wait_for(settled, LISTEN_WAIT_SECONDS)
        except TimeoutError:
            logger.warning("live timelines: the listener did not LISTEN in time")

    def socket_closed(self) -> None:
        self.sockets -= 1

    def _settled_from_thread(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._settle)
            except RuntimeError:  # the loop closed meanwhile: nobody waits
                pass

    def _settle(self) -> None:
        settled, self._settled = self._settled, []
        for future in settled:
            if not future.done():
                future.set_result(None)

    def subscribe(
        self, timeline: Timeline, *, author_id: int | None = None, viewer_id: int | None = None
    ) -> Feed:
        feed = Feed(timeline, author_id, viewer_id, self.queue_size, self.observer)
        self.feeds.add(feed)
        if self.observer is not None:
            self.observer.subscribed(timeline, 1)
        return feed

    def unsubscribe(self, feed: Feed) -> None:
        if feed in self.feeds:
            self.feeds.discard(feed)
            if self.observer is not None:
                self.observer.subscribed(feed.timeline, -1)

    # -- announcements ---------------------------------------------------------------------

    def announced(self, changes: list[Change]) -> None:
        """Changes a unit of work committed in this process (SQLite), from any thread."""
        if not self.feeds:
            return
        now = time.time()
        self._from_thread([Announcement(change, now) for change in changes])

    def _from_thread(self, items: list[Announcement | None]) -> None:
        if not self.feeds:
            # Nobody subscribed when this was heard, so nobody can be owed it: a feed added
            # later only promises what commits after it. Waking the loop would cost every
            # write a thread switch for nothing.
            return
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._ingest, items)
            except RuntimeError:  # the loop closed meanwhile: nobody is listening
                pass

    def _ingest(self, items: list[Announcement | None]) -> None:
        self._inbox.extend(items)
        if self._wake is not None:
            self._wake.set()

    async def _dispatch_forever(self) -> None:
        wake = self._wake
        if wake is None:
            raise RuntimeError("the hub was not started")
        while True:
            await wake.wait()
            wake.clear()
            batch, self._inbox = self._inbox, []
            try:
                await self.dispatch(batch)
            except Exception as error:
                # The database is out of reach (or worse): nobody is left wondering.
                logger.warning("live timelines: {error}", error=first_line(error))
                self._tell_everyone_to_refetch(time.time())

    async def dispatch(self, batch: list[Announcement | None]) -> None:
        """Deliver ``batch`` to the feeds, with at most two statements for all of it."""
        if not self.feeds:
            return
        if None in batch:
            self._tell_everyone_to_refetch(time.time())
        announcements = [item for item in batch if item is not None]
        if not announcements:
            return
        needs_views = {
            a.change.message_id
            for a in announcements
            if a.change.kind in (ChangeKind.POSTED, ChangeKind.UNFLAGGED)
            or (a.change.kind == ChangeKind.FLAGGED and self._has(Timeline.FLAGGED))
        }
        watchers = sorted({f.viewer_id for f in self.feeds if f.viewer_id is not None})
        authors = sorted({a.change.author_id for a in announcements})
        views, follows = await self.db.run_work(_load, sorted(needs_views), watchers, authors)
        for announcement in announcements:
            self._deliver(announcement, views, follows)

    def _has(self, timeline: Timeline) -> bool:
        return any(feed.timeline == timeline for feed in self.feeds)

    def _deliver(
        self,
        announcement: Announcement,
        views: dict[int, MessageView],
        follows: set[tuple[int, int]],
    ) -> None:
        kind, message_id, author_id = announcement.change
        view = views.get(message_id)
        at = announcement.at
        added = Delivery(DeliveryKind.ADDED, view, message_id, at)
        removed = Delivery(DeliveryKind.REMOVED, None, message_id, at)
        for feed in list(self.feeds):
            if feed.timeline == Timeline.FLAGGED:
                if kind == ChangeKind.FLAGGED and view is not None and view.flagged:
                    feed.offer(added)
                elif kind == ChangeKind.UNFLAGGED:
                    feed.offer(removed)
            elif kind == ChangeKind.FLAGGED:
                # to every timeline it may be on: removing what one does not show is harmless
                if feed.timeline != Timeline.USER or feed.author_id == author_id:
                    feed.offer(removed)
            elif view is not None and not view.flagged and feed.watches(author_id, follows):
                feed.offer(added)

    def _tell_everyone_to_refetch(self, at: float) -> None:
        refetch = Delivery(DeliveryKind.REFETCH, announced_at=at)
        for feed in list(self.feeds):
            feed.offer(refetch)


def _load(
    tx: Tx, message_ids: list[int], watchers: list[int], authors: list[int]
) -> tuple[dict[int, MessageView], set[tuple[int, int]]]:
    views = timelines.messages_by_ids(tx, message_ids)
    follows = social.follows_among(tx, who_ids=watchers, whom_ids=authors)
    return views, follows
