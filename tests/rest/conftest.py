"""Live ``minitwit serve`` processes on PostgreSQL for the simulator API's tests.

The database fixtures (``postgres``, ``shared_file``) are the suite's, from ``tests/conftest.py``;
here every test module gets a database of its own and a real server process on a loopback port,
started the way the README starts it (``python -m minitwit serve``, production settings).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from minitwit.settings import DEFAULT_SIMULATOR_AUTH
from tests.conftest import PostgresDatabases
from tests.servers import ServerProcess

SIM_HEADERS = {"Authorization": DEFAULT_SIMULATOR_AUTH, "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def pg_url(postgres: PostgresDatabases) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for the whole test module."""
    url = postgres.fresh()
    yield url
    postgres.drop(url)


@pytest.fixture(scope="module")
def rest_server(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("server") / "server.log"
    server = ServerProcess(pg_url, log).start()
    yield server
    server.stop()


@pytest.fixture
def sim(rest_server: ServerProcess) -> Iterator[httpx.Client]:
    """A client that sends what the simulator sends on every request."""
    with rest_server.client(headers=SIM_HEADERS) as client:
        yield client


@pytest.fixture
def anonymous(rest_server: ServerProcess) -> Iterator[httpx.Client]:
    """A client without the simulator's Authorization header."""
    with rest_server.client() as client:
        yield client
