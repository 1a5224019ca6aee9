"""Live timelines across replicas: real ``minitwit serve`` processes on one PostgreSQL.

What a subscriber on one process sees of writes made on another, or by the command line; what
a lost listening connection (as a PostgreSQL restart cuts it) and a SIGTERM do to it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql
from websockets.exceptions import ConnectionClosed

from tests.conftest import PG_ADMIN_URL
from tests.rest.conftest import SIM_HEADERS
from tests.servers import REPO, TEST_SECRET, ServerProcess
from tests.subscriptions import EVENT_FIELDS, Subscriber, texts

pytestmark = pytest.mark.postgres

PUBLIC = f"subscription PublicLive {{ publicTimelineEvents {{ {EVENT_FIELDS} }} }}"
HOME = f"subscription HomeLive {{ homeTimelineEvents {{ {EVENT_FIELDS} }} }}"
LOGIN = "mutation ($u: String!, $p: String!) { login(username: $u, password: $p) { username } }"
FOLLOW = "mutation ($u: String!) { follow(username: $u) { username } }"


@pytest.fixture
def replicas(pg_url: str, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    one = ServerProcess(pg_url, tmp_path / "one.log").start()
    try:
        two = ServerProcess(pg_url, tmp_path / "two.log").start()
    except BaseException:
        one.stop()
        raise
    yield one, two
    two.stop()
    one.stop()


def register(server: ServerProcess, *usernames: str) -> None:
    with server.client(headers=SIM_HEADERS) as sim:
        for name in usernames:
            body = {"username": name, "email": f"{name}@example.org", "pwd": "pw"}
            assert sim.post("/register", json=body).status_code == 204


def post(server: ServerProcess, username: str, text: str) -> None:
    with server.client(headers=SIM_HEADERS) as sim:
        response = sim.post(f"/msgs/{username}", json={"content": text})
        assert response.status_code == 204, response.text


def admin(statement: sql.Composable | str, *params: str) -> None:
    connection = psycopg2.connect(PG_ADMIN_URL)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement, params or None)
    finally:
        connection.close()


def test_a_subscriber_on_one_replica_gets_a_rest_post_made_on_the_other(
    replicas: tuple[ServerProcess, ServerProcess],
) -> None:
    one, two = replicas
    register(two, "ann")
    with Subscriber(one.url) as watcher:
        operation = watcher.subscribe(PUBLIC)
        post(two, "ann", "from the other replica")
        events = watcher.events_until(operation, "from the other replica")
    assert texts(events) == ["from the other replica"]
    assert events[-1]["message"]["author"]["username"] == "ann"


def test_home_filtering_on_one_replica_follows_a_follow_made_on_the_other(
    replicas: tuple[ServerProcess, ServerProcess],
) -> None:
    one, two = replicas
    register(two, "ann", "bob")
    with two.client() as ann_on_two:
        ann_on_two.post("/graphql", json={"query": LOGIN, "variables": {"u": "ann", "p": "pw"}})
        cookie = "; ".join(f"{k}={v}" for k, v in ann_on_two.cookies.items())
        with Subscriber(one.url, cookie=cookie) as home:
            operation = home.subscribe(HOME)
            post(two, "bob", "not followed yet")
            post(two, "ann", "ann's own")  # delivered after bob's was decided: in order
            before = home.events_until(operation, "ann's own")
            answer = ann_on_two.post(
                "/graphql",
                json={"query": FOLLOW, "variables": {"u": "bob"}},
                # production's cookie is Secure: httpx keeps it; a request with the cookie
                # must come from the site's own origin
                headers={"Cookie": cookie, "Origin": two.url},
            )
            assert answer.status_code == 200, answer.text
            assert "errors" not in answer.json(), answer.text
            post(two, "bob", "followed now")
            events = home.events_until(operation, "followed now")
    # Home delivers what the viewer follows when the hub delivers it, so bob's first message
    # is left out only because ann's own message, posted after it, arrived first.
    assert texts(before) == ["ann's own"]
    assert texts(events) == ["followed now"]


def test_a_flag_from_the_command_line_removes_the_message_on_every_replica(
    replicas: tuple[ServerProcess, ServerProcess], pg_url: str
) -> None:
    one, two = replicas
    register(one, "ann")
    with Subscriber(one.url) as on_one, Subscriber(two.url) as on_two:
        first, second = on_one.subscribe(PUBLIC), on_two.subscribe(PUBLIC)
        post(one, "ann", "to be flagged")
        (added,) = on_one.events_until(first, "to be flagged")
        on_two.events_until(second, "to be flagged")
        message_id = _row_id(added["messageId"])
        env = {**os.environ, "DATABASE_URL": pg_url, "SECRET_KEY": TEST_SECRET}
        subprocess.run(
            [sys.executable, "-m", "minitwit", "flag", str(message_id)],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        removed = [on_one.next_event(first), on_two.next_event(second)]
    assert removed == [{"kind": "REMOVED", "messageId": added["messageId"], "message": None}] * 2


def _row_id(global_id: str) -> int:
    import base64

    kind, _, raw = base64.b64decode(global_id).decode().partition(":")
    assert kind == "Message"
    return int(raw)


def test_a_lost_listening_connection_leaves_no_subscriber_silent(
    replicas: tuple[ServerProcess, ServerProcess], pg_url: str
) -> None:
    """What a PostgreSQL restart does to a replica's listener, without restarting the server
    other tests share: its connection is terminated, and no new connection is allowed for a
    while, during which the other replica (on a connection it already holds) posts. The
    subscriber is told to refetch once the listener is back, then gets new messages again."""
    one, two = replicas
    database = pg_url.rsplit("/", 1)[1]
    register(two, "ann")
    post(two, "ann", "warms the other replica's pool")
    with Subscriber(one.url) as watcher:
        operation = watcher.subscribe(PUBLIC)
        post(two, "ann", "before the outage")
        watcher.events_until(operation, "before the outage")
        allow = "ALTER DATABASE {} ALLOW_CONNECTIONS {}"
        admin(sql.SQL(allow).format(sql.Identifier(database), sql.SQL("false")))
        try:
            admin(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND application_name = 'minitwit-listener'",
                database,
            )
            post(two, "ann", "during the outage")
        finally:
            admin(sql.SQL(allow).format(sql.Identifier(database), sql.SQL("true")))
        refetch = watcher.next_event(operation, timeout=30)
        post(two, "ann", "after the outage")
        after = watcher.events_until(operation, "after the outage", timeout=30)
    assert refetch == {"kind": "REFETCH", "messageId": None, "message": None}
    assert texts(after)[-1] == "after the outage"


def test_sigterm_closes_sockets_with_the_service_restart_code(pg_url: str, tmp_path: Path) -> None:
    server = ServerProcess(pg_url, tmp_path / "server.log").start()
    try:
        with Subscriber(server.url) as watcher:
            watcher.subscribe(PUBLIC)
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                watcher.receive(30)
            server.process.wait(timeout=30)  # uvicorn re-raises the signal: -15
    finally:
        server.stop()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1012


def listeners(database: str) -> int:
    connection = psycopg2.connect(PG_ADMIN_URL)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = %s AND application_name = 'minitwit-listener'",
                (database,),
            )
            row = cursor.fetchone()
    finally:
        connection.close()
    assert row is not None
    return int(row[0])


def test_one_listening_connection_per_worker_process_whatever_the_subscribers(
    pg_url: str, tmp_path: Path
) -> None:
    database = pg_url.rsplit("/", 1)[1]
    server = ServerProcess(pg_url, tmp_path / "server.log", "--workers", "2").start()
    try:
        register(server, "ann")
        # the workers start one after the other: each listens once its start-up is over
        deadline = time.monotonic() + 60
        while listeners(database) < 2:
            assert time.monotonic() < deadline, "the second worker never listened"
            time.sleep(0.1)
        subscribers = [Subscriber(server.url) for _ in range(6)]
        try:
            operations = [s.subscribe(PUBLIC) for s in subscribers]
            post(server, "ann", "to six subscribers")
            for subscriber, operation in zip(subscribers, operations, strict=True):
                subscriber.events_until(operation, "to six subscribers")
            assert listeners(database) == 2
        finally:
            for subscriber in subscribers:
                subscriber.close()
    finally:
        server.stop()
