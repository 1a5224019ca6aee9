"""The stack's shell scripts, run for real: the PostgreSQL volume guard and the backup
schedule (with the real ``minitwit backup`` on SQLite)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minitwit.db import migrate
from minitwit.db.database import Database
from minitwit.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
GUARD = ROOT / "infra" / "docker" / "postgres-guard.sh"
SCHEDULE = ROOT / "infra" / "docker" / "backup-schedule.sh"
STARTED = "postgres would start now"


def guard(volume: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(GUARD), "sh", "-c", f"echo '{STARTED}'"],
        env={"PATH": "/usr/bin:/bin", "PGDATA": str(volume / "pgdata"), **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_guard_refuses_an_empty_directory_without_the_volume_marker(tmp_path: Path) -> None:
    """What a volume that failed to mount looks like: the empty directory under it."""
    result = guard(tmp_path)
    assert result.returncode == 1
    assert STARTED not in result.stdout
    assert "refusing to start" in result.stderr
    assert "not mounted" in result.stderr
    assert not (tmp_path / ".minitwit-volume").exists()


def test_guard_lets_a_marked_volume_initialise(tmp_path: Path) -> None:
    (tmp_path / ".minitwit-volume").touch()
    result = guard(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == STARTED


def test_guard_allows_the_first_start_when_told_and_marks_the_volume(tmp_path: Path) -> None:
    result = guard(tmp_path, MINITWIT_ALLOW_INITDB="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == STARTED
    assert (tmp_path / ".minitwit-volume").exists()
    # The flag is for the first start only; without it the marker now vouches for the volume.
    assert guard(tmp_path).returncode == 0


def test_guard_starts_an_existing_cluster_and_marks_its_volume(tmp_path: Path) -> None:
    (tmp_path / "pgdata").mkdir()
    (tmp_path / "pgdata" / "PG_VERSION").write_text("15\n")
    result = guard(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == STARTED
    assert (tmp_path / ".minitwit-volume").exists()


def test_guard_without_a_command_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        ["sh", str(GUARD)],
        env={"PATH": "/usr/bin:/bin", "PGDATA": str(tmp_path / "pgdata")},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 64
    assert "usage" in result.stderr


def schedule(backups: Path, database_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    path = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    return subprocess.run(
        ["sh", str(SCHEDULE)],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("DATABASE_URL")},
            "PATH": path,
            "DATABASE_URL": database_url,
            "MINITWIT_BACKUP_DIR": str(backups),
            "MINITWIT_BACKUP_ONCE": "1",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    database = Database(Settings(database_url=url))
    migrate.upgrade(database.engine)
    database.dispose()
    return url


def test_schedule_takes_a_restorable_backup_and_keeps_the_newest(
    tmp_path: Path, sqlite_url: str
) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    old = ["minitwit-20200101T000000Z.dump", "minitwit-20200102T000000Z.dump"]
    for name in old:
        (backups / name).write_bytes(b"an older backup")
    (backups / "notes.txt").write_text("not a backup: never deleted")

    result = schedule(backups, sqlite_url, MINITWIT_BACKUP_KEEP="2")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["level"] for line in lines] == ["INFO", "INFO"]
    assert "backup written to" in lines[0]["message"]
    assert lines[1]["message"] == f"deleted old backup {old[0]}"

    names = sorted(p.name for p in backups.iterdir() if p.name != ".metrics")
    assert len(names) == 3
    assert names[0] == old[1]
    assert names[2] == "notes.txt"
    new = backups / names[1]
    assert new.stat().st_mode & 0o777 == 0o600  # a backup is its owner's only
    report = metrics(backups)
    assert report["minitwit_backup_last_ok"] == 1
    assert report["minitwit_backup_last_size_bytes"] == new.stat().st_size
    assert (
        report["minitwit_backup_last_success_timestamp_seconds"]
        == (report["minitwit_backup_last_attempt_timestamp_seconds"])
    )
    restored = subprocess.run(
        [sys.executable, "-m", "minitwit", "restore", str(new)],
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'restored.sqlite3'}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert restored.returncode == 0, restored.stderr


def test_a_failed_backup_is_logged_and_deletes_nothing(tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    for day in range(1, 5):
        (backups / f"minitwit-2020010{day}T000000Z.dump").write_bytes(b"old")
    result = schedule(
        backups, f"sqlite:///{tmp_path / 'missing.sqlite3'}", MINITWIT_BACKUP_KEEP="1"
    )
    assert result.returncode == 0
    (line,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert line["level"] == "ERROR"
    assert "does not exist" in line["message"]
    assert len([p for p in backups.iterdir() if p.name != ".metrics"]) == 4
    # The failure is reported for the alert (MinitwitBackupFailed), at once.
    report = metrics(backups)
    assert report["minitwit_backup_last_ok"] == 0
    assert report["minitwit_backup_last_success_timestamp_seconds"] == 0
    assert report["minitwit_backup_last_attempt_timestamp_seconds"] > 1.7e9


def metrics(backups: Path) -> dict[str, float]:
    """The backup schedule's report for node-exporter's textfile collector, parsed."""
    path = backups / ".metrics" / "minitwit_backup.prom"
    assert path.stat().st_mode & 0o777 == 0o644  # node-exporter runs as another user
    samples = {}
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            name, value = line.split()
            samples[name] = float(value)
    return samples


def test_a_failed_backup_is_tried_again_after_the_retry_interval(tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    process = subprocess.Popen(
        ["sh", str(SCHEDULE)],
        env={
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'missing.sqlite3'}",
            "MINITWIT_BACKUP_DIR": str(backups),
            "MINITWIT_BACKUP_INTERVAL": "3600",
            "MINITWIT_BACKUP_RETRY": "1",
        },
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        attempts = [json.loads(process.stdout.readline()) for _ in range(2)]
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    assert [line["level"] for line in attempts] == ["ERROR", "ERROR"]


@pytest.mark.parametrize(
    ("env", "status"),
    [({"MINITWIT_BACKUP_KEEP": "0"}, 64), ({"MINITWIT_BACKUP_INTERVAL": "6h"}, 64)],
)
def test_schedule_refuses_bad_settings(
    tmp_path: Path, sqlite_url: str, env: dict[str, str], status: int
) -> None:
    result = schedule(tmp_path, sqlite_url, **env)
    assert result.returncode == status
    assert json.loads(result.stdout)["level"] == "ERROR"
