"""The ``minitwit`` command: serve, migrate, moderate, import, back up, replay.

Every command works on a fresh database (it migrates it first, as ``serve`` does) and anything
a user can get wrong (a setting, the database's URL or reachability, a name, an id, a file)
ends the command with one line on stderr and exit status 1; usage errors exit with 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from alembic.util.exc import CommandError as AlembicError
from loguru import logger
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from minitwit import __version__
from minitwit.db import migrate
from minitwit.db.database import Database, Tx
from minitwit.ops import backup
from minitwit.ops.logs import configure_logging, first_line
from minitwit.resolvers import accounts, legacy, messages
from minitwit.resolvers.errors import DomainError
from minitwit.resolvers.validation import global_id, parse_global_id
from minitwit.settings import (
    DEFAULT_SIMULATOR_AUTH,
    SIMULATOR_TIMEOUT_SECONDS,
    Settings,
    SettingsError,
    redacted,
)

T = TypeVar("T")


class CommandError(Exception):
    """Something the user can fix, said in one line."""


USER_ERRORS = (CommandError, DomainError, SettingsError, backup.BackupError, OSError)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.handler(args)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minitwit", description="MiniTwit: serve, migrate, moderate, import, back up, replay."
    )
    parser.add_argument("--version", action="version", version=f"minitwit {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the web server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000)
    serve.add_argument("--workers", type=_positive, default=1)
    serve.add_argument(
        "--graceful-timeout",
        type=_positive,
        default=30,
        help="seconds to let in-flight requests finish after SIGTERM",
    )
    serve.set_defaults(handler=_serve)

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(required=True, metavar="COMMAND")
    upgrade = db_commands.add_parser("upgrade", help="migrate the schema to the newest revision")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(handler=_db_upgrade)
    current = db_commands.add_parser("current", help="print the schema's revision")
    current.set_defaults(handler=_db_current)

    for name, flagged in (("flag", True), ("unflag", False)):
        command = commands.add_parser(name, help=f"{name} a message by id")
        command.add_argument(
            "id", help="the message's GraphQL id (Message.id); a bare number is deprecated"
        )
        command.set_defaults(handler=_flagger(flagged))

    user = commands.add_parser("user", help="manage users")
    user_commands = user.add_subparsers(required=True, metavar="COMMAND")
    promote = user_commands.add_parser("promote", help="make a user a moderator")
    promote.add_argument("username")
    promote.add_argument("--demote", action="store_true", help="take the role away instead")
    promote.set_defaults(handler=_promote)

    importer = commands.add_parser(
        "import-legacy", help="import a database of the original MiniTwit"
    )
    importer.add_argument("path", type=Path)
    importer.set_defaults(handler=_import_legacy)

    dump = commands.add_parser(
        "backup", help="back the database up to a file (pg_dump custom format, or SQLite)"
    )
    dump.add_argument("path", type=Path)
    dump.set_defaults(handler=_backup)
    load = commands.add_parser("restore", help="restore a backup made by `minitwit backup`")
    load.add_argument("path", type=Path)
    load.add_argument(
        "--force", action="store_true", help="replace the contents of a database that holds data"
    )
    load.set_defaults(handler=_restore)
    schema = commands.add_parser(
        "graphql-schema", help="print the GraphQL schema (SDL), as schema.graphql holds it"
    )
    schema.set_defaults(handler=_graphql_schema)

    replay = commands.add_parser(
        "replay",
        help="replay a simulator scenario against a server (needs: pip install 'minitwit[replay]')",
    )
    replay.add_argument(
        "url", type=_http_url, help="the API's base URL, e.g. http://127.0.0.1:8000"
    )
    replay.add_argument(
        "--scenario",
        type=Path,
        default=Path("minitwit_scenario.csv"),
        help="the scenario file (tab-separated, the course's format)",
    )
    replay.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="parallel workers, sharded by acting user (default 1: exactly the simulator)",
    )
    replay.add_argument("--limit", type=_positive, help="replay only the first N lines")
    replay.add_argument(
        "--timeout",
        type=_seconds,
        default=SIMULATOR_TIMEOUT_SECONDS,
        help=f"seconds (default {SIMULATOR_TIMEOUT_SECONDS})",
    )
    replay.add_argument(
        "--auth", default=DEFAULT_SIMULATOR_AUTH, help="the Authorization header's value"
    )
    replay.set_defaults(handler=_replay)
    return parser


def _positive(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def _port(raw: str) -> int:
    value = _positive(raw)
    if value > 65535:
        raise argparse.ArgumentTypeError("a port is at most 65535")
    return value


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {raw!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def _http_url(raw: str) -> str:
    scheme, _, rest = raw.partition("://")
    if scheme not in ("http", "https") or not rest.split("/", 1)[0]:
        raise argparse.ArgumentTypeError(
            f"not an http(s) URL: {raw!r} (e.g. http://127.0.0.1:8000)"
        )
    return raw


@contextmanager
def _database(settings: Settings, *, migrated: bool = True) -> Iterator[Database]:
    """The settings' database, migrated first (as ``serve`` does) unless ``migrated`` is False.

    A database that cannot be reached or used ends the command in one line; a SQLite file that
    this command created is removed again if the command fails, so nothing is left behind.
    """
    created = _sqlite_file_to_create(settings)
    database = Database(settings, request_timeouts=False)
    try:
        if migrated:
            migrate.upgrade(database.engine)
        yield database
    except BaseException:
        database.dispose()
        if created is not None:
            for leftover in ("", "-journal", "-wal", "-shm"):
                Path(f"{created}{leftover}").unlink(missing_ok=True)
        raise
    finally:
        database.dispose()


@contextmanager
def _database_errors(settings: Settings) -> Iterator[None]:
    """Errors of the database itself, said in one line with the (password-free) URL."""
    try:
        yield
    except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
        cause = (exc.orig if isinstance(exc, sa_exc.DBAPIError) else None) or exc
        raise CommandError(
            f"the database {redacted(settings.database_url)} cannot be used: {first_line(cause)}"
        ) from None
    except AlembicError as exc:
        raise CommandError(f"cannot migrate: {str(exc).strip().splitlines()[0]}") from None


def _sqlite_file_to_create(settings: Settings) -> Path | None:
    """The SQLite file the settings name if it does not exist yet (None if it exists or is not
    a file); a clear error if it cannot be created."""
    if not settings.is_sqlite:
        return None
    name = make_url(settings.database_url).database
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    path = Path(name)
    if path.exists():
        return None
    if not path.parent.is_dir():
        raise CommandError(f"cannot create the SQLite database {path}: no directory {path.parent}")
    return path


def _in_session(func: Callable[[Tx], T]) -> T:
    settings = Settings.from_env()
    with _database_errors(settings), _database(settings) as database:
        with database.unit(write=True, atomic=True) as tx:
            return func(tx)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn  # imported here: the other commands need not pay for it

    settings = Settings.from_env()
    configure_logging(settings.log_level, json_lines=settings.wants_json_logs(sys.stdout.isatty()))
    url = f"http://{_browsable(args.host)}:{args.port}"
    logger.info(
        "MiniTwit {version} ({env}): open {url}/ (GraphQL: {url}/graphql)",
        version=__version__,
        env=settings.env,
        url=url,
    )
    if settings.migrate_on_start:
        with _database_errors(settings), _database(settings):
            pass
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="minitwit-metrics-")
    os.environ["MINITWIT_MIGRATE_ON_START"] = "0"  # done above, once, before any worker starts
    uvicorn.run(
        "minitwit.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        timeout_graceful_shutdown=args.graceful_timeout,
        access_log=False,
        log_config=None,
        proxy_headers=True,
        server_header=False,
        # Live timelines' sockets: a ping every 20 s keeps proxies from closing a quiet one
        # and finds dead peers; incoming messages (subscribe, pong) are small; no per-message
        # compression, whose zlib state would cost every subscriber hundreds of KiB.
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        ws_max_size=64 * 1024,
        ws_per_message_deflate=False,
    )
    return 0


def _browsable(host: str) -> str:
    """The address a browser on this machine opens for a server bound to ``host``."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - reading the bind address, not binding
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _db_upgrade(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    with _database_errors(settings), _database(settings, migrated=False) as database:
        migrate.upgrade(database.engine, args.revision)
        print(f"schema at revision {migrate.current_revision(database.engine)}")
    return 0


def _db_current(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if _sqlite_file_to_create(settings) is not None:
        print("empty")  # and no file made to say so
        return 0
    with _database_errors(settings), _database(settings, migrated=False) as database:
        print(migrate.current_revision(database.engine) or "empty")
    return 0


def _backup(args: argparse.Namespace) -> int:
    print(backup.backup(Settings.from_env(), args.path))
    return 0


def _restore(args: argparse.Namespace) -> int:
    print(backup.restore(Settings.from_env(), args.path, force=args.force))
    return 0


def _flagger(flagged: bool) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        message_id = parse_global_id(args.id, "Message", "message id")
        view = _in_session(
            lambda tx: messages.set_flagged(
                tx, message_id=message_id, flagged=flagged, moderator=None
            )
        )
        state = "flagged" if view.flagged else "unflagged"
        print(
            f"message {global_id('Message', view.id)} ({view.id}) by {view.author_username}"
            f" is {state}"
        )
        return 0

    return handler


def _graphql_schema(args: argparse.Namespace) -> int:
    """Print the schema; it is built from settings alone, so no database is needed."""
    from minitwit.schema import build_schema

    print(build_schema(Settings()).as_str())
    return 0


def _promote(args: argparse.Namespace) -> int:
    user = _in_session(
        lambda tx: accounts.set_moderator(tx, username=args.username, moderator=not args.demote)
    )
    role = "a moderator" if user.is_moderator else "not a moderator"
    print(f"{user.username} is now {role}")
    return 0


def _import_legacy(args: argparse.Namespace) -> int:
    report = _in_session(lambda tx: legacy.import_legacy(tx, args.path))
    print(report)
    return 0


def _replay(args: argparse.Namespace) -> int:
    try:
        from minitwit.ops import replay
    except ImportError as exc:
        raise CommandError(
            f"minitwit replay needs {exc.name}: pip install 'minitwit[replay]'"
        ) from None
    return replay.command(args)


if __name__ == "__main__":
    sys.exit(main())
