"""``python -m minitwit.healthcheck``: ready once, then alive."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from minitwit.app import create_app
from minitwit.db import migrate
from minitwit.db.database import Database
from minitwit.ops.healthcheck import check
from minitwit.settings import Settings
from tests.conftest import LiveServer
from tests.servers import TEST_SECRET
from tests.test_readiness import previous_revision


def test_unhealthy_until_the_schema_is_at_head_then_healthy(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'behind.sqlite3'}"
    database = Database(Settings(database_url=url))
    migrate.upgrade(database.engine, previous_revision())
    settings = Settings(database_url=url, secret_key=TEST_SECRET, migrate_on_start=False)
    marker = tmp_path / "was-ready"
    try:
        with LiveServer(create_app(settings)) as live:
            assert not check(live.port, marker)
            assert not marker.exists()
            migrate.upgrade(database.engine)
            assert check(live.port, marker)
            assert marker.exists()
    finally:
        database.dispose()


def test_once_ready_a_database_outage_does_not_make_the_task_unhealthy(tmp_path: Path) -> None:
    settings = Settings(
        database_url="postgresql://nobody@127.0.0.1:1/none",
        secret_key=TEST_SECRET,
        migrate_on_start=False,
    )
    marker = tmp_path / "was-ready"
    with LiveServer(create_app(settings)) as live:
        assert not check(live.port, marker), "never ready: unhealthy"
        marker.touch()
        assert check(live.port, marker), "was ready, is alive: healthy"


def test_the_module_exits_1_when_nothing_listens(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "minitwit.healthcheck", "1"],
        env={"TMPDIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert not list(tmp_path.iterdir())
