"""Shared fixtures: a fresh database per test on SQLite and on PostgreSQL, and live servers.

PostgreSQL tests need a server (``MINITWIT_TEST_PG_URL``, default the local one with trust
auth). Without one they are skipped with the reason, unless ``MINITWIT_REQUIRE_PG=1`` (as CI
sets), which turns the skip into a failure. Tests that read ``../shared/data`` skip likewise
without it, unless ``MINITWIT_REQUIRE_SHARED=1`` (as CI sets).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg2
import pytest
import uvicorn
from loguru import logger
from psycopg2 import sql
from starlette.applications import Starlette

from minitwit.app import create_app
from minitwit.db import migrate
from minitwit.db.database import Database
from minitwit.resolvers import social, throttle, timelines
from minitwit.settings import Settings
from tests.servers import REPO, TEST_SECRET, free_port

SHARED = Path(os.environ.get("MINITWIT_SHARED_DIR", REPO.parent / "shared"))
PG_ADMIN_URL = os.environ.get(
    "MINITWIT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_PG = os.environ.get("MINITWIT_REQUIRE_PG") == "1"
REQUIRE_SHARED = os.environ.get("MINITWIT_REQUIRE_SHARED") == "1"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(autouse=True)
def statements_built_afresh_under_mutation() -> None:
    """Under mutation testing (tests/mutation.sh) every test builds the SQL statements the
    resolvers cache per process. mutmut forks each mutant's test run from a process whose
    unmutated test run filled those caches: without this, a mutant of a statement builder
    would never be built, and would survive untested."""
    if os.environ.get("MUTANT_UNDER_TEST"):
        timelines._statement.cache_clear()
        timelines._brief_statement.cache_clear()
        social._people_statement.cache_clear()
        throttle._upsert.cache_clear()


def shared_file(name: str) -> Path:
    """A file of ../shared/data, or a skip that says why the test cannot run (a failure when
    ``MINITWIT_REQUIRE_SHARED=1``)."""
    path = SHARED / "data" / name
    if not path.is_file():
        message = f"{path} is absent: this test needs the shared reference data"
        if REQUIRE_SHARED:
            pytest.fail(message + " (MINITWIT_REQUIRE_SHARED=1 requires it)")
        pytest.skip(message)
    return path


def _pg_available() -> str | None:
    try:
        psycopg2.connect(PG_ADMIN_URL, connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        return str(exc).strip()
    return None


def _pg_url(database: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database


def _pg_admin(statement: sql.Composable) -> None:
    connection = psycopg2.connect(PG_ADMIN_URL)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


class PostgresDatabases:
    """Makes databases from one migrated template, and drops them all at the end."""

    def __init__(self) -> None:
        self.prefix = f"minitwit_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.template = f"{self.prefix}_template"
        self.created: list[str] = []
        self.numbers = itertools.count(1)  # not len(created): drop() shrinks that
        _pg_admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.template)))
        self.created.append(self.template)
        database = Database(Settings(database_url=_pg_url(self.template)))
        migrate.upgrade(database.engine)
        database.dispose()

    def fresh(self, migrated: bool = True) -> str:
        name = f"{self.prefix}_{next(self.numbers)}"
        statement = sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
            sql.Identifier(name), sql.Identifier(self.template)
        )
        if not migrated:
            statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        _pg_admin(statement)
        self.created.append(name)
        return _pg_url(name)

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        _pg_admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if name in self.created:
            self.created.remove(name)

    def drop_all(self) -> None:
        for name in reversed(list(self.created)):
            _pg_admin(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        self.created.clear()


@pytest.fixture
def log_levels() -> Iterator[list[str]]:
    """The level of every log record written meanwhile."""
    levels: list[str] = []
    sink = logger.add(lambda message: levels.append(message.record["level"].name))
    yield levels
    logger.remove(sink)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases]:
    problem = _pg_available()
    if problem is not None:
        message = f"PostgreSQL at {PG_ADMIN_URL} is unreachable: {problem}"
        if REQUIRE_PG:
            pytest.fail(message + " (MINITWIT_REQUIRE_PG=1 requires it)")
        pytest.skip(message)
    databases = PostgresDatabases()
    yield databases
    databases.drop_all()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    database = Database(Settings(database_url=f"sqlite:///{path}"))
    migrate.upgrade(database.engine)
    database.dispose()
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """A fresh, migrated database of the test's backend, gone after the test."""
    if backend == "sqlite":
        path = tmp_path / "minitwit.sqlite3"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres")
    url = databases.fresh()
    yield url
    databases.drop(url)


@pytest.fixture
def pg_url(postgres: PostgresDatabases) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, gone after the test (tests/rest has a
    module-wide one of the same name)."""
    url = postgres.fresh()
    yield url
    postgres.drop(url)


@pytest.fixture
def settings(database_url: str) -> Settings:
    # The test databases come migrated; the start-up migration has tests of its own.
    return Settings(database_url=database_url, secret_key=TEST_SECRET, migrate_on_start=False)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings)
    yield database
    database.dispose()


class LiveServer:
    """A real uvicorn server on a loopback port, in a thread of the test process."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_config=None, access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    @property
    def db(self) -> Database:
        database: Database = self.app.state.db
        return database

    def client(self) -> GraphQLClient:
        return GraphQLClient(self.url)


class GraphQLClient(httpx.Client):
    """An HTTP client with a cookie jar, speaking GraphQL at /graphql. It says it comes from
    the server's own origin, as the browser running the web client does."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url=base_url, timeout=30, headers={"Origin": base_url})

    def gql(self, query: str, **variables: Any) -> dict[str, Any]:
        # json.dumps escapes what UTF-8 cannot carry (lone surrogates), as browsers' JSON does
        response = self.post(
            "/graphql",
            content=json.dumps({"query": query, "variables": variables}),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def data(self, query: str, **variables: Any) -> dict[str, Any]:
        """The data of a query that must succeed."""
        body = self.gql(query, **variables)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    def error(self, query: str, **variables: Any) -> tuple[str, str]:
        """(message, extensions.code) of a query that must fail with one error."""
        body = self.gql(query, **variables)
        assert len(body.get("errors") or []) == 1, body
        error = body["errors"][0]
        return error["message"], error["extensions"]["code"]


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    with LiveServer(create_app(settings)) as live:
        yield live


@pytest.fixture
def client(server: LiveServer) -> Iterator[GraphQLClient]:
    with server.client() as http:
        yield http


def pg_admin(statement: str, *params: object) -> list[tuple[Any, ...]]:
    """Run ``statement`` as the PostgreSQL superuser, outside any test database's pool."""
    connection = psycopg2.connect(PG_ADMIN_URL)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement, params or None)
            return list(cursor.fetchall()) if cursor.description else []
    finally:
        connection.close()


def backends_waiting_for_a_lock(database: str) -> list[int]:
    """The backends of ``database`` waiting for a lock, once there are any (or after 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        rows = pg_admin(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
            database,
        )
        if rows or time.monotonic() > deadline:
            return [int(row[0]) for row in rows]
        time.sleep(0.05)
