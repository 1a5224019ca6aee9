"""A live server for the simulator API's tests, on each backend.

Every test module gets a database of its own and a server on a loopback port: on PostgreSQL a
real ``minitwit serve`` process, started the way the README starts it (``python -m minitwit
serve``, production settings); on SQLite the same application with the same settings in a
thread of the test process (fast, and in reach of the mutation tests, see tests/MUTATION.md).
The database fixtures (``postgres``, ``sqlite_template``) are the suite's.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import httpx
import pytest

from minitwit.app import create_app
from minitwit.settings import DEFAULT_SIMULATOR_AUTH, Settings
from tests.conftest import BACKENDS, LiveServer, PostgresDatabases
from tests.servers import TEST_SECRET, ServerProcess

SIM_HEADERS = {"Authorization": DEFAULT_SIMULATOR_AUTH, "Content-Type": "application/json"}


class RestServer(Protocol):
    url: str

    def client(self, **kwargs: Any) -> httpx.Client: ...


class InProcessServer:
    """The application on SQLite, served by uvicorn in a thread of the test process."""

    def __init__(self, live: LiveServer) -> None:
        self.live = live
        self.url = live.url

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kwargs)


@contextmanager
def serving(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RestServer]:
    """A server of ``backend`` on a fresh database of its own."""
    directory = tmp_path_factory.mktemp("server")
    if backend == "sqlite":
        path = directory / "minitwit.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        settings = Settings(
            database_url=f"sqlite:///{path}",
            env="production",
            secret_key=TEST_SECRET,
            migrate_on_start=False,
        )
        with LiveServer(create_app(settings)) as live:
            yield InProcessServer(live)
        return
    postgres: PostgresDatabases = request.getfixturevalue("postgres")
    url = postgres.fresh()
    server = ServerProcess(url, directory / "server.log").start()
    try:
        yield server
    finally:
        server.stop()
        postgres.drop(url)


@pytest.fixture(scope="module", params=BACKENDS)
def rest_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RestServer]:
    """One server for the whole test module: its tests see each other's data."""
    with serving(request.param, request, tmp_path_factory) as server:
        yield server


@pytest.fixture(scope="module")
def pg_url(postgres: PostgresDatabases) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for the whole test module."""
    url = postgres.fresh()
    yield url
    postgres.drop(url)


@pytest.fixture(scope="module")
def pg_server(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``minitwit serve`` as a process on ``pg_url``."""
    server = ServerProcess(pg_url, tmp_path_factory.mktemp("server") / "server.log").start()
    yield server
    server.stop()


@pytest.fixture
def sim(rest_server: RestServer) -> Iterator[httpx.Client]:
    """A client that sends what the simulator sends on every request."""
    with rest_server.client(headers=SIM_HEADERS) as client:
        yield client


@pytest.fixture
def anonymous(rest_server: RestServer) -> Iterator[httpx.Client]:
    """A client without the simulator's Authorization header."""
    with rest_server.client() as client:
        yield client
