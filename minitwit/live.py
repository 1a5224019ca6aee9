"""Live timelines: changes of the messages, from whichever replica made them, to subscribers.

PostgreSQL announces each change on a channel, from a trigger inside the writing transaction
(migration 0004), so only what committed is announced, whatever wrote it. Each worker process
holds ONE listening connection (``Listener``, a thread), not one per subscriber; on SQLite
(one process) the ``Database`` hands the hub the changes its own units committed.

The ``Hub`` turns a batch of changes into deliveries with at most two statements for the
whole batch, whatever the number of subscribers: the messages themselves (so flagged ones are
never delivered and no payload carries text) and, when someone watches a home timeline, which
of those watchers follows which author at this moment. It runs only when someone listens.

Each subscription (``Feed``) has a bounded queue. A consumer that falls behind loses what is
queued and gets one ``refetch`` instead, so memory never grows with a slow socket; so does
every subscriber after the listener lost its connection (a restart of PostgreSQL): they may
have missed something.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from loguru import logger

from minitwit.db.changes import Change, ChangeKind
from minitwit.db.database import Database, Tx
from minitwit.ops.logs import first_line
from minitwit.resolvers import social, timelines
from minitwit.resolvers.timelines import MessageView

CHANNEL = "minitwit_events"
QUEUE_SIZE = 64
BACKOFF_FIRST_SECONDS = 0.2
BACKOFF_MAX_SECONDS = 5.0
LISTENER_CHECK_SECONDS = 10.0  # an idle listening connection is checked this often
LISTEN_WAIT_SECONDS = 5.0  # the longest a new socket waits for the listener to LISTEN

Timeline = Literal["public", "user", "home", "flagged"]
DeliveryKind = Literal["added", "removed", "refetch"]
ADDED: DeliveryKind = "added"
REMOVED: DeliveryKind = "removed"
REFETCH: DeliveryKind = "refetch"


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
        self.queue.put_nowait(Delivery(REFETCH, announced_at=delivery.announced_at))

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
        if self.timeline == "public":
            return True
        if self.timeline == "user":
            return self.author_id == author_id
        if self.timeline == "home":
            viewer = self.viewer_id
            return viewer == author_id or (viewer, author_id) in follows
        return False


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
            or (a.change.kind == ChangeKind.FLAGGED and self._has("flagged"))
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
        added = Delivery(ADDED, view, message_id, at)
        removed = Delivery(REMOVED, None, message_id, at)
        for feed in list(self.feeds):
            if feed.timeline == "flagged":
                if kind == ChangeKind.FLAGGED and view is not None and view.flagged:
                    feed.offer(added)
                elif kind == ChangeKind.UNFLAGGED:
                    feed.offer(removed)
            elif kind == ChangeKind.FLAGGED:
                # to every timeline it may be on: removing what one does not show is harmless
                if feed.timeline != "user" or feed.author_id == author_id:
                    feed.offer(removed)
            elif view is not None and not view.flagged and feed.watches(author_id, follows):
                feed.offer(added)

    def _tell_everyone_to_refetch(self, at: float) -> None:
        refetch = Delivery(REFETCH, announced_at=at)
        for feed in list(self.feeds):
            feed.offer(refetch)


def _load(
    tx: Tx, message_ids: list[int], watchers: list[int], authors: list[int]
) -> tuple[dict[int, MessageView], set[tuple[int, int]]]:
    views = timelines.messages_by_ids(tx, message_ids)
    follows = social.follows_among(tx, who_ids=watchers, whom_ids=authors)
    return views, follows


def parse_payload(payload: str) -> Announcement | None:
    """The trigger's JSON payload; None (logged) for anything else on the channel."""
    try:
        data = json.loads(payload)
        change = Change(ChangeKind(data["kind"]), int(data["message"]), int(data["author"]))
        return Announcement(change, float(data["at"]))
    except (ValueError, KeyError, TypeError):
        logger.warning("live timelines: ignored a notification: {payload!r}", payload=payload)
        return None


class Listener(threading.Thread):
    """The worker process's one listening connection to PostgreSQL, in a thread of its own.

    It hands each batch of notifications to ``deliver``. It LISTENs only while ``wanted()``
    (a live socket is open) and UNLISTENs when no longer, so that with nobody to tell PostgreSQL
    signals nobody; ``wake()`` makes it look again at once, and it calls ``settled()`` when it
    has started listening (or lost its connection). When the connection is lost it reconnects
    with backoff; each time it starts listening it hands over ``None``: subscribers already
    there must refetch what they may have missed while nobody listened.
    """

    def __init__(
        self,
        db: Database,
        deliver: Callable[[list[Announcement | None]], None],
        observer: LiveObserver | None = None,
        wanted: Callable[[], bool] = lambda: True,
        settled: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(name="minitwit-listener", daemon=True)
        self.deliver = deliver
        self.wanted = wanted
        self.settled = settled
        self.channel_on = False  # LISTEN in effect on the current connection
        self.observer = observer
        engine = db.engine
        self.connect_args, self.connect_kwargs = engine.dialect.create_connect_args(engine.url)
        self.dbapi: Any = engine.dialect.loaded_dbapi  # psycopg2
        self.stopping = threading.Event()
        self.listening = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    def stop(self) -> None:
        self.stopping.set()
        self.wake()

    def wake(self) -> None:
        """Make the thread look at ``stopping`` and ``wanted()`` now, not at its next event."""
        try:
            os.write(self._wake_w, b"x")
        except OSError:  # BlockingIOError: it is already awake; or the pipe is closed
            pass

    def run(self) -> None:
        backoff = BACKOFF_FIRST_SECONDS
        lost = False
        while not self.stopping.is_set():
            connection: Any = None
            try:
                connection = self._connect()
                if self.observer is not None:
                    self.observer.listener_connected(lost)
                if lost:
                    logger.info("live timelines: connected again; subscribers refetch")
                lost = False
                backoff = BACKOFF_FIRST_SECONDS
                self.listening.set()
                self._listen(connection)
            except Exception as error:
                self.listening.clear()
                self.channel_on = False
                self.settled()  # nobody waits for a LISTEN that is not coming soon
                if not self.stopping.is_set():
                    logger.warning(
                        "live timelines: listener lost its connection ({error}); retrying",
                        error=first_line(error),
                    )
                lost = True
            finally:
                if connection is not None:
                    _close_quietly(connection)
            self.stopping.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)

    def close(self) -> None:
        """Release the wake-up pipe, once the thread has ended."""
        if not self.is_alive():
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _connect(self) -> Any:
        kwargs = {
            **self.connect_kwargs,
            "connect_timeout": 5,
            "application_name": "minitwit-listener",
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        }
        connection = self.dbapi.connect(*self.connect_args, **kwargs)
        connection.autocommit = True
        return connection

    def _listen(self, connection: Any) -> None:
        self.channel_on = False
        while not self.stopping.is_set():
            self._follow_wanted(connection)
            readable, _, _ = select.select(
                [connection, self._wake_r], [], [], LISTENER_CHECK_SECONDS
            )
            if not readable:
                with connection.cursor() as cursor:  # a silent network loss shows here
                    cursor.execute("SELECT 1")
            if self._wake_r in readable:
                try:
                    os.read(self._wake_r, 4096)
                except BlockingIOError:
                    pass
            if connection in readable:
                connection.poll()
            self._drain(connection.notifies)

    def _follow_wanted(self, connection: Any) -> None:
        wanted = self.wanted()
        if wanted == self.channel_on:
            return
        with connection.cursor() as cursor:
            cursor.execute(f"{'LISTEN' if wanted else 'UNLISTEN'} {CHANNEL}")
        self.channel_on = wanted
        if wanted:
            # Whoever subscribed before this moment may have missed something: a socket that
            # opened while the listener had no connection, and anyone after a lost one.
            self.deliver([None])
            self.settled()
        else:
            del connection.notifies[:]

    def _drain(self, notifies: list[Any]) -> None:
        if not notifies:
            return
        batch: list[Announcement | None] = []
        for notify in _take_all(notifies):
            announcement = parse_payload(notify.payload)
            if announcement is not None:
                batch.append(announcement)
        if batch:
            self.deliver(batch)


def _take_all(items: list[Any]) -> Iterable[Any]:
    taken = items[:]
    del items[:]
    return taken


def _close_quietly(connection: Any) -> None:
    try:
        connection.close()
    except Exception as error:
        logger.debug("live timelines: closing the listener: {error}", error=first_line(error))
