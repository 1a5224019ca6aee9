"""What a benchmark run starts: PostgreSQL databases and the servers under test."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg2
from psycopg2 import sql

from tests.servers import REPO, ServerProcess, free_port

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
START_TIMEOUT_SECONDS = 30
# The options ``minitwit serve`` gives uvicorn (minitwit/cli.py), for the ceilings too.
UVICORN_OPTIONS = (
    "--workers",
    "1",
    "--no-access-log",
    "--proxy-headers",
    "--no-server-header",
    "--timeout-graceful-shutdown",
    "30",
    "--log-level",
    "warning",
)


class Databases:
    """Fresh databases on one PostgreSQL server, migrated by ``minitwit db upgrade``."""

    def __init__(self, admin_url: str = DEFAULT_PG) -> None:
        self.admin_url = admin_url
        self.prefix = f"minitwit_bench_{uuid.uuid4().hex[:8]}"
        self.created: list[str] = []
        self.template: str | None = None

    def url(self, name: str, host_port: str | None = None) -> str:
        base = self.admin_url.rsplit("/", 1)[0]
        if host_port is not None:
            base = f"postgresql://postgres@{host_port}"
        return f"{base}/{name}"

    def admin(self, statement: sql.Composable | str, database: str | None = None) -> list[Any]:
        url = self.admin_url if database is None else self.url(database)
        connection = psycopg2.connect(url)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
                return cursor.fetchall() if cursor.description else []
        finally:
            connection.close()

    def create(self, label: str) -> str:
        """A new database migrated by ``minitwit db upgrade`` (a copy of one migrated template,
        which is faster than migrating each); returns its name."""
        if self.template is None:
            self.template = self._create(f"{self.prefix}_template", template=None)
            env = {
                **os.environ,
                "DATABASE_URL": self.url(self.template),
                "MINITWIT_ENV": "development",
            }
            subprocess.run(
                [sys.executable, "-m", "minitwit", "db", "upgrade"],
                cwd=REPO,
                env=env,
                check=True,
                capture_output=True,
            )
        return self._create(f"{self.prefix}_{label}", template=self.template)

    def _create(self, name: str, template: str | None) -> str:
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement = sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        self.admin(statement)
        self.created.append(name)
        return name

    def drop_all(self) -> None:
        for name in reversed(self.created):
            self.admin(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        self.created.clear()
        self.template = None

    def server_version(self) -> str:
        return str(self.admin("SHOW server_version")[0][0])


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM of a process, in MiB (None when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class MiniTwitServer:
    """``python -m minitwit serve`` in production mode, one worker (tests/servers.py)."""

    kind = "minitwit"

    def __init__(self, database_url: str, log_dir: Path, name: str) -> None:
        self.name = name
        self.server = ServerProcess(
            database_url,
            log_dir / f"{name}.log",
            SECRET_KEY=uuid.uuid4().hex,
            LOG_LEVEL="INFO",  # production's default: one JSON line per request
        )
        self.url = self.server.url
        self.peak_rss: float | None = None

    def start(self) -> MiniTwitServer:
        self.server.start()
        return self

    @property
    def pid(self) -> int:
        assert self.server.process is not None
        return self.server.process.pid

    def stop(self) -> None:
        if self.server.process is not None and self.server.process.poll() is None:
            self.peak_rss = peak_rss_mb(self.pid)
        self.server.stop()


class CeilingServer:
    """A ceiling app (``bench.ceiling_rest``, ``bench.ceiling_graphql``) under uvicorn."""

    def __init__(
        self, factory: str, database_url: str, log_dir: Path, name: str, ready: str, pool: int = 10
    ) -> None:
        self.name = name
        self.factory = factory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{name}.log"
        self.ready = ready
        self.env = {**os.environ, "DATABASE_URL": database_url, "POOL_SIZE": str(pool)}
        self.process: subprocess.Popen[bytes] | None = None
        self.peak_rss: float | None = None

    def start(self) -> CeilingServer:
        command = [sys.executable, "-m", "uvicorn", self.factory, "--factory"]
        command += ["--host", "127.0.0.1", "--port", str(self.port), *UVICORN_OPTIONS]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.log_path.read_text()}")
            try:
                if self._probe().status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} was not ready in {START_TIMEOUT_SECONDS} s")

    def _probe(self) -> httpx.Response:
        if self.ready == "/graphql":
            return httpx.post(self.url + "/graphql", json={"query": "{ __typename }"}, timeout=1)
        return httpx.get(self.url + self.ready, timeout=1)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.peak_rss = peak_rss_mb(self.pid)
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def rest_ceiling(database_url: str, log_dir: Path, name: str) -> CeilingServer:
    return CeilingServer("bench.ceiling_rest:create_app", database_url, log_dir, name, "/latest")


def graphql_ceiling(database_url: str, log_dir: Path, name: str) -> CeilingServer:
    return CeilingServer(
        "bench.ceiling_graphql:create_app", database_url, log_dir, name, "/graphql"
    )


def combined_ceiling(database_url: str, log_dir: Path, name: str) -> CeilingServer:
    """Both ceilings in one process, sharing one pool: the fair match for one MiniTwit worker
    that serves REST writes and GraphQL reads at once."""
    return CeilingServer(
        "bench.ceiling_graphql:create_combined_app", database_url, log_dir, name, "/latest"
    )


def machine(databases: Databases) -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(memory_kb / 1024 / 1024, 1),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgresql": databases.server_version(),
        "wrk": wrk_version(),
    }


def wrk_version() -> str:
    try:
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    except OSError:
        return "absent"
    return (out.stdout or out.stderr).splitlines()[0].strip()


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
        )
        return result.stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD"),
        "short": git("rev-parse", "--short", "HEAD") or "nogit",
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }
