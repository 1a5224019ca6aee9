"""The ``minitwit`` command, run as a real process."""

from __future__ import annotations

import argparse
import json
import os
import pty
import re
import select
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from minitwit import __version__, cli
from minitwit.app import create_app
from minitwit.db import migrate
from minitwit.db.database import Database
from minitwit.resolvers import timelines
from minitwit.resolvers.validation import global_id
from minitwit.settings import Settings
from tests.conftest import LiveServer, PostgresDatabases, shared_file
from tests.factories import make_message, make_user, orm_session
from tests.servers import TEST_SECRET, free_port
from tests.test_passwords import werkzeug_hash

SCENARIO_ROGER_PASSWORD = "]=)[X{Km{z"


def minitwit(
    *args: str, env: dict[str, str], timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "minitwit", *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_serve_refuses_to_start_in_production_without_a_secret_key(tmp_path: Path) -> None:
    env = {"MINITWIT_ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3"}
    env_without_secret = {k: v for k, v in {**os.environ, **env}.items() if k != "SECRET_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "minitwit", "serve", "--port", str(free_port())],
        env={**env_without_secret, "SECRET_KEY": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "SECRET_KEY must be set" in result.stderr


def _serve_and_query(cwd: Path, env: dict[str, str]) -> tuple[dict[str, object], bytes]:
    """Start ``minitwit serve``, ask for the public timeline, stop it with SIGTERM."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "minitwit", "serve", "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.post(
                    f"http://127.0.0.1:{port}/graphql",
                    json={"query": "{ publicTimeline { nodes { id } } }"},
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not come up"
                assert process.poll() is None, "the server exited"
                time.sleep(0.2)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    # uvicorn re-raises SIGTERM after its graceful shutdown; the lifespan's last word shows
    # that the shutdown ran to its end.
    assert process.returncode in (0, -15)
    assert b'"message": "minitwit stopped"' in output
    body: dict[str, object] = response.json()
    return body, output


def test_serve_on_the_sqlite_default_migrates_by_itself_and_serves(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    body, _ = _serve_and_query(tmp_path, env)
    assert body == {"data": {"publicTimeline": {"nodes": []}}}
    assert (tmp_path / "minitwit.sqlite3").is_file()


@pytest.mark.postgres
def test_serve_in_production_on_an_empty_postgres_database_migrates_and_serves(
    tmp_path: Path, postgres: PostgresDatabases
) -> None:
    url = postgres.fresh(migrated=False)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MINITWIT_ENV": "production",
        "SECRET_KEY": TEST_SECRET,
    }
    try:
        body, _ = _serve_and_query(tmp_path, env)
    finally:
        postgres.drop(url)
    assert body == {"data": {"publicTimeline": {"nodes": []}}}


def test_db_upgrade_and_current(database_url: str) -> None:
    env = {"DATABASE_URL": database_url}
    upgraded = minitwit("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    head = migrate.head_revision()
    assert head is not None
    assert f"schema at revision {head}" in upgraded.stdout
    assert minitwit("db", "current", env=env).stdout.strip() == head


def test_commands_read_the_database_url_from_database_url_file(
    database_url: str, tmp_path: Path
) -> None:
    """As `docker exec TASK minitwit ...` runs them: only the secret's path is in the env."""
    secret = tmp_path / "minitwit_database_url"
    secret.write_text(database_url + "\n")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "minitwit", "db", "current"],
        env={**env, "DATABASE_URL_FILE": str(secret)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == migrate.head_revision()


def test_promote_flag_and_unflag(db: Database, database_url: str) -> None:
    ann = make_user(db, "Ann Smith")
    message_id = make_message(db, ann, "hello", 1)
    env = {"DATABASE_URL": database_url}

    promoted = minitwit("user", "promote", "Ann Smith", env=env)
    assert promoted.stdout.strip() == "Ann Smith is now a moderator"
    node_id = global_id("Message", message_id)
    flagged = minitwit("flag", node_id, env=env)
    assert flagged.stdout.strip() == f"message {node_id} ({message_id}) by Ann Smith is flagged"
    with db.unit() as tx:
        assert timelines.public_timeline(tx, limit=10).items == []
    assert minitwit("unflag", node_id, env=env).returncode == 0
    with db.unit() as tx:
        assert len(timelines.public_timeline(tx, limit=10).items) == 1
    # the bare number of old still works (deprecated), and says what to use instead
    bare = minitwit("flag", str(message_id), env=env)
    assert bare.returncode == 0
    warning = "warning: bare-number message ids are deprecated: use the message's global id"
    assert bare.stderr == f"{warning}, {node_id}\n"
    assert flagged.stderr == ""
    with db.unit() as tx:
        assert timelines.public_timeline(tx, limit=10).items == []

    for args, error in [
        (("flag", "999999"), "There is no message 999999"),
        (("flag", "abc"), "Invalid message id"),
        (("flag", global_id("User", message_id)), "Invalid message id"),
        (("flag", global_id("Message", 999999)), "There is no message 999999"),
        (("user", "promote", "ghost"), "There is no user 'ghost'"),
    ]:
        result = minitwit(*args, env=env)
        assert result.returncode == 1
        assert error in result.stderr


def test_import_legacy_imports_once_and_legacy_passwords_sign_in(
    database_url: str, settings: Settings
) -> None:
    legacy = shared_file("legacy-minitwit.db")
    env = {"DATABASE_URL": database_url}

    first = minitwit("import-legacy", str(legacy), env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == (
        "imported 203 users (0 already present), 11307 messages (0 already present), "
        "6265 follows (0 already present)"
    )
    second = minitwit("import-legacy", str(legacy), env=env)
    assert second.stdout.strip() == (
        "imported 0 users (203 already present), 0 messages (11307 already present), "
        "0 follows (6265 already present)"
    )

    with LiveServer(create_app(settings)) as live, live.client() as client:
        login = (
            "mutation ($u: String!, $p: String!) { login(username: $u, password: $p) { username } }"
        )
        assert client.error(login, u="Roger Histand", p="wrong") == (
            "Invalid password",
            "BAD_USER_INPUT",
        )
        signed_in = client.data(login, u="Roger Histand", p=SCENARIO_ROGER_PASSWORD)
        assert signed_in == {"login": {"username": "Roger Histand"}}
        home = client.data("{ homeTimeline(first: 3) { nodes { text } } }")
        assert len(home["homeTimeline"]["nodes"]) == 3
        with orm_session(live.db) as session:
            stored = session.connection().exec_driver_sql(
                "SELECT pw_hash FROM users WHERE username = 'Roger Histand'"
            )
            assert stored.scalar_one().startswith("$argon2id$")


def test_import_legacy_refuses_a_file_that_is_not_a_minitwit_database(
    tmp_path: Path, database_url: str
) -> None:
    not_db = tmp_path / "notes.txt"
    not_db.write_text("hello")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    env = {"DATABASE_URL": database_url}
    for path in (tmp_path / "missing.db", not_db, other):
        result = minitwit("import-legacy", str(path), env=env)
        assert result.returncode == 1
        assert result.stderr.startswith("error: ")
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["nonsense"], ["flag"], ["serve", "--port", "notaport"]])
def test_usage_errors_exit_2_with_a_message(args: list[str]) -> None:
    result = minitwit(*args, env={"DATABASE_URL": "sqlite:///:memory:"})
    assert result.returncode == 2
    assert "usage: minitwit" in result.stderr


def test_settings_used_by_these_tests_are_not_production() -> None:
    assert not Settings(secret_key=TEST_SECRET).production


LEGACY_SCHEMA = """
CREATE TABLE user (user_id integer primary key autoincrement, username string not null,
                   email string not null, pw_hash string not null);
CREATE TABLE follower (who_id integer, whom_id integer);
CREATE TABLE message (message_id integer primary key autoincrement, author_id integer not null,
                      text string not null, pub_date integer, flagged integer);
"""


def test_import_legacy_skips_rows_it_cannot_store_and_says_which(
    tmp_path: Path, database_url: str, settings: Settings
) -> None:
    legacy = tmp_path / "legacy.db"
    source = sqlite3.connect(legacy)
    source.executescript(LEGACY_SCHEMA)
    source.executemany(
        "INSERT INTO user (user_id, username, email, pw_hash) VALUES (?, ?, ?, ?)",
        [
            (1, "good", "good@example.org", werkzeug_hash("pw", "sha1")),
            (2, "x" * 70, "long@example.org", werkzeug_hash("pw", "sha1")),
            (3, "no mail", "", werkzeug_hash("pw", "sha1")),
        ],
    )
    source.executemany(
        "INSERT INTO message (author_id, text, pub_date, flagged) VALUES (?, ?, ?, ?)",
        [
            (1, "fine", 1_600_000_000, 0),
            (1, "from the year 10000", 253_402_300_800, 0),
            (1, "no date", None, 0),
            (1, "nul \x00 byte", 1_600_000_001, 0),
            (2, "by a skipped user", 1_600_000_002, 0),
        ],
    )
    source.executemany("INSERT INTO follower VALUES (?, ?)", [(1, 2), (1, 1)])
    source.commit()
    source.close()

    result = minitwit("import-legacy", str(legacy), env={"DATABASE_URL": database_url})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "imported 1 users (0 already present), 1 messages (0 already present), "
        "0 follows (0 already present)"
    )
    assert lines[1] == "skipped 5 rows that cannot be stored:"
    assert "The username can have at most 64 characters" in lines[2]
    assert "You have to enter a valid email address" in lines[3]
    assert "pub_date 253402300800 out of range" in lines[4]
    assert "pub_date None out of range" in lines[5]
    assert "text cannot be stored" in lines[6]
    assert len(lines) == 7

    with LiveServer(create_app(settings)) as live, live.client() as client:
        timeline = client.data("{ publicTimeline { nodes { text author { username } } } }")
    assert timeline["publicTimeline"]["nodes"] == [{"text": "fine", "author": {"username": "good"}}]


def test_import_legacy_lists_users_whose_hash_cannot_be_verified_and_sha1_users_sign_in(
    tmp_path: Path, database_url: str, settings: Settings
) -> None:
    legacy = tmp_path / "legacy.db"
    source = sqlite3.connect(legacy)
    source.executescript(LEGACY_SCHEMA)
    source.executemany(
        "INSERT INTO user (user_id, username, email, pw_hash) VALUES (?, ?, ?, ?)",
        [
            (1, "old timer", "old@example.org", werkzeug_hash("hunter2 ☃", "sha1")),
            (
                2,
                "bcrypted",
                "b@example.org",
                "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t",
            ),
            (3, "rot13", "r@example.org", "rot13$salt$uhagre2"),
            (4, "bare", "bare@example.org", "a bare password"),
        ],
    )
    source.execute(
        "INSERT INTO message (author_id, text, pub_date, flagged) VALUES (3, 'kept', 1600000000, 0)"
    )
    source.commit()
    source.close()
    env = {"DATABASE_URL": database_url}

    result = minitwit("import-legacy", str(legacy), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "imported 4 users (0 already present), 1 messages (0 already present), "
        "0 follows (0 already present)",
        "3 imported users cannot sign in: their password hash is of a form MiniTwit cannot verify:",
        "  user 2: 'bcrypted' (hash form '$2b')",
        "  user 3: 'rot13' (hash form 'rot13')",
        "  user 4: 'bare' (hash form 'no method')",
    ]
    assert "uhagre2" not in result.stdout  # a hash's salt and digest never reach the output
    again = minitwit("import-legacy", str(legacy), env=env)
    assert again.stdout.splitlines()[1:] == result.stdout.splitlines()[1:]

    with LiveServer(create_app(settings)) as live, live.client() as client:
        login = (
            "mutation ($u: String!, $p: String!) { login(username: $u, password: $p) { username } }"
        )
        assert client.error(login, u="rot13", p="hunter2") == ("Invalid password", "BAD_USER_INPUT")
        assert client.data(login, u="old timer", p="hunter2 ☃") == {
            "login": {"username": "old timer"}
        }
        with orm_session(live.db) as session:
            stored = session.connection().exec_driver_sql(
                "SELECT pw_hash FROM users WHERE username = 'old timer'"
            )
            assert stored.scalar_one().startswith("$argon2id$")
    third = minitwit("import-legacy", str(legacy), env=env)
    assert third.stdout.splitlines()[1:] == result.stdout.splitlines()[1:]


@pytest.fixture
def fresh_database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str]:
    """A database no command has touched: no SQLite file yet, or an empty PostgreSQL one."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres")
    url = databases.fresh(migrated=False)
    yield url
    databases.drop(url)


def _small_legacy_database(path: Path) -> Path:
    source = sqlite3.connect(path)
    source.executescript(LEGACY_SCHEMA)
    source.execute(
        "INSERT INTO user (user_id, username, email, pw_hash) VALUES (1, 'ann', 'a@x.org', ?)",
        (werkzeug_hash("pw", "sha1"),),
    )
    source.execute(
        "INSERT INTO message (author_id, text, pub_date, flagged) VALUES (1, 'hi', 1600000000, 0)"
    )
    source.commit()
    source.close()
    return path


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_moderation_commands_on_a_fresh_database_migrate_it_first(
    fresh_database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": fresh_database_url}
    assert _one_line_error(minitwit("user", "promote", "ghost", env=env)) == (
        "error: There is no user 'ghost'"
    )
    assert _one_line_error(minitwit("flag", global_id("Message", 1), env=env)) == (
        "error: There is no message 1"
    )


def test_import_legacy_on_a_fresh_database_migrates_it_and_imports(
    fresh_database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": fresh_database_url}
    legacy = _small_legacy_database(tmp_path / "legacy.db")
    imported = minitwit("import-legacy", str(legacy), env=env)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith("imported 1 users (0 already present), 1 messages")
    assert minitwit("user", "promote", "ann", env=env).stdout == "ann is now a moderator\n"
    assert minitwit("db", "current", env=env).stdout.strip() == migrate.head_revision()


@pytest.mark.parametrize(
    ("host", "reason"),
    [("127.0.0.1", "Address already in use"), ("192.0.2.1", "Cannot assign requested address")],
)
def test_serve_where_it_cannot_listen_is_one_line_and_makes_no_database_file(
    tmp_path: Path, host: str, reason: str
) -> None:
    env = {"DATABASE_URL": "sqlite:///./minitwit.sqlite3"}  # the default, in tmp_path
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = minitwit("serve", "--host", host, "--port", str(port), env=env, cwd=tmp_path)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"error: cannot listen on {host}:{port}: {reason}\n"
    assert list(tmp_path.iterdir()) == [], "no SQLite file, no journal"


def _every_parser(
    parser: argparse.ArgumentParser, name: str = "minitwit"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                yield from _every_parser(sub, f"{name} {command}")


def test_every_option_and_argument_has_help_that_gives_its_default() -> None:
    for name, parser in _every_parser(cli.build_parser()):
        formatter = parser._get_formatter()
        for action in parser._actions:
            if isinstance(
                action, argparse._HelpAction | argparse._VersionAction | argparse._SubParsersAction
            ):
                continue
            assert action.help, (name, action.dest)
            if action.default is not None:
                assert "(default: " in formatter._expand_help(action), (name, action.dest)
    serve = " ".join(_parser_help("serve").split())
    for option, default in (("--host", "127.0.0.1"), ("--port", "8000"), ("--workers", "1")):
        assert re.search(rf"{option} \S+ [^-]*\(default: {re.escape(default)}\)", serve), option
    assert "(default: ./minitwit_scenario.csv if it is there" in " ".join(
        _parser_help("replay").split()
    )


def _parser_help(command: str) -> str:
    return dict(_every_parser(cli.build_parser()))[f"minitwit {command}"].format_help()


def test_a_failed_command_leaves_no_sqlite_file_behind(tmp_path: Path) -> None:
    path = tmp_path / "never.sqlite3"
    env = {"DATABASE_URL": f"sqlite:///{path}"}
    for args in (
        ("user", "promote", "ghost"),
        ("flag", global_id("Message", 7)),
        ("import-legacy", str(tmp_path / "missing.db")),
        ("db", "upgrade", "no-such-revision"),
    ):
        _one_line_error(minitwit(*args, env=env))
        assert list(tmp_path.iterdir()) == [], args
    assert minitwit("db", "current", env=env).stdout == "empty\n"
    assert list(tmp_path.iterdir()) == []


UNREACHABLE = "postgresql://postgres:hunter2@127.0.0.1:1/minitwit"
SERVE = ("serve", "--port", str(free_port()))  # not 8000: another server may have it
DATABASE_COMMANDS = [("user", "promote", "ann"), ("db", "current"), ("db", "upgrade"), SERVE]


@pytest.mark.parametrize(
    ("args", "url", "expected"),
    [
        # refused by the settings, before any command looks at it
        (("db", "current"), "not a url", "error: DATABASE_URL must be a database URL such as"),
        (
            ("db", "current"),
            "mysql://me:hunter2@db/minitwit",
            "error: DATABASE_URL must be a sqlite:// or postgresql://",
        ),
        # met by each command that opens the database
        *[
            (args, "sqlite:////no/such/directory/x.sqlite3", "error: cannot create the SQLite")
            for args in DATABASE_COMMANDS
        ],
        *[
            (
                args,
                UNREACHABLE,
                "error: the database postgresql+psycopg2://postgres:***@127.0.0.1:1/minitwit"
                " cannot be used: OperationalError: connection to server at",
            )
            for args in DATABASE_COMMANDS
        ],
    ],
)
def test_a_bad_or_unreachable_database_is_one_line_without_the_password(
    args: tuple[str, ...], url: str, expected: str
) -> None:
    line = _one_line_error(minitwit(*args, env={"DATABASE_URL": url}))
    assert line.startswith(expected)
    assert "hunter2" not in line


@pytest.mark.postgres
def test_a_postgres_database_that_does_not_exist_is_one_line(postgres: PostgresDatabases) -> None:
    url = postgres.fresh(migrated=False)
    postgres.drop(url)
    line = _one_line_error(minitwit("user", "promote", "ann", env={"DATABASE_URL": url}))
    assert line.endswith(f'database "{url.rsplit("/", 1)[1]}" does not exist')


def test_version() -> None:
    result = minitwit("--version", env={})
    assert result.returncode == 0
    assert result.stdout == f"minitwit {__version__}\n"


@pytest.mark.parametrize(
    ("args", "variable", "value"),
    [
        (("serve",), "MINITWIT_LOG_JSON", "ture"),
        (("db", "current"), "DB_POOL_SIZE", "ten"),
        (("user", "promote", "ann"), "MINITWIT_ENV", "staging"),
    ],
)
def test_a_bad_setting_stops_any_command_in_one_line_naming_it(
    args: tuple[str, ...], variable: str, value: str
) -> None:
    line = _one_line_error(minitwit(*args, env={variable: value}))
    assert line.startswith(f"error: {variable} must be"), line
    assert repr(value) in line


@pytest.mark.parametrize(
    "args",
    [
        ["replay", "localhost:8000"],
        ["replay", "http://127.0.0.1:8000", "--timeout", "0"],
        ["replay", "http://127.0.0.1:8000", "--workers", "0"],
        ["serve", "--port", "70000"],
    ],
)
def test_bad_arguments_are_usage_errors(args: list[str]) -> None:
    result = minitwit(*args, env={})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith(f"minitwit {args[0]}: error: argument ")


WITHOUT_HTTPX = "import sys; sys.modules['httpx'] = None; "


def test_replay_without_httpx_says_how_to_install_it() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            WITHOUT_HTTPX + "from minitwit.cli import main; "
            "sys.exit(main(['replay', 'http://127.0.0.1:1']))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert _one_line_error(result) == (
        "error: minitwit replay needs httpx: pip install 'minitwit[replay]'"
    )


SERVE_ONE_REQUEST_WITHOUT_HTTPX = """
import asyncio, json
from minitwit.app import create_app
from minitwit.settings import Settings

async def main():
    app = create_app(Settings(database_url=sys.argv[1], secret_key="s" * 32))
    sent = []
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}
    async def send(message):
        sent.append(message)
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/latest", "raw_path": b"/latest", "query_string": b"",
        "root_path": "", "headers": [], "client": ("127.0.0.1", 1), "server": ("test", 80),
    }
    async with app.router.lifespan_context(app):
        await app(scope, receive, send)
    print(sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:]).decode())
    assert "httpx" not in {name.split(".")[0] for name in sys.modules if sys.modules[name]}

asyncio.run(main())
"""


def test_the_server_imports_and_answers_without_httpx(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_HTTPX + SERVE_ONE_REQUEST_WITHOUT_HTTPX, url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.split(" ", 1)[1]) == {"latest": -1}
    assert result.stdout.startswith("200 ")


class _Terminal:
    """A process whose stdout and stderr are a pseudo-terminal, as in a developer's shell."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        master, slave = pty.openpty()
        self.master = master
        self.process = subprocess.Popen(args, stdout=slave, stderr=slave, env=env, cwd=cwd)
        os.close(slave)
        self.output = b""

    def wait_for(self, text: bytes, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{text!r} never came: {self.output!r}"
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:  # the process ended and closed the terminal
                    assert text in self.output, f"{text!r} never came: {self.output!r}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        os.close(self.master)


def test_serve_in_a_terminal_says_where_to_open_it_and_logs_readable_coloured_lines(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MINITWIT_LOG_JSON")}
    terminal = _Terminal(
        [sys.executable, "-m", "minitwit", "serve", "--port", str(port)], env, tmp_path
    )
    try:
        terminal.wait_for(b"Application startup complete")
        query = {"query": "query Timeline { publicTimeline { nodes { id } } }"}
        response = httpx.post(f"http://127.0.0.1:{port}/graphql", json=query)
        request_id = response.headers["x-request-id"]
        terminal.wait_for(request_id.encode())
    finally:
        terminal.stop()
    text = re.sub(r"\x1b\[[0-9;]*m", "", terminal.output.decode())
    lines = text.splitlines()
    (first,) = [line for line in lines if "open http" in line]
    started = next(n for n, line in enumerate(lines) if "Started server process" in line)
    assert lines.index(first) < started, "announced once bound and migrated, before serving"
    assert first.endswith(
        f"MiniTwit {__version__} (development): open http://127.0.0.1:{port}/ "
        f"(GraphQL: http://127.0.0.1:{port}/graphql)"
    )
    assert re.search(
        rf"INFO    POST /graphql 200 [0-9.]+ ms Timeline {request_id}\r?$", text, re.MULTILINE
    )
    assert b"\x1b[32m200\x1b[0m" in terminal.output  # a 200 in green
    assert "{" not in text  # no JSON
