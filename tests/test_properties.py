"""Property-based tests (hypothesis): cursors, global ids, the simulator API's parameter and
body parsing, and text that must come back exactly as it went in."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.datastructures import QueryParams
from strawberry.relay import GlobalID

from minitwit.db.database import Database
from minitwit.http.errors import encode
from minitwit.models import Message, User
from minitwit.resolvers import cursors, messages, social, timelines
from minitwit.resolvers.errors import Invalid
from minitwit.resolvers.validation import (
    INT32_MAX,
    INT64_MAX,
    INT64_MIN,
    global_id,
    is_storable,
    parse_global_id,
    parse_id,
)
from minitwit.rest_compat.parsing import (
    follow_action,
    parse_latest,
    parse_no,
    parse_object,
    text_field,
)
from minitwit.settings import Settings
from tests.factories import orm_session

T = TypeVar("T")


def outcome(func: Callable[[], T]) -> tuple[T | None, Invalid | None]:
    """What ``func`` returns, or the Invalid it raises (any other exception fails the test)."""
    try:
        return func(), None
    except Invalid as error:
        return None, error


int64 = st.integers(min_value=INT64_MIN, max_value=INT64_MAX)
row_ids = st.integers(min_value=0, max_value=INT32_MAX)

# -- cursors and global ids ---------------------------------------------------------------------


@given(key=int64, row_id=row_ids)
@example(key=INT64_MIN, row_id=0)
@example(key=INT64_MAX, row_id=INT32_MAX)
def test_a_cursor_decodes_to_what_it_encodes(key: int, row_id: int) -> None:
    cursor = cursors.encode(key, row_id)
    assert cursors.decode(cursor) == (key, row_id)
    assert cursor.isascii()
    assert "=" not in cursor, "cursors travel in URLs unpadded"


@given(st.text())
def test_any_text_as_a_cursor_is_a_pair_in_range_or_invalid_naming_the_argument(
    text: str,
) -> None:
    pair, error = outcome(lambda: cursors.decode(text, "before"))
    if error is not None:
        assert (error.message, error.field) == ("Invalid cursor", "before")
    else:
        assert pair is not None
        assert INT64_MIN <= pair[0] <= INT64_MAX
        assert 0 <= pair[1] <= INT32_MAX


@given(key=st.one_of(st.integers(max_value=INT64_MIN - 1), st.integers(min_value=INT64_MAX + 1)))
def test_a_cursor_beyond_64_bits_is_invalid(key: int) -> None:
    with pytest.raises(Invalid):
        cursors.decode(cursors.encode(key, 1))


@given(
    row_id=st.integers(min_value=1, max_value=INT32_MAX), kind=st.sampled_from(["User", "Message"])
)
def test_global_ids_are_strawberrys_and_parse_back(row_id: int, kind: str) -> None:
    node_id = global_id(kind, row_id)
    assert node_id == str(GlobalID(kind, str(row_id)))
    assert parse_global_id(node_id, kind) == row_id
    assert parse_global_id(str(row_id), kind) == row_id, "the deprecated bare number"
    other = "User" if kind == "Message" else "Message"
    with pytest.raises(Invalid):
        parse_global_id(node_id, other)


@given(st.text())
def test_any_text_as_a_message_id_is_an_id_or_invalid(text: str) -> None:
    value, error = outcome(lambda: parse_global_id(text, "Message", "message id"))
    if error is not None:
        assert (error.message, error.field) == ("Invalid message id", "id")
    else:
        assert value is not None
        assert 0 < value <= INT32_MAX


# -- the simulator API's parameters and bodies ---------------------------------------------------

query_values = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(max_size=12),
    st.sampled_from(["", " 7", "+3", "-0", "1e3", "0x10", "٣", "1_000", "9" * 5000]),
)


def reference_int(raw: str) -> int | None:
    """werkzeug's ``args.get(name, type=int)``: int(raw), or None when int() refuses."""
    try:
        return int(raw)
    except ValueError:
        return None


@given(values=st.lists(query_values, max_size=3))
def test_latest_is_the_first_value_when_an_int64_other_than_minus_one(values: list[str]) -> None:
    query = QueryParams(urlencode([("latest", v) for v in values]))
    result = parse_latest(query)
    first = reference_int(values[0]) if values else None
    if first is None or first == -1 or not INT64_MIN <= first <= INT64_MAX:
        assert result is None
    else:
        assert result == first


@given(
    values=st.lists(query_values, max_size=3),
    default=st.integers(min_value=0, max_value=500),
    maximum=st.integers(min_value=0, max_value=10_000),
)
def test_no_is_the_first_non_negative_integer_capped_or_the_default(
    values: list[str], default: int, maximum: int
) -> None:
    query = QueryParams(urlencode([("no", v) for v in values]))
    result = parse_no(query, default=default, maximum=maximum)
    assert 0 <= result <= max(default, maximum)
    raw = values[0] if values else None
    value = reference_int(raw) if raw is not None else None
    if raw is not None and value is None and raw.strip().removeprefix("+").isdecimal():
        assert result == maximum  # a number too long for int(): above every cap
    elif value is None or value < 0:
        assert result == min(default, maximum)
    else:
        assert result == min(value, maximum)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_body_is_an_object_or_invalid(body: bytes) -> None:
    document, error = outcome(lambda: parse_object(body))
    if error is not None:
        assert error.message.startswith("The request body")
    else:
        assert isinstance(document, dict)
        assert document == json.loads(body)


@given(st.dictionaries(st.sampled_from(["follow", "unfollow", "other"]), json_values, max_size=3))
def test_follow_wins_and_only_strings_name_users(document: dict[str, object]) -> None:
    action, error = outcome(lambda: follow_action(document))
    if error is not None:
        key = "follow" if "follow" in document else "unfollow"
        assert key not in document or not isinstance(document[key], str)
    else:
        assert action is not None
        follow, whom = action
        key = "follow" if follow else "unfollow"
        assert document[key] == whom
        assert follow == ("follow" in document)


@given(st.dictionaries(st.text(max_size=3), json_values, max_size=3), st.text(max_size=3))
def test_a_text_field_is_the_string_or_invalid_naming_the_key(
    document: dict[str, object], key: str
) -> None:
    value, error = outcome(lambda: text_field(document, key))
    if error is not None:
        assert f"'{key}'" in error.message
        assert not isinstance(document.get(key), str)
    else:
        assert value == document[key]


# -- text round trips ---------------------------------------------------------------------------


@given(json_values)
def test_rest_bodies_are_json_that_reads_back_the_same(value: object) -> None:
    body = encode({"content": value, "user": "x"})
    assert body.isascii()
    assert json.loads(body) == {"content": value, "user": "x"}


@pytest.fixture(scope="module")
def one_db(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Database]:
    path = tmp_path_factory.mktemp("props") / "minitwit.sqlite3"
    shutil.copyfile(sqlite_template, path)
    database = Database(Settings(database_url=f"sqlite:///{path}"))
    yield database
    database.dispose()


def author(db: Database) -> User:
    with orm_session(db, write=True) as session:
        session.connection().exec_driver_sql("DELETE FROM messages")
        session.connection().exec_driver_sql("DELETE FROM followers")
        session.connection().exec_driver_sql("DELETE FROM users")
        user = User(username="author", email="a@x.dk", pw_hash="-", created_at=0)
        session.add(user)
        session.flush()
        return user


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=1, max_size=300).filter(lambda t: t.strip() and is_storable(t)))
def test_posted_text_comes_back_exactly(one_db: Database, text: str) -> None:
    user = author(one_db)
    with one_db.unit(write=True, atomic=True) as tx:
        posted = messages.post_message(tx, author=user, text=text)
    with one_db.unit() as tx:
        page = timelines.public_timeline(tx, limit=5)
    assert [m.text for m in page.items] == [text]
    assert page.items[0].id == posted.id


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    dates=st.lists(st.integers(min_value=0, max_value=4), min_size=0, max_size=14),
    size=st.integers(min_value=1, max_value=5),
    flagged=st.sets(st.integers(min_value=0, max_value=13)),
)
def test_paging_either_way_visits_every_message_once_newest_first(
    one_db: Database, dates: list[int], size: int, flagged: set[int]
) -> None:
    """Few distinct dates make many ties; flagged messages never show."""
    user = author(one_db)
    assert user.id is not None
    with orm_session(one_db, write=True) as session:
        rows = [
            Message(author_id=user.id, text=f"m{i}", pub_date=d, flagged=i in flagged)
            for i, d in enumerate(dates)
        ]
        session.add_all(rows)
        session.flush()
        expected = [
            m.id
            for m in sorted(rows, key=lambda m: (m.pub_date, m.id), reverse=True)
            if not m.flagged
        ]
    forward: list[int] = []
    backward: list[int] = []
    with one_db.unit() as tx:
        after = None
        while True:
            page = timelines.public_timeline(tx, limit=size, after=after)
            assert len(page.items) <= size
            assert not page.has_previous
            forward += [m.id for m in page.items]
            if not page.has_next:
                break
            after = page.end_cursor
        before = None
        while True:
            page = timelines.public_timeline(tx, limit=size, before=before, backward=True)
            assert len(page.items) <= size
            assert not page.has_next
            backward = [m.id for m in page.items] + backward
            if not page.has_previous:
                break
            before = page.start_cursor
    assert forward == expected
    assert backward == expected


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    times=st.lists(st.integers(min_value=0, max_value=3), min_size=0, max_size=12),
    size=st.integers(min_value=1, max_value=4),
)
def test_follower_pages_either_way_visit_every_follower_once_in_order(
    one_db: Database, times: list[int], size: int
) -> None:
    star = author(one_db)
    with orm_session(one_db, write=True) as session:
        fans = [
            User(username=f"f{i}", email="f@x.dk", pw_hash="-", created_at=0)
            for i in range(len(times))
        ]
        session.add_all(fans)
        session.flush()
        connection = session.connection()
        for fan, at in zip(fans, times, strict=True):
            connection.exec_driver_sql(
                "INSERT INTO followers (who_id, whom_id, followed_at) VALUES (?, ?, ?)",
                (fan.id, star.id, at),
            )
        expected = [
            f.id for f, _ in sorted(zip(fans, times, strict=True), key=lambda p: (p[1], p[0].id))
        ]
    assert star.id is not None
    forward: list[int | None] = []
    backward: list[int | None] = []
    with one_db.unit() as tx:
        after = None
        while True:
            page = social.followers_page(tx, user_id=star.id, limit=size, after=after)
            forward += [u.id for u, _ in page.items]
            if not page.has_next:
                break
            after = page.end_cursor
        before = None
        while True:
            page = social.followers_page(
                tx, user_id=star.id, limit=size, before=before, backward=True
            )
            backward = [u.id for u, _ in page.items] + backward
            if not page.has_previous:
                break
            before = page.start_cursor
    assert forward == expected
    assert backward == expected


@pytest.mark.parametrize(
    "raw",
    [
        "0",
        "2147483648",
        global_id("Message", 0),
        global_id("Message", 2**31),
        base64.b64encode(b"Message:").decode(),
        base64.b64encode(b"Message").decode(),
        base64.b64encode("Message:٣".encode()).decode(),
        base64.b64encode(b"Message:-1").decode(),
        global_id("Message", 1) + "!",
        global_id("User", 1),
        "",
    ],
)
def test_message_ids_out_of_range_or_malformed_are_refused_naming_the_argument(raw: str) -> None:
    with pytest.raises(Invalid) as raised:
        parse_global_id(raw, "Message", "message id", field="id")
    assert (raised.value.message, raised.value.field) == ("Invalid message id", "id")
    with pytest.raises(Invalid) as again:
        parse_global_id(raw, "Message")
    assert (again.value.message, again.value.field) == ("Invalid id", "id")


@pytest.mark.parametrize(
    "raw", ["0", "2147483648", global_id("Message", 0), "x", global_id("User", 1)]
)
def test_a_refused_global_id_names_the_field_it_was_given(raw: str) -> None:
    with pytest.raises(Invalid) as raised:
        parse_global_id(raw, "Message", "message id", field="target")
    assert (raised.value.message, raised.value.field) == ("Invalid message id", "target")


@pytest.mark.parametrize("raw", ["abc", "", "1.5", "0", "-3", str(INT32_MAX + 1)])
def test_a_refused_id_says_what_it_is_and_names_its_field(raw: str) -> None:
    with pytest.raises(Invalid) as raised:
        parse_id(raw, "user id", field="who")
    assert (raised.value.message, raised.value.field) == ("Invalid user id", "who")
    with pytest.raises(Invalid) as default:
        parse_id(raw)
    assert (default.value.message, default.value.field) == ("Invalid id", "id")
    assert (parse_id("7"), parse_id(INT32_MAX)) == (7, INT32_MAX)


@pytest.mark.parametrize(
    "pair", [(INT64_MAX + 1, 1), (INT64_MIN - 1, 1), (1, INT32_MAX + 1), (1, -1)]
)
def test_a_well_formed_cursor_out_of_range_is_invalid_naming_its_argument(
    pair: tuple[int, int],
) -> None:
    with pytest.raises(Invalid) as raised:
        cursors.decode(cursors.encode(*pair), "before")
    assert (raised.value.message, raised.value.field) == ("Invalid cursor", "before")


def test_a_cursor_names_after_unless_told_otherwise() -> None:
    with pytest.raises(Invalid) as raised:
        cursors.decode("not a cursor")
    assert (raised.value.message, raised.value.field) == ("Invalid cursor", "after")
