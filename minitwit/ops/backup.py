"""``minitwit backup PATH``, ``minitwit restore PATH`` and ``minitwit db checksum``.

PostgreSQL: ``pg_dump``/``pg_restore`` in their custom format (compressed, restorable table by
table), the password handed over in ``PGPASSWORD`` rather than on a command line anyone can
read in ``ps``. SQLite: the online backup API, a consistent copy while the server runs.

A backup is written next to its final name and renamed into place only once complete, so a
backup interrupted half-way never looks like a good one. A restore refuses a database that
holds any row unless told to replace it (``force``), and on PostgreSQL runs in one
transaction: it lands whole or not at all. ``checksums`` tells whether two databases hold the
same rows, such as the live one and a backup restored beside it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import column, create_engine, inspect, make_url, select, table
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import NullPool

from minitwit.ops.logs import first_line
from minitwit.settings import Settings

SQLITE_HEADER = b"SQLite format 3\x00"
# Rows every migrated database has (the schema's revision, the simulator's ``latest`` seeded
# at -1): a database whose other tables are empty holds nothing a restore could destroy.
BOOKKEEPING_TABLES = frozenset({"alembic_version", "latest"})
PG_TOOL_TIMEOUT_SECONDS = 6 * 3600


class BackupError(Exception):
    """A backup or restore that cannot be done, in one line an operator can act on."""


def backup(settings: Settings, path: Path) -> str:
    """Write a backup of the configured database to ``path``; returns a one-line summary."""
    if path.exists():
        raise BackupError(f"{path} exists already; choose a new file name")
    if not path.parent.is_dir():
        raise BackupError(f"{path.parent} is not a directory")
    with _partial(path) as partial:
        if settings.is_sqlite:
            _sqlite_backup(_sqlite_path(settings), partial)
        else:
            _pg_dump(settings, partial)
    return f"backup written to {path} ({path.stat().st_size} bytes)"


def restore(settings: Settings, path: Path, *, force: bool = False) -> str:
    """Restore the backup at ``path`` into the configured database; returns a summary."""
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    if settings.is_sqlite:
        _check_sqlite_backup(path)
    else:
        _check_pg_archive(path)
    occupied = tables_with_rows(settings)
    if occupied and not force:
        raise BackupError(
            f"the database is not empty (rows in {', '.join(occupied)}); "
            "restore into an empty database, or pass --force to replace its contents"
        )
    if settings.is_sqlite:
        _sqlite_restore(path, _sqlite_path(settings))
    else:
        _pg_restore(settings, path)
    return f"restored {path}; run `minitwit db upgrade` if the backup predates the newest migration"


def tables_with_rows(settings: Settings) -> list[str]:
    """The tables of the configured database, bookkeeping aside, that hold any row."""
    engine = create_engine(settings.database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            names = sorted(set(inspect(connection).get_table_names()) - BOOKKEEPING_TABLES)
            return [
                name
                for name in names
                if connection.execute(select(1).select_from(table(name)).limit(1)).first()
            ]
    except sa_exc.SQLAlchemyError as error:
        raise BackupError(f"cannot read the database: {first_line(error)}") from None
    finally:
        engine.dispose()


def checksums(settings: Settings) -> dict[str, tuple[int, str]]:
    """Every table's row count and a SHA-256 of its rows (columns by name, rows in order)."""
    engine = create_engine(settings.database_url, poolclass=NullPool)
    result: dict[str, tuple[int, str]] = {}
    try:
        with engine.connect() as connection:
            for name in sorted(inspect(connection).get_table_names()):
                names = sorted(c["name"] for c in inspect(connection).get_columns(name))
                rows = table(name, *(column(c) for c in names))
                digest = hashlib.sha256()
                count = 0
                for row in connection.execute(select(*rows.c).order_by(*rows.c)):
                    digest.update(repr(tuple(row)).encode())
                    count += 1
                result[name] = (count, digest.hexdigest())
    except sa_exc.SQLAlchemyError as error:
        raise BackupError(f"cannot read the database: {first_line(error)}") from None
    finally:
        engine.dispose()
    return result


def on_database(settings: Settings, name: str | None) -> Settings:
    """``settings`` with the database ``name`` on the same PostgreSQL server (None: as is)."""
    if name is None:
        return settings
    if settings.is_sqlite:
        raise BackupError("--database names a PostgreSQL database; on SQLite set DATABASE_URL")
    url = make_url(settings.database_url).set(database=name)
    return settings.model_copy(update={"database_url": url.render_as_string(hide_password=False)})


@contextmanager
def _partial(path: Path) -> Iterator[Path]:
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        yield partial
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


# --- SQLite -------------------------------------------------------------------------------


def _sqlite_path(settings: Settings) -> Path:
    database = make_url(settings.database_url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        raise BackupError("an in-memory SQLite database has nothing to back up or restore to")
    return Path(database)


def _sqlite_backup(source: Path, target: Path) -> None:
    if not source.is_file():
        raise BackupError(f"the SQLite database {source} does not exist")
    try:
        with _sqlite(f"file:{source}?mode=ro") as src, _sqlite(str(target)) as dst:
            src.backup(dst)
    except sqlite3.Error as error:
        raise BackupError(f"SQLite backup failed: {error}") from None


def _check_sqlite_backup(path: Path) -> None:
    with path.open("rb") as file:
        header = file.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise BackupError(f"{path} is not a SQLite database")
    try:
        with _sqlite(f"file:{path}?mode=ro") as connection:
            (verdict,) = connection.execute("PRAGMA integrity_check").fetchone()
            names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    except sqlite3.Error as error:
        raise BackupError(f"{path} cannot be read as a SQLite database: {error}") from None
    if verdict != "ok":
        raise BackupError(f"{path} is damaged: {verdict}")
    if "alembic_version" not in names:
        raise BackupError(f"{path} is not a MiniTwit backup (it has no alembic_version table)")


def _sqlite_restore(source: Path, target: Path) -> None:
    try:
        with _sqlite(f"file:{source}?mode=ro") as src, _sqlite(str(target)) as dst:
            src.backup(dst)
    except sqlite3.Error as error:
        raise BackupError(f"SQLite restore failed: {error}") from None


@contextmanager
def _sqlite(target: str) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(target, uri=target.startswith("file:"), timeout=5)
    try:
        yield connection
    finally:
        connection.close()


# --- PostgreSQL ---------------------------------------------------------------------------


def _libpq(settings: Settings) -> tuple[str, dict[str, str]]:
    """The libpq connection URI without its password, and an environment that carries it."""
    url = make_url(settings.database_url)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    uri = url.set(drivername="postgresql", password=None)
    return uri.render_as_string(hide_password=False), env


def _run_pg_tool(tool: str, arguments: Sequence[str], env: dict[str, str] | None = None) -> str:
    executable = shutil.which(tool)
    if executable is None:
        raise BackupError(f"{tool} is not installed (Debian: apt-get install postgresql-client)")
    try:
        result = subprocess.run(  # noqa: S603 - fixed tool, arguments built here
            [executable, *arguments],
            env=env,
            capture_output=True,
            text=True,
            timeout=PG_TOOL_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BackupError(f"{tool} did not finish within {PG_TOOL_TIMEOUT_SECONDS} s") from None
    if result.returncode != 0:
        raise BackupError(f"{tool} failed: {_first_error(result.stderr)}")
    return result.stdout


def _first_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() or "fatal" in line.lower()]
    return (errors or lines or ["no message"])[0]


def _pg_dump(settings: Settings, target: Path) -> None:
    uri, env = _libpq(settings)
    _run_pg_tool(
        "pg_dump",
        ["--format=custom", "--no-owner", "--no-privileges", f"--file={target}", f"--dbname={uri}"],
        env,
    )


def _check_pg_archive(path: Path) -> None:
    try:
        listing = _run_pg_tool("pg_restore", ["--list", str(path)])
    except BackupError:
        raise BackupError(f"{path} is not a pg_dump custom-format archive") from None
    if " alembic_version " not in listing:
        raise BackupError(f"{path} is not a MiniTwit backup (it has no alembic_version table)")


def _pg_restore(settings: Settings, path: Path) -> None:
    uri, env = _libpq(settings)
    _run_pg_tool(
        "pg_restore",
        [
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={uri}",
            str(path),
        ],
        env,
    )
