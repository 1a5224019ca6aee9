"""``minitwit backup`` and ``minitwit restore``, run as real processes against databases
holding the simulator scenario's data, compared table by table after the round trip."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from minitwit import passwords
from minitwit.db import migrate
from minitwit.db.database import Database
from minitwit.models import Message, User
from minitwit.ops import backup
from minitwit.ops.replay import Action
from minitwit.resolvers import accounts, latest, messages, sign_ins, social
from minitwit.resolvers.errors import DomainError
from minitwit.settings import Settings
from tests.conftest import BACKENDS, PostgresDatabases, shared_file

pytestmark = pytest.mark.scenario

Fingerprint = dict[str, tuple[int, str]]


def minitwit(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL_FILE"}
    return subprocess.run(
        [sys.executable, "-m", "minitwit", *args],
        env={**env, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def fingerprint(url: str) -> Fingerprint:
    """Every table's row count and a SHA-256 of its rows in a fixed order."""
    return backup.checksums(Settings(database_url=url))


def load_scenario(url: str) -> None:
    """The whole scenario (users, tweets, follows, unfollows) through the resolvers, plus a
    flagged message, a moderator, a sign-in and ``latest``, so every table holds rows.
    One password hash serves every user: argon2 per user would only make the test slow."""
    database = Database(Settings(database_url=url))
    pw_hash = passwords.hash_password("scenario password")
    users: dict[str, User] = {}
    last = 0
    try:
        with database.unit(write=True, atomic=True) as tx:
            with shared_file("minitwit_scenario.csv").open(encoding="utf-8") as scenario:
                for line in scenario:
                    action = Action.parse(line)
                    last = action.latest
                    try:
                        if action.kind == "register":
                            users[action.username] = accounts.create_user(
                                tx,
                                username=action.username,
                                email=action.argument,
                                pw_hash=pw_hash,
                            )
                        elif action.kind == "tweet":
                            messages.post_message(
                                tx,
                                author=users[action.username],
                                text=action.argument,
                                max_length=10_000,
                                allow_empty=True,
                            )
                        elif action.kind == "follow":
                            social.follow(tx, who=users[action.username], whom=action.argument)
                        else:
                            social.unfollow(tx, who=users[action.username], whom=action.argument)
                    except (DomainError, KeyError):
                        continue  # the scenario's own mistakes (the simulator expects some)
            first_message = tx.execute(select(Message.id).order_by(Message.id)).scalar()
            assert first_message is not None
            messages.set_flagged(tx, message_id=first_message, flagged=True, moderator=None)
            moderator = next(iter(users))
            accounts.set_moderator(tx, username=moderator)
            sign_ins.start(tx, user_id=users[moderator].id or 0, max_age=3600)
            latest.set_latest(tx, last)
    finally:
        database.dispose()


@dataclass
class Source:
    url: str
    fingerprint: Fingerprint


@pytest.fixture(scope="module", params=BACKENDS)
def source(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Source]:
    """A migrated database holding the scenario, one per backend for the whole module."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('source') / 'scenario.sqlite3'}"
        databases = None
    else:
        databases = request.getfixturevalue("postgres")
        url = databases.fresh()
    database = Database(Settings(database_url=url))
    migrate.upgrade(database.engine)
    database.dispose()
    load_scenario(url)
    yield Source(url, fingerprint(url))
    if databases is not None:
        databases.drop(url)


def empty_database(
    source: Source, request: pytest.FixtureRequest, tmp_path: Path, *, migrated: bool
) -> str:
    if source.url.startswith("sqlite"):
        path = tmp_path / f"target-{migrated}.sqlite3"
        if migrated:
            database = Database(Settings(database_url=f"sqlite:///{path}"))
            migrate.upgrade(database.engine)
            database.dispose()
        return f"sqlite:///{path}"
    databases: PostgresDatabases = request.getfixturevalue("postgres")
    return databases.fresh(migrated=migrated)


def test_the_scenario_is_loaded_into_every_table(source: Source) -> None:
    counts = {name: count for name, (count, _) in source.fingerprint.items()}
    assert counts["users"] >= 200
    assert counts["messages"] >= 10_000
    assert counts["followers"] >= 1_000
    assert counts["sessions"] == 1
    assert counts["latest"] == 1
    assert counts["alembic_version"] == 1


@pytest.mark.parametrize("migrated", [False, True], ids=["blank", "migrated-empty"])
def test_a_backup_restored_into_an_empty_database_matches_table_for_table(
    source: Source, request: pytest.FixtureRequest, tmp_path: Path, migrated: bool
) -> None:
    path = tmp_path / "minitwit.backup"
    made = minitwit("backup", str(path), url=source.url)
    assert made.returncode == 0, made.stderr
    assert path.stat().st_size > 0
    assert not list(tmp_path.glob(".*partial"))

    target = empty_database(source, request, tmp_path, migrated=migrated)
    restored = minitwit("restore", str(path), url=target)
    assert restored.returncode == 0, restored.stderr
    assert fingerprint(target) == source.fingerprint

    # The restored database is usable: identifiers continue after the restored rows.
    database = Database(Settings(database_url=target))
    try:
        with database.unit(write=True, atomic=True) as tx:
            author = accounts.require_user(tx, "Roger Histand")
            posted = messages.post_message(tx, author=author, text="after the restore")
        assert posted.id > source.fingerprint["messages"][0]
        assert migrate.current_revision(database.engine) == migrate.head_revision()
    finally:
        database.dispose()


def test_restore_refuses_a_database_that_holds_data_unless_forced(
    source: Source, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    path = tmp_path / "minitwit.backup"
    assert minitwit("backup", str(path), url=source.url).returncode == 0
    target = empty_database(source, request, tmp_path, migrated=True)
    database = Database(Settings(database_url=target))
    try:
        with database.unit(write=True, atomic=True) as tx:
            accounts.create_user(tx, username="newcomer", email="n@example.org", pw_hash="x")
    finally:
        database.dispose()
    before = fingerprint(target)

    refused = minitwit("restore", str(path), url=target)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: the database is not empty (rows in users)")
    assert "--force" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert fingerprint(target) == before

    forced = minitwit("restore", "--force", str(path), url=target)
    assert forced.returncode == 0, forced.stderr
    assert fingerprint(target) == source.fingerprint


def test_backup_errors_are_one_line_and_leave_nothing_behind(
    source: Source, tmp_path: Path
) -> None:
    existing = tmp_path / "existing.backup"
    existing.write_bytes(b"keep me")
    if source.url.startswith("sqlite"):
        nowhere, unreachable = f"sqlite:///{tmp_path / 'missing' / 'x.sqlite3'}", "does not exist"
    else:
        nowhere, unreachable = "postgresql://nobody@127.0.0.1:1/none", "pg_dump failed"
    cases = [
        (["backup", str(existing)], source.url, "exists already"),
        (["backup", str(tmp_path / "no-dir" / "x.backup")], source.url, "is not a directory"),
        (["backup", str(tmp_path / "x.backup")], nowhere, unreachable),
        (["restore", str(tmp_path / "absent.backup")], source.url, "is not a file"),
        (["restore", str(existing)], source.url, "is not a"),
    ]
    for args, url, expected in cases:
        result = minitwit(*args, url=url)
        assert result.returncode == 1, (args, result.stderr)
        assert result.stderr.startswith("error: "), result.stderr
        assert expected in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr
    assert existing.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.backup"]


@pytest.mark.postgres
def test_restore_refuses_a_sqlite_file_on_postgresql_and_vice_versa(
    postgres: PostgresDatabases, tmp_path: Path
) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'small.sqlite3'}"
    database = Database(Settings(database_url=sqlite_url))
    migrate.upgrade(database.engine)
    database.dispose()
    sqlite_backup = tmp_path / "sqlite.backup"
    assert minitwit("backup", str(sqlite_backup), url=sqlite_url).returncode == 0
    pg_url = postgres.fresh()
    try:
        pg_backup = tmp_path / "pg.backup"
        assert minitwit("backup", str(pg_backup), url=pg_url).returncode == 0
        wrong = minitwit("restore", str(sqlite_backup), url=pg_url)
        assert "is not a pg_dump custom-format archive" in wrong.stderr
        wrong = minitwit("restore", str(pg_backup), url=sqlite_url)
        assert "is not a SQLite database" in wrong.stderr
    finally:
        postgres.drop(pg_url)


def test_db_checksum_prints_what_the_restore_is_compared_by(source: Source) -> None:
    printed = minitwit("db", "checksum", url=source.url)
    assert printed.returncode == 0, printed.stderr
    rows = [line.split("\t") for line in printed.stdout.splitlines()]
    assert {name: (int(count), digest) for name, count, digest in rows} == source.fingerprint


def test_restore_into_another_database_of_the_same_server(
    source: Source, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if source.url.startswith("sqlite"):
        refused = minitwit("restore", "--database", "other", str(tmp_path / "x"), url=source.url)
        assert refused.returncode == 1
        assert refused.stderr == (
            "error: --database names a PostgreSQL database; on SQLite set DATABASE_URL\n"
        )
        return
    path = tmp_path / "minitwit.backup"
    assert minitwit("backup", str(path), url=source.url).returncode == 0
    target = empty_database(source, request, tmp_path, migrated=False)
    name = target.rsplit("/", 1)[1]
    # The URL names the source's database; --database the one beside it to restore into.
    restored = minitwit("restore", "--database", name, str(path), url=source.url)
    assert restored.returncode == 0, restored.stderr
    compared = minitwit("db", "checksum", "--database", name, url=source.url)
    assert compared.returncode == 0, compared.stderr
    assert compared.stdout == minitwit("db", "checksum", url=source.url).stdout
    assert fingerprint(target) == source.fingerprint
