"""The database out of reach: a clear, retryable 503 (never a 500), and recovery after it."""

from __future__ import annotations

import contextlib
import shutil
import socket
import sqlite3
import struct
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from minitwit.app import create_app
from minitwit.db.errors import UNAVAILABLE, is_outage
from minitwit.settings import Settings
from tests.conftest import (
    LiveServer,
    PostgresDatabases,
    backends_waiting_for_a_lock,
    pg_admin,
)
from tests.factories import PASSWORD, make_user
from tests.servers import TEST_SECRET, free_port, raw_exchange

TIMELINE = "{ publicTimeline { nodes { text author { username } } } }"
LOGIN = "mutation ($u: String!, $p: String!) { login(username: $u, password: $p) { username } }"


@pytest.fixture
def nowhere() -> Iterator[LiveServer]:
    """A server whose PostgreSQL refuses connections: nothing listens on its port."""
    settings = Settings(
        database_url=f"postgresql://minitwit@127.0.0.1:{free_port()}/minitwit",
        secret_key=TEST_SECRET,
        migrate_on_start=False,
        body_timeout=1.0,
    )
    with LiveServer(create_app(settings)) as live:
        yield live


def test_a_stalled_body_is_still_a_408_that_closes_when_latest_cannot_be_stored(
    nowhere: LiveServer,
) -> None:
    auth = nowhere.app.state.settings.simulator_auth.encode()
    head = (
        b"POST /msgs/ann?latest=5 HTTP/1.1\r\nHost: x\r\nAuthorization: " + auth + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    status, header, body = raw_exchange(nowhere.port, head, [b'{"content":'], 0)
    assert (status, body["status"]) == (408, 408)
    assert b"\r\nconnection: close" in header


def test_a_sqlite_file_locked_past_the_busy_timeout_is_a_503(
    sqlite_template: Path, tmp_path: Path
) -> None:
    path = tmp_path / "locked.sqlite3"
    shutil.copyfile(sqlite_template, path)
    settings = Settings(
        database_url=f"sqlite:///{path}", secret_key=TEST_SECRET, migrate_on_start=False
    )
    with LiveServer(create_app(settings)) as live, live.client() as http:
        make_user(live.app.state.db, "ann")
        lock = sqlite3.connect(path, isolation_level=None)
        try:
            lock.execute("BEGIN IMMEDIATE")  # another process holding the write lock too long
            sim = {"Authorization": settings.simulator_auth}
            response = http.post("/msgs/ann", json={"content": "waits"}, headers=sim)
            assert response.status_code == 503, response.text
            assert response.json() == {"error_msg": UNAVAILABLE, "status": 503}
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert http.post("/msgs/ann", json={"content": "again"}, headers=sim).status_code == 204


@pytest.mark.postgres
def test_connections_cut_by_the_server_are_replaced_without_an_error(
    postgres: PostgresDatabases,
) -> None:
    """What a PostgreSQL restart does to the pool: every pooled connection is terminated by
    the server. The next requests must all succeed, on fresh connections, and nothing
    acknowledged before the cut is lost."""
    url = postgres.fresh()
    try:
        settings = Settings(database_url=url, secret_key=TEST_SECRET, migrate_on_start=False)
        with LiveServer(create_app(settings)) as live, live.client() as client:
            make_user(live.app.state.db, "ann")
            client.data(LOGIN, u="ann", p=PASSWORD)
            client.data('mutation { postMessage(text: "before the cut") { id } }')
            assert live.app.state.db.engine.pool.checkedin() >= 1
            assert _terminate_connections_to(url.rsplit("/", 1)[1]) >= 1

            client.data('mutation { postMessage(text: "after the cut") { id } }')
            texts = [n["text"] for n in client.data(TIMELINE)["publicTimeline"]["nodes"]]
            assert texts == ["after the cut", "before the cut"]
            sim = {"Authorization": settings.simulator_auth}
            assert client.get("/msgs/ann", headers=sim).status_code == 200
    finally:
        postgres.drop(url)


@pytest.mark.postgres
def test_a_read_cut_mid_request_is_tried_again_on_a_fresh_connection(
    postgres: PostgresDatabases,
) -> None:
    """A restart during a request: the read whose connection was cut (while it waited for a
    lock) runs again on a fresh connection, since a read has no effects to repeat, and the
    fields after it use that connection instead of one that can only fail."""
    url = postgres.fresh()
    database = url.rsplit("/", 1)[1]
    query = '{ a: user(username: "ann") { username } b: user(username: "ann") { username } }'
    try:
        settings = Settings(database_url=url, secret_key=TEST_SECRET, migrate_on_start=False)
        with LiveServer(create_app(settings)) as live, live.client() as client:
            make_user(live.app.state.db, "ann")
            client.data(query)
            holder = psycopg2.connect(url)
            try:
                with holder.cursor() as cursor:
                    cursor.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
                with ThreadPoolExecutor(max_workers=1) as pool:
                    pending = pool.submit(client.gql, query)
                    waiting = backends_waiting_for_a_lock(database)
                    assert len(waiting) == 1, "field a should be waiting for the lock"
                    pg_admin(f"SELECT pg_terminate_backend({waiting[0]})")
                    holder.rollback()
                    body = pending.result(timeout=30)
            finally:
                holder.close()
        assert body == {"data": {"a": {"username": "ann"}, "b": {"username": "ann"}}}
    finally:
        postgres.drop(url)


def _terminate_connections_to(database: str) -> int:
    rows = pg_admin(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = %s AND pid <> pg_backend_pid()",
        database,
    )
    return int(rows[0][0])


class Gate:
    """A TCP forwarder in front of PostgreSQL that can be shut (the server gone: every
    connection reset, new ones refused) and opened again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.connections: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.open()

    def open(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=True)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def shut(self) -> None:
        assert self.listener is not None
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept
        self.listener.close()
        for connection in self.connections:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()
        self.connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.connections += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)


@pytest.mark.postgres
def test_while_the_server_is_gone_requests_fail_fast_and_recover_when_it_is_back(
    postgres: PostgresDatabases,
) -> None:
    url = postgres.fresh()
    parsed = make_url(url)
    gate = Gate((parsed.host or "127.0.0.1", parsed.port or 5432))
    try:
        settings = Settings(
            database_url=parsed.set(port=gate.port).render_as_string(hide_password=False),
            secret_key=TEST_SECRET,
            migrate_on_start=False,
        )
        with LiveServer(create_app(settings)) as live, live.client() as client:
            assert client.get("/latest").status_code == 200
            gate.shut()
            answers = []
            for _ in range(30):
                started = time.monotonic()
                response = client.get("/latest")
                answers.append((response.status_code, time.monotonic() - started))
                assert response.headers["retry-after"] == "1"
            assert {status for status, _ in answers} == {503}
            assert max(seconds for _, seconds in answers) < 0.5
            assert live.app.state.db.outage.down
            gate.open()
            deadline = time.monotonic() + 3
            while client.get("/latest").status_code != 200:
                assert time.monotonic() < deadline, "no recovery after the server came back"
                time.sleep(0.05)
            assert not live.app.state.db.outage.down
    finally:
        gate.shut()
        postgres.drop(url)


def test_an_error_on_an_open_connection_is_no_outage() -> None:
    cut = sa_exc.OperationalError("SELECT 1", None, psycopg2.OperationalError("server closed"))
    assert is_outage(cut)  # raised by a checkout, it would be one
    locked = sa_exc.OperationalError("BEGIN", None, sqlite3.OperationalError("locked"))
    assert not is_outage(locked)
    assert not is_outage(sa_exc.IntegrityError("INSERT", None, psycopg2.IntegrityError("dup")))
