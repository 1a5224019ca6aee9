"""The GraphQL contract: the committed schema, descriptions, global ids, connections, and
errors that name the argument at fault. On SQLite and PostgreSQL, over real HTTP."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    build_schema,
    find_breaking_changes,
)
from sqlmodel import Session, select

from minitwit.db.database import Database
from minitwit.models import Follower, User
from minitwit.resolvers.validation import global_id
from minitwit.schema import build_schema as build_minitwit_schema
from minitwit.settings import Settings
from tests.conftest import GraphQLClient, LiveServer
from tests.factories import PASSWORD, make_message, make_user
from tests.servers import REPO
from tests.test_graphql_http import count_statements

SCHEMA_FILE = REPO / "schema.graphql"
LOGIN = "mutation ($u: String!, $p: String!) { login(username: $u, password: $p) { username } }"
REGENERATE = "regenerate it: .venv/bin/minitwit graphql-schema > schema.graphql"


def current_sdl() -> str:
    # A database that does not exist: building the schema must not need one.
    settings = Settings(database_url="postgresql://nobody@127.0.0.1:1/nothing")
    return build_minitwit_schema(settings).as_str() + "\n"


def test_the_schema_builds_from_settings_alone_without_a_database() -> None:
    sdl = current_sdl()
    assert "interface Node" in sdl
    assert "type Query" in sdl


def test_the_committed_schema_is_the_current_schema() -> None:
    """Additions are committed too, so the breaking-change check always compares with what
    clients were last promised."""
    assert SCHEMA_FILE.read_text() == current_sdl(), REGENERATE


def test_no_breaking_change_against_the_committed_schema() -> None:
    """Removing or retyping what schema.graphql promises fails here: deprecate instead
    (deprecation_reason), and remove only in a release that means to break clients."""
    committed = build_schema(SCHEMA_FILE.read_text())
    current = build_schema(current_sdl())
    changes = find_breaking_changes(committed, current)
    assert changes == [], [change.description for change in changes]


def test_the_breaking_change_check_notices_a_removed_field_and_a_new_required_argument() -> None:
    committed = SCHEMA_FILE.read_text()
    without_field = committed.replace(
        '\n  """Whether this user is the signed-in user."""\n  isViewer: Boolean!\n', "\n", 1
    )
    required_argument = committed.replace("  viewer: User\n", "  viewer(as: String!): User\n", 1)
    for changed in (without_field, required_argument):
        assert changed != committed
        changes = find_breaking_changes(build_schema(committed), build_schema(changed))
        assert len(changes) == 1, changes


def test_every_type_field_and_argument_has_a_description() -> None:
    schema = build_minitwit_schema(Settings())._schema
    missing: list[str] = []
    for name, kind in schema.type_map.items():
        if name.startswith("__"):
            continue
        if not kind.description:
            missing.append(name)
        if isinstance(kind, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in kind.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                for arg_name, arg in field.args.items():
                    if not arg.description:
                        missing.append(f"{name}.{field_name}({arg_name})")
        elif isinstance(kind, GraphQLInputObjectType):
            missing += [f"{name}.{f}" for f, v in kind.fields.items() if not v.description]
        elif isinstance(kind, GraphQLEnumType):
            missing += [f"{name}.{v}" for v, d in kind.values.items() if not d.description]
    assert missing == []


# -- identity ---------------------------------------------------------------------------------


def decoded(node_id: str) -> str:
    return base64.b64decode(node_id).decode()


def test_users_and_messages_have_stable_opaque_global_ids(
    server: LiveServer, client: GraphQLClient
) -> None:
    ann = make_user(server.db, "ann")
    message_id = make_message(server.db, ann, "hello", 100)
    query = "{ publicTimeline { nodes { id author { id } } } viewer { id } }"
    data = client.data(query)
    node = data["publicTimeline"]["nodes"][0]
    assert decoded(node["id"]) == f"Message:{message_id}"
    assert decoded(node["author"]["id"]) == f"User:{ann.id}"
    assert node["id"] == global_id("Message", message_id)
    assert client.data(query) == data, "the same ids every time"
    user = client.data('{ user(username: "ann") { id } }')["user"]
    assert user["id"] == node["author"]["id"]


def test_node_finds_users_and_messages_by_global_id(
    server: LiveServer, client: GraphQLClient
) -> None:
    ann = make_user(server.db, "ann")
    assert ann.id is not None
    message_id = make_message(server.db, ann, "hello", 100)
    query = """query ($id: ID!) { node(id: $id) {
        __typename id ... on User { username } ... on Message { text author { username } } } }"""
    user = client.data(query, id=global_id("User", ann.id))["node"]
    assert user == {"__typename": "User", "id": global_id("User", ann.id), "username": "ann"}
    message = client.data(query, id=global_id("Message", message_id))["node"]
    assert message == {
        "__typename": "Message",
        "id": global_id("Message", message_id),
        "text": "hello",
        "author": {"username": "ann"},
    }
    for absent in (global_id("User", 9999), global_id("Message", 9999), global_id("User", 0)):
        assert client.data(query, id=absent) == {"node": None}
    for bad in ("42", "not base64!", global_id("Nothing", 1), base64.b64encode(b"User").decode()):
        body = client.gql(query, id=bad)
        assert body["data"] == {"node": None}
        assert [e["extensions"] for e in body["errors"]] == [
            {"code": "BAD_USER_INPUT", "field": "id"}
        ]


def test_node_hides_a_flagged_message_from_all_but_moderators(
    server: LiveServer, client: GraphQLClient
) -> None:
    ann = make_user(server.db, "ann")
    make_user(server.db, "mod", moderator=True)
    message = global_id("Message", make_message(server.db, ann, "rude", 100))
    query = "query ($id: ID!) { node(id: $id) { id } }"
    client.data(LOGIN, u="mod", p=PASSWORD)
    client.data("mutation ($id: ID!) { flagMessage(id: $id) { id } }", id=message)
    assert client.data(query, id=message) == {"node": {"id": message}}
    client.data("mutation { logout }")
    assert client.data(query, id=message) == {"node": None}
    client.data(LOGIN, u="ann", p=PASSWORD)
    assert client.data(query, id=message) == {"node": None}


def test_moderation_takes_global_ids_and_deprecated_bare_numbers(
    server: LiveServer, client: GraphQLClient
) -> None:
    ann = make_user(server.db, "ann")
    assert ann.id is not None
    make_user(server.db, "mod", moderator=True)
    number = make_message(server.db, ann, "rude", 100)
    flag = "mutation ($id: ID!) { flagMessage(id: $id) { id flagged } }"
    unflag = "mutation ($id: ID!) { unflagMessage(id: $id) { id flagged } }"
    client.data(LOGIN, u="mod", p=PASSWORD)
    expected = {"id": global_id("Message", number), "flagged": True}
    assert client.data(flag, id=global_id("Message", number)) == {"flagMessage": expected}
    assert client.data(unflag, id=str(number))["unflagMessage"]["flagged"] is False
    assert client.data(flag, id=number)["flagMessage"]["flagged"] is True
    for wrong in (global_id("User", ann.id), "abc", "-1", global_id("Message", 0)):
        body = client.gql(flag, id=wrong)
        assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "id"}
    body = client.gql(flag, id=global_id("Message", 99999))
    assert body["errors"][0]["extensions"] == {"code": "NOT_FOUND", "field": "id"}


# -- errors a client can act on -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "variables", "field"),
    [
        (
            "mutation ($u: String!, $e: String!) { register(username: $u, email: $e,"
            ' password: "p", password2: "q") { id } }',
            {"u": "new", "e": "n@x.dk"},
            "password2",
        ),
        (
            "mutation ($u: String!, $e: String!) { register(username: $u, email: $e,"
            ' password: "", password2: "") { id } }',
            {"u": "new", "e": "n@x.dk"},
            "password",
        ),
        (
            "mutation ($u: String!, $e: String!) { register(username: $u, email: $e,"
            ' password: "p", password2: "p") { id } }',
            {"u": "new", "e": "no-at"},
            "email",
        ),
        (
            "mutation ($u: String!, $e: String!) { register(username: $u, email: $e,"
            ' password: "p", password2: "p") { id } }',
            {"u": "ann", "e": "a@x.dk"},
            "username",
        ),
        (LOGIN, {"u": "nobody", "p": "x"}, "username"),
        (LOGIN, {"u": "ann", "p": "wrong"}, "password"),
        ("{ publicTimeline(first: 101) { nodes { id } } }", {}, "first"),
        ("{ publicTimeline(last: -1) { nodes { id } } }", {}, "last"),
        ("{ publicTimeline(first: 1, last: 1) { nodes { id } } }", {}, "last"),
        ('{ publicTimeline(after: "garbage") { nodes { id } } }', {}, "after"),
        ('{ publicTimeline(before: "garbage") { nodes { id } } }', {}, "before"),
        ('{ user(username: "ann") { followers(first: 101) { nodes { id } } } }', {}, "first"),
        ('{ user(username: "ann") { following(after: "x") { nodes { id } } } }', {}, "after"),
        ('{ user(username: "ann") { gravatarUrl(size: 0) } }', {}, "size"),
    ],
)
def test_input_errors_name_the_argument_at_fault(
    server: LiveServer,
    client: GraphQLClient,
    query: str,
    variables: dict[str, Any],
    field: str,
) -> None:
    make_user(server.db, "ann")
    body = client.gql(query, **variables)
    assert len(body["errors"]) == 1, body
    assert body["errors"][0]["extensions"]["field"] == field
    assert body["errors"][0]["extensions"]["code"] in ("BAD_USER_INPUT", "CONFLICT")


def test_signed_in_input_errors_name_the_argument_at_fault(
    server: LiveServer, client: GraphQLClient
) -> None:
    make_user(server.db, "ann")
    client.data(LOGIN, u="ann", p=PASSWORD)
    for query, field, code in [
        ('mutation { postMessage(text: "  ") { id } }', "text", "BAD_USER_INPUT"),
        ('mutation { follow(username: "ann") { id } }', "username", "BAD_USER_INPUT"),
        ('mutation { follow(username: "ghost") { id } }', "username", "NOT_FOUND"),
        ('mutation { unfollow(username: "ghost") { id } }', "username", "NOT_FOUND"),
    ]:
        body = client.gql(query)
        assert body["errors"][0]["extensions"] == {"code": code, "field": field}, query


def test_errors_about_no_argument_carry_no_field(client: GraphQLClient) -> None:
    body = client.gql('mutation { postMessage(text: "hi") { id } }')
    assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}


# -- connections --------------------------------------------------------------------------------

PAGE = """query ($first: Int, $after: String, $last: Int, $before: String) {
  publicTimeline(first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { text } }
    nodes { text }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


def test_edges_carry_cursors_beside_nodes_and_page_info_has_both_ends(
    server: LiveServer, client: GraphQLClient
) -> None:
    ann = make_user(server.db, "ann")
    for i in range(5):
        make_message(server.db, ann, f"m{i}", 100 + i)
    page = client.data(PAGE, first=2)["publicTimeline"]
    assert [e["node"]["text"] for e in page["edges"]] == ["m4", "m3"]
    assert page["nodes"] == [e["node"] for e in page["edges"]]
    info = page["pageInfo"]
    assert info == {
        "hasNextPage": True,
        "hasPreviousPage": False,
        "startCursor": page["edges"][0]["cursor"],
        "endCursor": page["edges"][-1]["cursor"],
    }
    # an edge's cursor pages from that edge
    middle = client.data(PAGE, first=2, after=page["edges"][0]["cursor"])["publicTimeline"]
    assert [n["text"] for n in middle["nodes"]] == ["m3", "m2"]
    # backwards from the end: the oldest two, and there are more before them
    oldest = client.data(PAGE, last=2)["publicTimeline"]
    assert [n["text"] for n in oldest["nodes"]] == ["m1", "m0"]
    assert oldest["pageInfo"]["hasPreviousPage"] is True
    assert oldest["pageInfo"]["hasNextPage"] is False
    newer = client.data(PAGE, last=2, before=oldest["pageInfo"]["startCursor"])["publicTimeline"]
    assert [n["text"] for n in newer["nodes"]] == ["m3", "m2"]
    assert newer["pageInfo"]["hasPreviousPage"] is True
    newest = client.data(PAGE, last=2, before=newer["pageInfo"]["startCursor"])["publicTimeline"]
    assert [n["text"] for n in newest["nodes"]] == ["m4"]
    assert newest["pageInfo"]["hasPreviousPage"] is False
    # after and before together bound the window from both sides
    window = client.data(
        PAGE, first=10, after=page["pageInfo"]["startCursor"], before=oldest["edges"][1]["cursor"]
    )["publicTimeline"]
    assert [n["text"] for n in window["nodes"]] == ["m3", "m2", "m1"]
    assert window["pageInfo"]["hasNextPage"] is False
    empty = client.data(PAGE, first=0)["publicTimeline"]
    assert empty["edges"] == []
    assert empty["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": False,
        "startCursor": None,
        "endCursor": None,
    }


def add_followers(db: Database, whom: str, count: int, followed_at: int) -> list[str]:
    """``count`` users following ``whom`` all at the same second (ties on followed_at),
    stored directly: signing up each would hash a password."""
    names = [f"fan{i:03d}" for i in range(count)]
    with Session(db.engine) as session, session.begin():
        target = session.exec(select(User).where(User.username == whom)).one()
        fans = [User(username=n, email=f"{n}@x.dk", pw_hash="-", created_at=0) for n in names]
        session.add_all(fans)
        session.flush()
        for fan in fans:
            assert fan.id is not None
            assert target.id is not None
            session.add(Follower(who_id=fan.id, whom_id=target.id, followed_at=followed_at))
    return names


FOLLOWERS = """query ($first: Int, $after: String, $last: Int, $before: String) {
  user(username: "star") {
    followers(first: $first, after: $after, last: $last, before: $before) {
      nodes { username }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}"""


def test_every_follower_is_reachable_a_hundred_at_a_time(
    server: LiveServer, client: GraphQLClient
) -> None:
    make_user(server.db, "star")
    names = add_followers(server.db, "star", 205, followed_at=1_000)
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = client.data(FOLLOWERS, after=after)["user"]["followers"]
        assert len(page["nodes"]) <= 100
        seen += [n["username"] for n in page["nodes"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert (pages, seen) == (3, names)
    backward: list[str] = []
    before = None
    while True:
        page = client.data(FOLLOWERS, last=100, before=before)["user"]["followers"]
        backward = [n["username"] for n in page["nodes"]] + backward
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    assert backward == names
    body = client.gql(FOLLOWERS, first=101)
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}
    following = client.data(
        '{ user(username: "fan007") { following { edges { cursor node { username } } } } }'
    )
    assert [e["node"]["username"] for e in following["user"]["following"]["edges"]] == ["star"]


def test_a_timeline_page_with_ids_authors_and_edges_is_one_statement_either_way(
    server: LiveServer, client: GraphQLClient
) -> None:
    authors = [make_user(server.db, f"user{i}") for i in range(10)]
    for i in range(40):
        make_message(server.db, authors[i % 10], f"m{i}", 1000 + i // 3)
    fields = (
        "edges { cursor node { id } } nodes { id text pubDate author { id username gravatarUrl }"
        " } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
    )
    for arguments, newest in (("first: 30", "m39"), ("last: 30", "m29")):
        with count_statements(server) as statements:
            page = client.data(f"{{ publicTimeline({arguments}) {{ {fields} }} }}")
        nodes = page["publicTimeline"]["nodes"]
        assert (len(nodes), nodes[0]["text"]) == (30, newest)
        assert len({n["author"]["id"] for n in nodes}) == 10
        assert len(statements) == 1, statements
