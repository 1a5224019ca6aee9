"""Rules of the code that once could be broken without a test failing: each test here fails
when its rule is broken (tests/MUTATION.md lists which break each one was seen to catch).
On SQLite and PostgreSQL unless the rule is SQLite's own."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlmodel import Session, col, select

from minitwit.app import create_app
from minitwit.db.database import Database
from minitwit.models import Follower, Message, User
from minitwit.resolvers import legacy, messages, social, timelines
from minitwit.resolvers.errors import Forbidden, Invalid, NotFound
from minitwit.resolvers.validation import global_id
from minitwit.settings import Settings
from tests.conftest import GraphQLClient, LiveServer
from tests.factories import PASSWORD, make_message, make_user, orm_session

LOGIN = "mutation ($u: String!, $p: String!) { login(username: $u, password: $p) { username } }"


def sim(server: LiveServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        timeout=30,
        headers={"Authorization": server.db.settings.simulator_auth},
    )


# -- every mutation, signed out and by the wrong user -----------------------------------------

SIGNED_IN_MUTATIONS = {
    "postMessage": 'mutation { postMessage(text: "hi") { id } }',
    "follow": 'mutation { follow(username: "bob") { id } }',
    "unfollow": 'mutation { unfollow(username: "bob") { id } }',
    "flagMessage": "mutation ($id: ID!) { flagMessage(id: $id) { id } }",
    "unflagMessage": "mutation ($id: ID!) { unflagMessage(id: $id) { id } }",
}


def follows(db: Database) -> set[tuple[int, int]]:
    with orm_session(db) as session:
        rows = session.connection().execute(select(col(Follower.who_id), col(Follower.whom_id)))
        return {(who, whom) for who, whom in rows}


def flags(db: Database) -> list[bool]:
    with orm_session(db) as session:
        return list(session.exec(select(Message.flagged).order_by(col(Message.id))))


@pytest.mark.parametrize("name", sorted(SIGNED_IN_MUTATIONS))
def test_every_mutation_signed_out_is_unauthenticated_and_changes_nothing(
    server: LiveServer, client: GraphQLClient, name: str
) -> None:
    ann, bob = make_user(server.db, "ann"), make_user(server.db, "bob")
    assert ann.id is not None
    assert bob.id is not None
    message = make_message(server.db, bob, "hello", 100)
    with orm_session(server.db, write=True) as session:
        session.add(Follower(who_id=ann.id, whom_id=bob.id, followed_at=1))
    before = (follows(server.db), flags(server.db))
    message, code = client.error(SIGNED_IN_MUTATIONS[name], id=global_id("Message", message))
    assert (message, code) == ("You have to sign in first", "UNAUTHENTICATED")
    assert (follows(server.db), flags(server.db)) == before
    assert len(client.data("{ publicTimeline { nodes { id } } }")["publicTimeline"]["nodes"]) == 1


@pytest.mark.parametrize("name", ["flagMessage", "unflagMessage"])
def test_moderation_by_a_user_who_is_no_moderator_is_forbidden(
    server: LiveServer, client: GraphQLClient, name: str
) -> None:
    ann = make_user(server.db, "ann")
    make_user(server.db, "bob")
    message = make_message(server.db, ann, "hello", 100)
    client.data(LOGIN, u="bob", p=PASSWORD)
    before = flags(server.db)
    error = client.error(SIGNED_IN_MUTATIONS[name], id=global_id("Message", message))
    assert error == ("Only moderators can do this", "FORBIDDEN")
    assert flags(server.db) == before
    assert client.error("{ flaggedMessages { nodes { id } } }")[1] == "FORBIDDEN"


def test_the_wrong_user_cannot_follow_themselves_or_sign_in_as_another(
    server: LiveServer, client: GraphQLClient
) -> None:
    make_user(server.db, "ann")
    make_user(server.db, "bob")
    client.data(LOGIN, u="ann", p=PASSWORD)
    assert client.error('mutation { follow(username: "ann") { id } }') == (
        "You cannot follow yourself",
        "BAD_USER_INPUT",
    )
    assert client.error(LOGIN, u="bob", p="not bob's") == ("Invalid password", "BAD_USER_INPUT")
    assert client.data("{ viewer { username } }") == {"viewer": {"username": "ann"}}
    # unfollowing someone you do not follow is fine, and touches nobody else's follows
    ann_id = make_user_id(server.db, "ann")
    bob_id = make_user_id(server.db, "bob")
    with orm_session(server.db, write=True) as session:
        session.add(Follower(who_id=bob_id, whom_id=ann_id, followed_at=1))
    assert client.data('mutation { unfollow(username: "bob") { username } }')
    assert follows(server.db) == {(bob_id, ann_id)}


def make_user_id(db: Database, name: str) -> int:
    with orm_session(db) as session:
        user = session.exec(select(User).where(User.username == name)).one()
        assert user.id is not None
        return user.id


def test_logout_signed_out_is_harmless(client: GraphQLClient) -> None:
    assert client.data("mutation { logout }") == {"logout": True}


# -- the simulator API's latest and no ----------------------------------------------------------


def test_latest_is_stored_when_a_request_fails_with_an_unexpected_error(
    server: LiveServer,
) -> None:
    """Not a domain error (a 4xx) nor the database out of reach: a statement the database
    refuses. The reference stores latest before anything can fail; so must we."""
    make_user(server.db, "ann")
    with server.db.engine.begin() as connection:
        if server.db.engine.dialect.name == "sqlite":
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON messages "
                "BEGIN SELECT RAISE(ABORT, 'refused by a test'); END"
            )
        else:
            connection.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused by a test'; END $$"
            )
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON messages "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
    with sim(server) as client:
        response = client.post("/msgs/ann", params={"latest": 77}, json={"content": "hi"})
        assert response.status_code == 500
        assert client.get("/latest").json() == {"latest": 77}


def test_get_fllws_returns_at_most_no_follows_in_the_order_followed(server: LiveServer) -> None:
    names = ["ann", "bob", "cid", "dan"]
    for name in names:
        make_user(server.db, name)
    with sim(server) as client:
        for whom in names[1:]:
            assert client.post("/fllws/ann", json={"follow": whom}).status_code == 204
        assert client.get("/fllws/ann").json() == {"follows": ["bob", "cid", "dan"]}
        assert client.get("/fllws/ann", params={"no": 2}).json() == {"follows": ["bob", "cid"]}
        assert client.get("/fllws/ann", params={"no": 0}).json() == {"follows": []}
        assert client.get("/msgs", params={"no": 0}).json() == []


def writer_from_elsewhere(
    path: str, when: Callable[[str], bool]
) -> tuple[Callable[..., None], list[str]]:
    """A ``before_cursor_execute`` listener that, at the first statement ``when`` picks,
    commits a write to the SQLite file from another connection (``BEGIN IMMEDIATE``, no
    waiting); the list says what happened: "committed", or SQLite's refusal."""
    outcomes: list[str] = []

    def listener(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if outcomes or not when(statement):
            return
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("UPDATE users SET created_at = created_at + 1")
            other.execute("COMMIT")
            outcomes.append("committed")
        except sqlite3.OperationalError as error:
            outcomes.append(str(error))
        finally:
            other.close()

    return listener, outcomes


@pytest.fixture
def sqlite_server(tmp_path: Path, sqlite_template: Path) -> Iterator[LiveServer]:
    path = tmp_path / "minitwit.sqlite3"
    path.write_bytes(sqlite_template.read_bytes())
    settings = Settings(database_url=f"sqlite:///{path}", migrate_on_start=False)
    with LiveServer(create_app(settings)) as live:
        yield live


def test_a_sqlite_read_that_stores_latest_takes_the_write_lock_before_it_reads(
    sqlite_server: LiveServer,
) -> None:
    """GET /msgs?latest=N reads, then writes latest. Were its transaction to start as a
    reader, a write committed by another connection between its read and its write would make
    SQLite refuse the write (SQLITE_BUSY_SNAPSHOT, no busy timeout helps): a 503 that loses
    latest. Here another connection tries to commit a write at exactly that moment."""
    server = sqlite_server
    make_user(server.db, "ann")
    path = server.db.settings.database_url.removeprefix("sqlite:///")
    write_from_elsewhere, other_writes = writer_from_elsewhere(
        path, lambda statement: statement.startswith("INSERT INTO latest")
    )

    event.listen(server.db.engine, "before_cursor_execute", write_from_elsewhere)
    try:
        with sim(server) as client:
            response = client.get("/msgs", params={"latest": 5})
            assert client.get("/latest").json() == {"latest": 5}
    finally:
        event.remove(server.db.engine, "before_cursor_execute", write_from_elsewhere)
    assert response.status_code == 200, response.text
    assert other_writes == ["database is locked"], "the request held the write lock"


# -- legacy import ----------------------------------------------------------------------------

LEGACY_SCHEMA = """
CREATE TABLE user (user_id integer primary key autoincrement, username string not null,
                   email string not null, pw_hash string not null);
CREATE TABLE follower (who_id integer, whom_id integer);
CREATE TABLE message (message_id integer primary key autoincrement, author_id integer not null,
                      text string not null, pub_date integer, flagged integer);
"""


def test_legacy_import_keeps_the_flagged_mark(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "legacy.db"
    source = sqlite3.connect(path)
    source.executescript(LEGACY_SCHEMA)
    source.execute("INSERT INTO user VALUES (1, 'ann', 'ann@x.dk', 'pbkdf2:sha256:1$s$h')")
    source.executemany(
        "INSERT INTO message (author_id, text, pub_date, flagged) VALUES (1, ?, ?, ?)",
        [("shown", 100, 0), ("hidden", 200, 1), ("shown too", 300, None)],
    )
    source.commit()
    source.close()
    with db.unit(write=True, atomic=True) as tx:
        report = legacy.import_legacy(tx, path)
    assert report.messages == 3
    with db.unit() as tx:
        public = timelines.public_timeline(tx, limit=10).items
        flagged = timelines.flagged_messages(tx, limit=10).items
    assert [m.text for m in public] == ["shown too", "shown"]
    assert [(m.text, m.flagged) for m in flagged] == [("hidden", True)]


# -- the tie-breaker, and paging across ties, on every timeline -------------------------------


def add_messages(db: Database, rows: list[tuple[int, str, int, int]]) -> None:
    """(id, author, pub_date, flagged) rows with chosen ids, stored in the order given, so
    the table's physical order is not the id order."""
    with Session(db.engine) as session, session.begin():
        authors = {u.username: u.id for u in session.exec(select(User))}
        for message_id, author, pub_date, flagged in rows:
            session.add(
                Message(
                    id=message_id,
                    author_id=authors[author],
                    text=f"m{message_id}",
                    pub_date=pub_date,
                    flagged=bool(flagged),
                )
            )
            session.flush()


# Ties everywhere: ids stored out of order, two authors, some flagged.
TIED = [
    (13, "bob", 200, 0),
    (5, "ann", 200, 0),
    (9, "bob", 200, 1),
    (2, "bob", 200, 0),
    (7, "ann", 200, 1),
    (11, "ann", 100, 0),
    (3, "bob", 300, 0),
    (8, "ann", 200, 0),
    (1, "bob", 200, 1),
    (6, "bob", 200, 0),
    (4, "ann", 200, 1),
    (10, "bob", 100, 1),
    (12, "bob", 100, 0),
]


def newest_first(rows: list[tuple[int, str, int, int]]) -> list[str]:
    return [f"m{i}" for i, *_ in sorted(rows, key=lambda r: (r[2], r[0]), reverse=True)]


TIMELINES: dict[str, tuple[str, Callable[[tuple[int, str, int, int]], bool]]] = {
    "public": ("publicTimeline", lambda r: not r[3]),
    "home": ("homeTimeline", lambda r: not r[3]),  # ann follows bob
    "user": ('user(username: "bob") { messages', lambda r: r[1] == "bob" and not r[3]),
    "flagged": ("flaggedMessages", lambda r: bool(r[3])),
}


def page_of(client: GraphQLClient, field: str, arguments: str) -> dict[str, Any]:
    nested = field.endswith("messages")
    query = (
        f"{{ {field}({arguments}) {{ nodes {{ text }}"
        " pageInfo { hasNextPage hasPreviousPage startCursor endCursor } }"
        + (" } }" if nested else " }")
    )
    data = client.data(query)
    page: dict[str, Any] = data["user"]["messages"] if nested else next(iter(data.values()))
    return page


@pytest.mark.parametrize("timeline", sorted(TIMELINES))
def test_ties_are_broken_by_id_newest_first_and_paging_crosses_them(
    server: LiveServer, client: GraphQLClient, timeline: str
) -> None:
    ann, bob = make_user(server.db, "ann", moderator=True), make_user(server.db, "bob")
    assert ann.id is not None
    assert bob.id is not None
    with orm_session(server.db, write=True) as session:
        session.add(Follower(who_id=ann.id, whom_id=bob.id, followed_at=1))
    add_messages(server.db, TIED)
    client.data(LOGIN, u="ann", p=PASSWORD)
    field, shown = TIMELINES[timeline]
    expected = newest_first([r for r in TIED if shown(r)])
    assert len(expected) >= 4

    whole = page_of(client, field, "first: 100")
    assert [n["text"] for n in whole["nodes"]] == expected
    for size in (1, 2, 3):
        forward: list[str] = []
        after = ""
        while True:
            page = page_of(client, field, f"first: {size}{after}")
            forward += [n["text"] for n in page["nodes"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = f', after: "{page["pageInfo"]["endCursor"]}"'
        assert forward == expected, size
        backward: list[str] = []
        before = ""
        while True:
            page = page_of(client, field, f"last: {size}{before}")
            backward = [n["text"] for n in page["nodes"]] + backward
            if not page["pageInfo"]["hasPreviousPage"]:
                break
            before = f', before: "{page["pageInfo"]["startCursor"]}"'
        assert backward == expected, size


def test_the_simulator_api_breaks_ties_by_id_too(server: LiveServer) -> None:
    make_user(server.db, "ann")
    make_user(server.db, "bob")
    add_messages(server.db, TIED)
    with sim(server) as client:
        public = [m["content"] for m in client.get("/msgs").json()]
        bobs = [m["content"] for m in client.get("/msgs/bob").json()]
    assert public == newest_first([r for r in TIED if not r[3]])
    assert bobs == newest_first([r for r in TIED if r[1] == "bob" and not r[3]])


# -- settings that change behaviour -------------------------------------------------------------


def test_the_page_size_setting_sets_every_timelines_default_page(settings: Settings) -> None:
    small = Settings.from_env(
        {
            "DATABASE_URL": settings.database_url,
            "SECRET_KEY": "k" * 32,
            "MINITWIT_MIGRATE_ON_START": "0",
            "MINITWIT_PAGE_SIZE": "3",
        }
    )
    assert small.page_size == 3
    with LiveServer(create_app(small)) as live, live.client() as client:
        ann = make_user(live.db, "ann", moderator=True)
        for i in range(5):
            make_message(live.db, ann, f"m{i}", 100 + i)
        client.data(LOGIN, u="ann", p=PASSWORD)
        for field in ("publicTimeline", "homeTimeline"):
            page = client.data(f"{{ {field} {{ nodes {{ text }} pageInfo {{ hasNextPage }} }} }}")
            assert page[field] == {
                "nodes": [{"text": "m4"}, {"text": "m3"}, {"text": "m2"}],
                "pageInfo": {"hasNextPage": True},
            }
        mine = client.data('{ user(username: "ann") { messages { nodes { text } } } }')
        assert len(mine["user"]["messages"]["nodes"]) == 3
        assert (
            len(
                client.data("{ publicTimeline(last: 4) { nodes { text } } }")["publicTimeline"][
                    "nodes"
                ]
            )
            == 4
        )


def test_the_message_length_setting_is_the_longest_message_accepted(settings: Settings) -> None:
    short = Settings.from_env(
        {
            "DATABASE_URL": settings.database_url,
            "SECRET_KEY": "k" * 32,
            "MINITWIT_MIGRATE_ON_START": "0",
            "MINITWIT_MAX_MESSAGE_LENGTH": "10",
        }
    )
    assert short.max_message_length == 10
    with LiveServer(create_app(short)) as live, live.client() as client:
        make_user(live.db, "ann")
        client.data(LOGIN, u="ann", p=PASSWORD)
        post = "mutation ($t: String!) { postMessage(text: $t) { text } }"
        assert client.data(post, t="x" * 10) == {"postMessage": {"text": "x" * 10}}
        body = client.gql(post, t="x" * 11)
        assert body["errors"][0]["message"] == "A message can have at most 10 characters"
        assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "text"}
        with sim(live) as rest:
            assert rest.post("/msgs/ann", json={"content": "y" * 10}).status_code == 204
            refused = rest.post("/msgs/ann", json={"content": "y" * 11})
            assert refused.status_code == 400
            assert refused.json()["error_msg"] == "A message can have at most 10 characters"
            assert [m["content"] for m in rest.get("/msgs").json()] == ["y" * 10, "x" * 10]


def legacy_database(path: Path) -> Path:
    source = sqlite3.connect(path)
    source.executescript(LEGACY_SCHEMA)
    source.executemany(
        "INSERT INTO user VALUES (?, ?, ?, ?)",
        [
            (1, "ann", "ann@x.dk", "pbkdf2:sha256:1$s$h"),
            (2, "bob", "bob@x.dk", "pbkdf2:sha256:1$s$h"),
            (3, "a/b", "slash@x.dk", "h"),
            (4, "nomail", "no-at-sign", "h"),
            (5, "nohash", "n@x.dk", ""),
            (6, "longhash", "l@x.dk", "h" * 256),
            (7, 42, "number@x.dk", "h"),  # not text
            (8, "cid", "cid@x.dk", "h" * 255),
            (9, "numbermail", 12, "h"),
        ],
    )
    source.executemany(
        "INSERT INTO message (author_id, text, pub_date, flagged) VALUES (?, ?, ?, ?)",
        [
            (1, "hello", 100, 0),
            (2, "hi", 100, 1),
            (2, "hi", 100, 1),  # the same message twice: imported once
            (3, "by an invalid user", 100, 0),
            (1, "bad\x00text", 100, 0),
            (1, "negative date", -1, 0),
            (1, "after the year 9999", 253_402_300_800, 0),
            (1, "last second of 9999", 253_402_300_799, 0),
            (1, "not a date", "soon", 0),
            (99, "by nobody", 100, 0),
            (8, "cid's", 0, 0),
        ],
    )
    source.executemany(
        "INSERT INTO follower VALUES (?, ?)",
        [(1, 2), (1, 2), (2, 1), (1, 1), (1, 3), (99, 1), (8, 1)],
    )
    source.commit()
    source.close()
    return path


def test_legacy_import_reports_every_row_and_imports_nothing_twice(
    db: Database, tmp_path: Path
) -> None:
    path = legacy_database(tmp_path / "legacy.db")
    make_user(db, "cid")  # already present: matched by name
    with db.unit(write=True, atomic=True) as tx:
        first = legacy.import_legacy(tx, path)
    assert (first.users, first.users_skipped) == (2, 1)
    assert (first.messages, first.messages_skipped) == (4, 1)
    assert (first.follows, first.follows_skipped) == (3, 0)
    assert first.invalid == [
        "user 3: 'a/b': The username may not contain '/' or control characters",
        "user 4: 'nomail': You have to enter a valid email address",
        "user 5: 'nohash': unusable password hash",
        "user 6: 'longhash': unusable password hash",
        "user 7: no username",
        "user 9: 'numbermail': You have to enter a valid email address",
        "message by user 1: text cannot be stored",
        "message by user 1: pub_date -1 out of range",
        "message by user 1: pub_date 253402300800 out of range",
        "message by user 1: pub_date 'soon' out of range",
    ]
    assert str(first) == (
        "imported 2 users (1 already present), 4 messages (1 already present), "
        "3 follows (0 already present)\n"
        "skipped 10 rows that cannot be stored:\n"
        + "\n".join(f"  {r}" for r in first.invalid)
        + "\n2 imported users cannot sign in: their password hash is of a form MiniTwit cannot"
        " verify:\n"
        "  user 1: 'ann' (hash form 'pbkdf2:sha256:1')\n"
        "  user 2: 'bob' (hash form 'pbkdf2:sha256:1')"
    )
    # made-up hashes ('pbkdf2:sha256:1$s$h': no real digest) are listed, not refused
    with orm_session(db) as session:
        ann = accounts_user(session, "ann")
        assert ann.pw_hash == "pbkdf2:sha256:1$s$h", "legacy hashes are kept for sign-in"
        flagged_at = dict(session.exec(select(Message.text, Message.flagged_at)).all())
        assert flagged_at["hi"] is not None
        assert flagged_at["hello"] is None
    with db.unit() as tx:
        texts = [m.text for m in timelines.public_timeline(tx, limit=20).items]
        assert texts == ["last second of 9999", "hello", "cid's"]
        assert [m.text for m in timelines.flagged_messages(tx, limit=20).items] == ["hi"]
    with db.unit(write=True, atomic=True) as tx:
        second = legacy.import_legacy(tx, path)
    assert (second.users, second.users_skipped) == (0, 3)
    assert (second.messages, second.messages_skipped) == (0, 5)
    assert (second.follows, second.follows_skipped) == (0, 3)
    assert str(second).startswith(
        "imported 0 users (3 already present), 0 messages (5 already present), "
        "0 follows (3 already present)\nskipped 10 rows"
    )


def accounts_user(session: Session, name: str) -> User:
    return session.exec(select(User).where(User.username == name)).one()


def test_legacy_import_refuses_what_is_not_a_minitwit_database(
    db: Database, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    for path, message in [
        (tmp_path / "missing.db", f"{tmp_path / 'missing.db'} is not a file"),
        (notes, f"{notes} is not a MiniTwit database: file is not a database"),
        (other, f"{other} is not a MiniTwit database: no such table: user"),
    ]:
        with db.unit(write=True, atomic=True) as tx, pytest.raises(legacy.Invalid) as raised:
            legacy.import_legacy(tx, path)
        assert raised.value.message == message


# -- moderation, as the resolver records it -----------------------------------------------------


def test_flagging_records_who_and_when_and_unflagging_clears_both(db: Database) -> None:
    ann = make_user(db, "ann")
    mod = make_user(db, "mod", moderator=True)
    message_id = make_message(db, ann, "rude", 100)
    with db.unit(write=True, atomic=True) as tx:
        view = messages.set_flagged(tx, message_id=message_id, flagged=True, moderator=mod)
    assert (view.id, view.flagged, view.text) == (message_id, True, "rude")
    with orm_session(db) as session:
        row = session.get(Message, message_id)
        assert row is not None
        assert row.flagged_by == mod.id
        assert row.flagged_at is not None
    with db.unit(write=True, atomic=True) as tx:
        messages.set_flagged(tx, message_id=message_id, flagged=False, moderator=mod)
    with orm_session(db) as session:
        row = session.get(Message, message_id)
        assert row is not None
        assert (row.flagged, row.flagged_by, row.flagged_at) == (False, None, None)
    with db.unit(write=True, atomic=True) as tx:  # the operator, from the command line
        messages.set_flagged(tx, message_id=message_id, flagged=True, moderator=None)
    with orm_session(db) as session:
        row = session.get(Message, message_id)
        assert row is not None
        assert (row.flagged, row.flagged_by) == (True, None)
        assert row.flagged_at is not None


def test_the_resolver_itself_refuses_moderation_by_a_user_who_is_no_moderator(
    db: Database,
) -> None:
    ann = make_user(db, "ann")
    message_id = make_message(db, ann, "mine", 100)
    with db.unit(write=True, atomic=True) as tx, pytest.raises(Forbidden) as raised:
        messages.set_flagged(tx, message_id=message_id, flagged=True, moderator=ann)
    assert raised.value.message == "Only moderators can flag and unflag messages"
    with db.unit(write=True, atomic=True) as tx, pytest.raises(NotFound) as missing:
        messages.set_flagged(tx, message_id=999, flagged=True, moderator=None)
    assert (missing.value.message, missing.value.field) == ("There is no message 999", "id")


@pytest.mark.parametrize(
    ("pw_hash", "form"),
    [
        ("pbkdf2:sha256:600000$salt$digest", "pbkdf2:sha256:600000"),
        ("$2b$12$saltsaltsaltsaltsaltsdigest", "$2b"),
        ("$argon2id$v=19$m=65536,t=3,p=4$salt$digest", "$argon2id"),
        ("scrypt$salt$digest$", "scrypt"),
        ("bare", "no method"),
        ("$bare", "no method"),
        ("m" * 45 + "$salt", "m" * 40),
        ("a\x00b$salt", "unprintable"),
    ],
)
def test_a_legacy_hash_is_reported_by_its_method_alone(pw_hash: str, form: str) -> None:
    """What the import report prints of a hash it skips: the method, never salt or digest."""
    assert legacy._form(pw_hash) == form


def test_following_and_followers_page_both_ways_in_the_order_followed(db: Database) -> None:
    ann, bob, cid, dan = (make_user(db, name) for name in ("ann", "bob", "cid", "dan"))
    assert ann.id is not None
    with orm_session(db, write=True) as session:
        for at, other in enumerate((bob, cid, dan), start=1):
            assert other.id is not None
            session.add(Follower(who_id=ann.id, whom_id=other.id, followed_at=at))
            session.add(Follower(who_id=other.id, whom_id=ann.id, followed_at=at))
    for page_of_people in (social.following_page, social.followers_page):
        with db.unit() as tx:
            last = page_of_people(tx, user_id=ann.id, limit=2, backward=True)
            cursor = last.end_cursor
            assert cursor is not None
            before = page_of_people(tx, user_id=ann.id, limit=5, before=cursor)
            after = page_of_people(tx, user_id=ann.id, limit=5, after=cursor)
            exactly = page_of_people(tx, user_id=ann.id, limit=3)
        assert [u.username for u, _ in last.items] == ["cid", "dan"]
        assert [at for _, at in last.items] == [2, 3]
        assert (last.has_previous, last.has_next) == (True, False)
        assert [u.username for u, _ in before.items] == ["bob", "cid"]
        assert after.items == []
        assert (len(exactly.items), exactly.has_next, exactly.has_previous) == (3, False, False)


def test_a_page_of_people_names_the_cursor_it_refuses_and_may_hold_nobody(db: Database) -> None:
    ann, bob = make_user(db, "ann"), make_user(db, "bob")
    assert ann.id is not None
    with db.unit(write=True) as tx:
        social.follow(tx, who=ann, whom=bob)
    with db.unit() as tx:
        for field in ("after", "before"):
            with pytest.raises(Invalid) as raised:
                social.following_page(tx, user_id=ann.id, limit=1, **{field: "???"})
            assert (raised.value.message, raised.value.field) == ("Invalid cursor", field)
        empty = social.following_page(tx, user_id=ann.id, limit=0)
    assert (list(empty.items), empty.has_next, empty.has_previous) == ([], False, False)


@pytest.mark.parametrize(
    ("method", "path", "body", "locks"),
    [
        ("POST", "/msgs/ann", {"content": "hi"}, True),
        ("POST", "/msgs/ann?latest=3", {"content": "hi"}, True),
        ("POST", "/fllws/ann", {"follow": "bob"}, True),
        ("POST", "/fllws/ann?latest=4", {"follow": "bob"}, True),
        ("GET", "/msgs", None, False),
        ("GET", "/msgs/ann", None, False),
        ("GET", "/fllws/ann", None, False),
    ],
)
def test_a_sqlite_simulator_write_takes_the_write_lock_first_and_a_read_never(
    sqlite_server: LiveServer, method: str, path: str, body: dict[str, str] | None, locks: bool
) -> None:
    """A write starts as a writer (BEGIN IMMEDIATE), so it never deadlocks upgrading a read
    lock; a read without ``latest`` stays a reader and blocks no writer. Another connection
    tries to commit a write as the request runs its first statement."""
    server = sqlite_server
    make_user(server.db, "ann")
    make_user(server.db, "bob")
    path_of_db = server.db.settings.database_url.removeprefix("sqlite:///")
    write_from_elsewhere, other_writes = writer_from_elsewhere(
        path_of_db, lambda statement: not statement.startswith("BEGIN")
    )

    event.listen(server.db.engine, "before_cursor_execute", write_from_elsewhere)
    try:
        with sim(server) as client:
            response = client.request(method, path, json=body)
    finally:
        event.remove(server.db.engine, "before_cursor_execute", write_from_elsewhere)
    assert response.status_code in (200, 204), response.text
    assert other_writes == (["database is locked"] if locks else ["committed"])
