"""``minitwit serve`` as a real process on a loopback port, for tests and benchmarks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
TEST_SECRET = "a-test-secret-that-is-not-the-development-key"
START_TIMEOUT_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``python -m minitwit serve`` in a subprocess, ready once ``/health/ready`` says so.

    Production settings unless ``env`` says otherwise; ``args`` go to ``serve``.
    """

    def __init__(self, database_url: str, log_path: Path, *args: str, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.args = args
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "MINITWIT_ENV": "production",
            "SECRET_KEY": TEST_SECRET,
            "LOG_LEVEL": "WARNING",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready: str = "/health/ready") -> ServerProcess:
        """Start and wait for ``ready`` to answer 200 (``/health/live`` for a server whose
        database is meant to be out of reach)."""
        command = [sys.executable, "-m", "minitwit", "serve", "--host", "127.0.0.1"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port), *self.args],
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
                if httpx.get(f"{self.url}{ready}", timeout=1).status_code == 200:
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


def raw_exchange(
    port: int, head: bytes, pieces: list[bytes], pause: float
) -> tuple[int, bytes, Any]:
    """Send ``head`` then each piece ``pause`` seconds apart, keep the socket open, and read
    the answer until the server closes the connection, which it must do at once after a 408
    (or a ``Connection: close`` request), well before uvicorn's 5 s keep-alive timeout.
    Returns the status, the lower-cased header block and the JSON body."""
    with socket.create_connection(("127.0.0.1", port), timeout=4) as sock:
        sock.sendall(head)
        for piece in pieces:
            time.sleep(pause)
            sock.sendall(piece)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    header, _, body = answer.partition(b"\r\n\r\n")
    return int(header.split()[1]), header.lower(), json.loads(body)
