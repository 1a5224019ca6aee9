"""The ``minitwit`` command: serve, migrate, moderate, import, back up, replay.

Every command works on a fresh database (it migrates it first, as ``serve`` does) and anything
a user can get wrong (a setting, the database's URL or reachability, a port, a name, an id, a
file) ends the command with one line on stderr and exit status 1; usage errors exit with 2.
"""

from __future__ import annotations

import argparse
import os
import socket
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
SCENARIO = "minitwit_scenario.csv"  # the course's name for it
WORKER_PING_TIMEOUT_SECONDS = 60


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


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's and argument's default in its help, where it has one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "(default" in text or action.default in (None, argparse.SUPPRESS):
            return text
        if isinstance(action, argparse._StoreTrueAction):
            return f"{text} (default: off)"
        return f"{text} (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minitwit",
        description="MiniTwit: serve, migrate, moderate, import, back up, replay.",
        formatter_class=_HelpFormatter,
        epilog="Settings come from the environment (DATABASE_URL, SECRET_KEY, MINITWIT_*): see"
        " the README. `minitwit COMMAND --help` explains each command.",
    )
    parser.add_argument("--version", action="version", version=f"minitwit {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(
        parent: argparse._SubParsersAction[argparse.ArgumentParser], name: str, text: str
    ) -> argparse.ArgumentParser:
        return parent.add_parser(name, help=text, description=text, formatter_class=_HelpFormatter)

    serve = command(commands, "serve", "run the web server (migrates the database first)")
    serve.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    serve.add_argument("--port", type=_port, default=8000, help="the TCP port to listen on")
    serve.add_argument(
        "--workers", type=_positive, default=1, help="worker processes sharing the port"
    )
    serve.add_argument(
        "--graceful-timeout",
        type=_positive,
        default=30,
        help="seconds to let in-flight requests finish after SIGTERM",
    )
    serve.set_defaults(handler=_serve)

    db = command(commands, "db", "database schema")
    db_commands = db.add_subparsers(required=True, metavar="COMMAND")
    upgrade = command(db_commands, "upgrade", "migrate the schema to a revision")
    upgrade.add_argument(
        "revision", nargs="?", default="head", help="the Alembic revision to migrate to"
    )
    upgrade.set_defaults(handler=_db_upgrade)
    current = command(db_commands, "current", "print the schema's revision")
    current.set_defaults(handler=_db_current)
    checksum = db_commands.add_parser(
        "checksum",
        help="print each table's row count and a SHA-256 of its rows (compare two databases)",
    )
    checksum.add_argument(
        "--database", help="another database on the same PostgreSQL server (default: the URL's)"
    )
    checksum.set_defaults(handler=_db_checksum)

    for name, flagged in (("flag", True), ("unflag", False)):
        flagger = command(commands, name, f"{name} a message by id")
        flagger.add_argument(
            "id", help="the message's GraphQL id (Message.id); a bare number is deprecated"
        )
        flagger.set_defaults(handler=_flagger(flagged))

    user = command(commands, "user", "manage users")
    user_commands = user.add_subparsers(required=True, metavar="COMMAND")
    promote = command(user_commands, "promote", "make a user a moderator")
    promote.add_argument("username", help="the user's name, as they sign in")
    promote.add_argument("--demote", action="store_true", help="take the role away instead")
    promote.set_defaults(handler=_promote)

    importer = command(commands, "import-legacy", "import a database of the original MiniTwit")
    importer.add_argument(
        "path", type=Path, help="the original's SQLite file (minitwit.db); imports only once"
    )
    importer.set_defaults(handler=_import_legacy)

    dump = command(
        commands, "backup", "back the database up to a file (pg_dump custom format, or SQLite)"
    )
    dump.add_argument("path", type=Path, help="the backup file to write; must not exist yet")
    dump.set_defaults(handler=_backup)
    load = command(commands, "restore", "restore a backup made by `minitwit backup`")
    load.add_argument("path", type=Path, help="the file `minitwit backup` wrote")
    load.add_argument(
        "--force", action="store_true", help="replace the contents of a database that holds data"
    )
    load.add_argument(
        "--database",
        help="restore into this database on the same PostgreSQL server (default: the URL's)",
    )
    load.set_defaults(handler=_restore)
    schema = command(
        commands, "graphql-schema", "print the GraphQL schema (SDL), as schema.graphql holds it"
    )
    schema.set_defaults(handler=_graphql_schema)

    replay = command(
        commands,
        "replay",
        "replay a simulator scenario against a server (needs: pip install 'minitwit[replay]')",
    )
    replay.add_argument(
        "url", type=_http_url, help="the API's base URL, e.g. http://127.0.0.1:8000"
    )
    replay.add_argument(
        "--scenario",
        type=Path,
        help=f"the scenario file (tab-separated, the course's format) (default: ./{SCENARIO}"
        " if it is there; else this option is required)",
    )
    replay.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="parallel workers, sharded by acting user (1: exactly the simulator)",
    )
    replay.add_argument(
        "--limit", type=_positive, help="replay only the first N lines (default: all)"
    )
    replay.add_argument(
        "--skip",
        type=_positive,
        default=0,
        help="start after the first N lines (replayed before; --check counts them as answered)",
    )
    replay.add_argument(
        "--rate", type=_rate, help="send at most this many requests per second in all"
    )
    replay.add_argument(
        "--cacert", type=Path, help="trust this CA certificate (PEM) for an https:// URL"
    )
    replay.add_argument(
        "--journal", type=Path, help="append one JSON line per request to this file"
    )
    replay.add_argument(
        "--check",
        action="store_true",
        help="then read every user back and compare with what the answered requests wrote",
    )
    replay.add_argument(
        "--timeout",
        type=_seconds,
        default=SIMULATOR_TIMEOUT_SECONDS,
        help="seconds per request (the simulator's)",
    )
    replay.add_argument(
        "--auth",
        default=DEFAULT_SIMULATOR_AUTH,
        help="the Authorization header's value (default: the course simulator's)",
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


def _rate(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"not a positive number of requests per second: {raw!r}")
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
    # The port first: taken, nothing else happens (no database file made, no "open" line).
    _check_port(args.host, args.port)
    if settings.migrate_on_start:
        with _database_errors(settings), _database(settings):
            pass
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="minitwit-metrics-")
    os.environ["MINITWIT_MIGRATE_ON_START"] = "0"  # done above, once, before any worker starts
    url = f"http://{_browsable(args.host)}:{args.port}"
    logger.info(
        "MiniTwit {version} ({env}): open {url}/ (GraphQL: {url}/graphql)",
        version=__version__,
        env=settings.env,
        url=url,
    )
    uvicorn.run(
        "minitwit.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        timeout_graceful_shutdown=args.graceful_timeout,
        # uvicorn's supervisor kills a worker that has not answered its ping within this many
        # seconds. At its default, 5, a node busy starting replicas (a scale from 3 to 10 on
        # two cores) starved the workers of CPU long enough to be killed, all at once, and each
        # restart loaded the node further. A hung worker still goes, and a hung task fails its
        # container healthcheck.
        timeout_worker_healthcheck=WORKER_PING_TIMEOUT_SECONDS,
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


def _check_port(host: str, port: int) -> None:
    """Bind ``host:port`` as uvicorn will, and let it go again: a busy port or an address
    this machine does not have, in one line. (uvicorn binds its own socket: serving on a
    socket bound here changed how it closes a connection whose body it refused, 413.)"""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family=family) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise CommandError(f"cannot listen on {host}:{port}: {reason}") from None


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
    settings = backup.on_database(Settings.from_env(), args.database)
    print(backup.restore(settings, args.path, force=args.force))
    return 0


def _db_checksum(args: argparse.Namespace) -> int:
    settings = backup.on_database(Settings.from_env(), args.database)
    for name, (rows, digest) in backup.checksums(settings).items():
        print(f"{name}\t{rows}\t{digest}")
    return 0


def _flagger(flagged: bool) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        message_id = parse_global_id(args.id, "Message", "message id")
        view = _in_session(
            lambda tx: messages.set_flagged(
                tx, message_id=message_id, flagged=flagged, moderator=None
            )
        )
        if args.id.strip().isdigit():
            print(
                f"warning: bare-number message ids are deprecated: use the message's global id,"
                f" {global_id('Message', view.id)}",
                file=sys.stderr,
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
    if args.scenario is None:
        if not Path(SCENARIO).is_file():
            raise CommandError(
                f"no scenario to replay: pass --scenario FILE (there is no {SCENARIO} in"
                f" {Path.cwd()})"
            )
        args.scenario = Path(SCENARIO)
    return replay.command(args)


if __name__ == "__main__":
    sys.exit(main())
