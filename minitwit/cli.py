"""The ``minitwit`` command: serve, migrate, moderate, import."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from minitwit import backup, migrate
from minitwit.db import Database, Tx
from minitwit.resolvers import accounts, legacy, messages
from minitwit.resolvers.errors import DomainError
from minitwit.resolvers.validation import global_id, parse_global_id
from minitwit.rest_compat import replay as rest_replay
from minitwit.settings import Settings, SettingsError

T = TypeVar("T")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
    except (DomainError, SettingsError, backup.BackupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minitwit", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the web server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--graceful-timeout",
        type=int,
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

    replay = commands.add_parser("replay", help="replay a simulator scenario against a server")
    rest_replay.add_arguments(replay)
    return parser


def _in_session(func: Callable[[Tx], T]) -> T:
    database = Database(Settings.from_env())
    try:
        with database.transaction(write=True, atomic=True) as tx:
            return func(tx)
    finally:
        database.dispose()


def _serve(args: argparse.Namespace) -> int:
    import uvicorn  # imported here: the other commands need not pay for it

    settings = Settings.from_env()
    if settings.migrate_on_start:
        database = Database(settings)
        migrate.upgrade(database.engine)
        database.dispose()
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


def _db_upgrade(args: argparse.Namespace) -> int:
    database = Database(Settings.from_env())
    try:
        migrate.upgrade(database.engine, args.revision)
        print(f"schema at revision {migrate.current_revision(database.engine)}")
    finally:
        database.dispose()
    return 0


def _db_current(args: argparse.Namespace) -> int:
    database = Database(Settings.from_env())
    try:
        print(migrate.current_revision(database.engine) or "empty")
    finally:
        database.dispose()
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


if __name__ == "__main__":
    sys.exit(main())
