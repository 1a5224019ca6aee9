"""A worker process killed with SIGKILL under simulator writes: every write acknowledged with a
2xx is in the database afterwards, none twice, and the service keeps answering (the master
starts a new worker, the other serves meanwhile)."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PostgresDatabases
from tests.rest.conftest import SIM_HEADERS
from tests.servers import ServerProcess

pytestmark = pytest.mark.postgres

WRITERS = 4


def worker_pids(master: int) -> set[int]:
    """The master's worker processes (multiprocessing's spawned children, not its tracker)."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    workers = set()
    for child in map(int, children):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in command:
            workers.add(child)
    return workers


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def two_workers(postgres: PostgresDatabases, tmp_path: Path) -> Iterator[ServerProcess]:
    url = postgres.fresh()
    server = ServerProcess(url, tmp_path / "server.log", "--workers", "2").start()
    try:
        yield server
    finally:
        server.stop()
        postgres.drop(url)


def test_a_worker_killed_under_writes_loses_no_acknowledged_write(
    two_workers: ServerProcess,
) -> None:
    server = two_workers
    assert server.process is not None
    master = server.process.pid
    wait_for(lambda: len(worker_pids(master)) == 2, "two workers")
    with server.client(headers=SIM_HEADERS) as client:
        body = {"username": "ann", "email": "ann@example.org", "pwd": "p"}
        assert client.post("/register", json=body).status_code == 204

    ids = itertools.count(1)
    lock = threading.Lock()
    acknowledged: set[str] = set()
    unanswered: list[str] = []  # the answer was lost: the write may or may not have happened
    other_statuses: list[int] = []
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            with lock:
                n = next(ids)
            text = f"message {n}"
            try:
                # A new connection for every request, as the simulator makes, so requests
                # spread over both workers.
                response = httpx.post(
                    f"{server.url}/msgs/ann",
                    params={"latest": n},
                    json={"content": text},
                    headers=SIM_HEADERS,
                    timeout=10,
                )
            except httpx.TransportError:
                with lock:
                    unanswered.append(text)
                continue
            with lock:
                if 200 <= response.status_code < 300:
                    acknowledged.add(text)
                else:
                    other_statuses.append(response.status_code)

    writers = [threading.Thread(target=write) for _ in range(WRITERS)]
    for thread in writers:
        thread.start()
    try:
        wait_for(lambda: len(acknowledged) >= 40, "writes before the kill")
        victim = min(worker_pids(master))
        os.kill(victim, signal.SIGKILL)
        with lock:
            before_restart = len(acknowledged)

        def replaced() -> bool:
            workers = worker_pids(master)
            return len(workers) == 2 and victim not in workers

        wait_for(replaced, "the master to replace the killed worker")
        with lock:
            at_restart = len(acknowledged)
        wait_for(lambda: len(acknowledged) >= at_restart + 80, "writes after the restart")
    finally:
        stop.set()
        for thread in writers:
            thread.join(timeout=30)

    assert before_restart >= 40
    # Refusals other than a lost connection would be 503s (the database), never a 500.
    assert all(status == 503 for status in other_statuses), other_statuses
    with server.client(headers=SIM_HEADERS) as client:
        stored = [m["content"] for m in client.get("/msgs/ann", params={"no": 100_000}).json()]
        assert client.get("/health/ready").status_code == 200
    assert len(stored) == len(set(stored)), "a write was stored twice"
    missing = acknowledged - set(stored)
    assert not missing, f"acknowledged but lost: {sorted(missing)[:10]}"
    assert set(stored) <= acknowledged | set(unanswered)
