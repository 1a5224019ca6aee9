"""The worker process's one listening connection to PostgreSQL (``Listener``), and the
trigger's payloads it hears (``parse_payload``)."""

from __future__ import annotations

import json
import os
import select
import threading
from collections.abc import Callable, Iterable
from typing import Any

from loguru import logger

from minitwit.db.changes import Change, ChangeKind
from minitwit.db.database import Database
from minitwit.live.feeds import Announcement, LiveObserver
from minitwit.ops.logs import first_line

CHANNEL = "minitwit_events"
BACKOFF_FIRST_SECONDS = 0.2
BACKOFF_MAX_SECONDS = 5.0
LISTENER_CHECK_SECONDS = 10.0  # an idle listening connection is checked this often


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
