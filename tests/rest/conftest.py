"""Live ``minitwit serve`` processes on PostgreSQL for the simulator API's tests.

The database fixtures (``postgres``, ``shared_file``) are the suite's, from ``tests/conftest.py``;
here every test module gets a database of its own and a real server process on a loopback port,
started the way the README starts it (``python -m minitwit serve``, production settings).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from minitwit.settings import DEFAULT_SIMULATOR_AUTH
from tests.conftest import REPO, TEST_SECRET, PostgresDatabases, free_port

SIM_HEADERS = {"Authorization": DEFAULT_SIMULATOR_AUTH, "Content-Type": "application/json"}
START_TIMEOUT_SECONDS = 30


class ServerProcess:
    """``python -m minitwit serve`` in a subprocess, ready once ``/health/ready`` says so."""

    def __init__(self, database_url: str, log_path: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "MINITWIT_ENV": "production",
            "SECRET_KEY": TEST_SECRET,
            "LOG_LEVEL": "WARNING",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        command = [sys.executable, "-m", "minitwit", "serve", "--host", "127.0.0.1"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port)],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited at start:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the server was not ready in {START_TIMEOUT_SECONDS} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kwargs)


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
