"""The database out of reach: a clear, retryable 503 (never a 500), and recovery after it."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from minitwit.app import create_app
from minitwit.db import UNAVAILABLE
from minitwit.settings import Settings
from tests.conftest import PG_ADMIN_URL, LiveServer, PostgresDatabases
from tests.factories import PASSWORD, make_user
from tests.servers import TEST_SECRET, free_port

TIMELINE = "{ publicTimeline { nodes { text author { username } } } }"
LOGIN = "mutation ($u: String!, $p: String!) { login(username: $u, password: $p) { username } }"


@pytest.fixture
def nowhere() -> Iterator[LiveServer]:
    """A server whose PostgreSQL refuses connections: nothing listens on its port."""
    settings = Settings(
        database_url=f"postgresql://minitwit@127.0.0.1:{free_port()}/minitwit",
        secret_key=TEST_SECRET,
        migrate_on_start=False,
    )
    with LiveServer(create_app(settings)) as live:
        yield live


def test_rest_answers_503_with_retry_after_when_the_database_is_out_of_reach(
    nowhere: LiveServer,
) -> None:
    auth = {"Authorization": nowhere.app.state.settings.simulator_auth}
    with nowhere.client() as http:
        for response in (
            http.get("/msgs", headers=auth),
            http.post("/msgs/ann", json={"content": "hello"}, headers=auth),
            http.post("/register", json={"username": "ann", "email": "a@b.c", "pwd": "p"}),
            http.get("/latest"),
        ):
            assert response.status_code == 503, (response.request.url, response.text)
            assert response.json() == {"error_msg": UNAVAILABLE, "status": 503}
            assert response.headers["retry-after"] == "1"
        assert http.get("/health/ready").status_code == 503
        assert http.get("/health/live").status_code == 200
        metrics = http.get("/metrics").text
    assert 'route="/msgs",status="503"' in metrics
    assert 'status="500"' not in metrics


def test_graphql_says_service_unavailable_when_the_database_is_out_of_reach(
    nowhere: LiveServer,
) -> None:
    with nowhere.client() as client:
        assert client.error(TIMELINE) == (UNAVAILABLE, "SERVICE_UNAVAILABLE")
        assert client.error(LOGIN, u="ann", p=PASSWORD) == (UNAVAILABLE, "SERVICE_UNAVAILABLE")


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


def _terminate_connections_to(database: str) -> int:
    connection = psycopg2.connect(PG_ADMIN_URL)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )
            row = cursor.fetchone()
    finally:
        connection.close()
    assert row is not None
    return int(row[0])
