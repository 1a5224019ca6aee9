"""``/health/ready``: ready means the database answers and the schema is at the newest
migration, and the check answers even while every request thread waits on the database."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg2
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import event

from minitwit.app import create_app
from minitwit.db import migrate
from minitwit.db.database import Database
from minitwit.ops.health import SCHEMA_BEHIND, Readiness
from minitwit.settings import Settings
from tests.conftest import BACKENDS, LiveServer, PostgresDatabases
from tests.factories import make_user
from tests.servers import TEST_SECRET, ServerProcess


def previous_revision() -> str:
    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    head = scripts.get_revision("head")
    assert head is not None
    down = head.down_revision
    assert isinstance(down, str), "the test needs a linear history with at least two revisions"
    return down


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all, of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'behind.sqlite3'}"
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres")
    url = databases.fresh(migrated=False)
    yield url
    databases.drop(url)


def test_a_server_one_revision_behind_is_not_ready_until_db_upgrade(
    empty_database: str, tmp_path: Path
) -> None:
    database = Database(Settings(database_url=empty_database))
    migrate.upgrade(database.engine, previous_revision())
    database.dispose()
    server = ServerProcess(
        empty_database, tmp_path / "server.log", MINITWIT_MIGRATE_ON_START="0"
    ).start(ready="/health/live")
    try:
        with server.client() as http:
            response = http.get("/health/ready")
            assert response.status_code == 503
            assert response.json() == {"status": "unavailable", "reason": SCHEMA_BEHIND}
            # Asked again, still behind: nothing cached a wrong answer.
            assert http.get("/health/ready").status_code == 503

            upgrade = subprocess.run(
                [sys.executable, "-m", "minitwit", "db", "upgrade"],
                env={**os.environ, "DATABASE_URL": empty_database},
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert upgrade.returncode == 0, upgrade.stderr

            response = http.get("/health/ready")
            assert response.status_code == 200, response.text
            assert response.json() == {"status": "ok"}
    finally:
        server.stop()
    assert "schema at revision" in server.log()


def test_once_at_head_the_check_is_one_select(settings: Settings) -> None:
    readiness = Readiness(settings)
    statements: list[str] = []
    event.listen(
        readiness.engine,
        "before_cursor_execute",
        lambda _conn, _cursor, statement, *_rest: statements.append(statement),
    )
    try:
        assert readiness.schema_behind() is None
        assert any("alembic_version" in s for s in statements)
        statements.clear()
        assert readiness.schema_behind() is None
        assert readiness.schema_behind() is None
        assert statements == ["SELECT 1", "SELECT 1"]
    finally:
        readiness.dispose()


def _hold_followers_lock(url: str) -> tuple[Any, Callable[[], None]]:
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        return connection, lambda: connection.execute("ROLLBACK")
    pg = psycopg2.connect(url.replace("postgresql+psycopg2", "postgresql"))
    with pg.cursor() as cursor:
        cursor.execute("LOCK TABLE followers IN ACCESS EXCLUSIVE MODE")
    return pg, pg.rollback


def test_readiness_answers_while_every_request_thread_is_blocked(
    settings: Settings,
) -> None:
    """Every database token is held by a follow waiting on a lock, and more requests queue
    behind them; the readiness check still answers 200 (before, it queued for a token and
    said 503 after its timeout)."""
    settings = settings.with_(db_pool_size=2)
    with LiveServer(create_app(settings)) as live:
        db = live.db
        for name in ("ann", "bob", "cid", "dan"):
            make_user(db, name)
        auth = {"Authorization": settings.simulator_auth}
        connection, release = _hold_followers_lock(settings.database_url)
        statuses: list[int] = []

        def follow(who: str) -> None:
            with httpx.Client(base_url=live.url, timeout=30) as http:
                response = http.post(f"/fllws/{who}", json={"follow": "dan"}, headers=auth)
                statuses.append(response.status_code)

        blocked = [threading.Thread(target=follow, args=(n,)) for n in ("ann", "bob", "cid")]
        try:
            for thread in blocked:
                thread.start()
            deadline = time.monotonic() + 5
            while db.limiter.borrowed_tokens < db.limiter.total_tokens:
                assert time.monotonic() < deadline, "the follows never took every token"
                time.sleep(0.01)
            with httpx.Client(base_url=live.url, timeout=10) as http:
                response = http.get("/health/ready")
                assert response.status_code == 200, response.text
                assert db.limiter.borrowed_tokens == db.limiter.total_tokens
                assert all(thread.is_alive() for thread in blocked)
        finally:
            release()
            for thread in blocked:
                thread.join(timeout=30)
            connection.close()
    assert sorted(statuses) == [204, 204, 204]


def test_readiness_says_unavailable_within_its_timeout_when_the_database_is_gone() -> None:
    settings = Settings(
        database_url="postgresql://nobody@127.0.0.1:1/none",
        secret_key=TEST_SECRET,
        migrate_on_start=False,
    )
    with LiveServer(create_app(settings)) as live, live.client() as client:
        response = client.get("/health/ready")
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable", "reason": "database unreachable"}
