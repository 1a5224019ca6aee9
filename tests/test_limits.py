"""The inspection every GraphQL document passes before it runs (minitwit/schema/limits.py)."""

import pytest
from graphql import (
    GraphQLNamedType,
    GraphQLObjectType,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
)

from minitwit.schema import build_schema
from minitwit.schema.limits import MAX_ITEMS, MAX_TOKENS, Inspector, _Cost, _Walk
from minitwit.settings import Settings

LOGIN = 'login(username: "a", password: "b") { username }'
REGISTER = 'register(username: "a", email: "e", password: "p", password2: "p") { username }'


@pytest.fixture
def inspector() -> Inspector:
    return build_schema(Settings()).inspector


@pytest.mark.parametrize(
    ("query", "operation_name", "hashes"),
    [
        (f"mutation {{ {LOGIN} }}", None, True),
        (f"mutation R {{ {REGISTER} }}", "R", True),
        (f"mutation {{ ...F }} fragment F on Mutation {{ {LOGIN} }}", None, True),
        ('mutation { postMessage(text: "login") { id } }', None, False),
        ("{ viewer { username } }", None, False),
        ("query login { viewer { username } }", "login", False),
        (f"query Q {{ viewer {{ username }} }} mutation M {{ {LOGIN} }}", "Q", False),
        (f"query Q {{ viewer {{ username }} }} mutation M {{ {LOGIN} }}", "M", True),
        ("mutation { login(", None, False),
    ],
)
def test_operations_that_hash_a_password_wait_for_a_slot(
    inspector: Inspector, query: str, operation_name: str | None, hashes: bool
) -> None:
    inspection = inspector.inspect(query, operation_name)
    assert inspection.refusal is None
    assert inspection.hashes is hashes


@pytest.mark.parametrize(
    ("query", "refusal"),
    [
        (
            '{ user(username: "a") { followers(first: 1000) { nodes { following(first: 1000)'
            " { nodes { username } } } } } }",
            "items",
        ),
        # last counts like first
        (
            '{ user(username: "a") { followers(last: 100) { edges { node { following(last: 100)'
            " { edges { node { username } } } } } } } }",
            "items",
        ),
        (
            "{ publicTimeline(last: 100) { nodes { author { followers(last: 100) { nodes {"
            " username } } } } } }",
            "items",
        ),
        # first: 0 lists return no items but each still costs an item and a database query
        (
            "{ publicTimeline(first: 100) { nodes { author { followers(first: 97) { nodes { "
            + " ".join(f"m{i}: messages(first: 0) {{ nodes {{ id }} }}" for i in range(28))
            + " } } } } } }",
            "items",
        ),
        (
            "{ publicTimeline(first: 30) { nodes { author { "
            + " ".join(f"m{i}: messages(first: 0) {{ nodes {{ id }} }}" for i in range(3))
            + " } } } }",
            "91 database queries",
        ),
        (
            "{ publicTimeline(first: 30) { nodes { author { followers(first: 2)"
            " { nodes { messages(first: 1) { nodes { id } } } } } } } }",
            "database queries",
        ),
        (
            " ".join(["{"] + [f'n{i}: node(id: "VXNlcjox") {{ id }}' for i in range(51)] + ["}"]),
            "database queries",
        ),
        (f"mutation {{ a: {LOGIN} b: {LOGIN} }}", "Only one sign-in"),
        (f"mutation {{ {LOGIN} {REGISTER} }}", "Only one sign-in"),
        ("{ viewer { username } } { publicTimeline { nodes { id } } }", "several operations"),
    ],
)
def test_documents_that_ask_too_much_are_refused(
    inspector: Inspector, query: str, refusal: str
) -> None:
    result = inspector.inspect(query, None).refusal
    assert result is not None
    assert refusal in result


def test_fragments_that_double_at_every_level_are_measured_in_linear_time(
    inspector: Inspector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted, not timed: each fragment's selection set is walked once, whatever the number
    of spreads (2**150 expanded fields could never be walked one by one)."""
    depth = 150
    fragments = " ".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(depth)
    )
    query = f"{{ ...F0 }} {fragments} fragment F{depth} on Query {{ __typename }}"
    walked = 0
    walk = _Walk.selection_set

    def counting(
        self: _Walk, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None
    ) -> _Cost:
        nonlocal walked
        walked += 1
        return walk(self, selection_set, parent)

    monkeypatch.setattr(_Walk, "selection_set", counting)
    refusal = inspector.inspect(query, None).refusal
    assert refusal is not None
    assert "fragments are expanded" in refusal
    assert walked <= depth + 3, walked


def test_what_the_web_client_asks_fits(inspector: Inspector) -> None:
    connection = (
        "nodes { id text pubDate flagged author { username gravatarUrl(size: 48) } }"
        " pageInfo { hasNextPage endCursor }"
    )
    for query in (
        f"query {{ viewer {{ username isModerator }} homeTimeline {{ {connection} }} }}",
        f"query ($after: String) {{ publicTimeline(after: $after) {{ {connection} }} }}",
        f'query {{ user(username: "a") {{ username followedByViewer'
        f" messages {{ {connection} }} }} }}",
    ):
        assert inspector.inspect(query, None).refusal is None


def test_limits_are_what_the_readme_says() -> None:
    assert (MAX_ITEMS, MAX_TOKENS) == (10_000, 2_000)


def _cost(inspector: Inspector, query: str) -> _Cost:
    (operation,) = parse(query).definitions
    assert isinstance(operation, OperationDefinitionNode)
    root = inspector.limits.schema.get_root_type(operation.operation)
    return _Walk(inspector.limits, {}).selection_set(operation.selection_set, root)


def test_every_paged_field_declares_its_cost_on_the_field(inspector: Inspector) -> None:
    """A new list field with first/last but no cost(page=...) would go unbounded: caught."""
    schema = inspector.limits.schema
    paged = {
        (type_name, field_name)
        for type_name, graphql_type in schema.type_map.items()
        if isinstance(graphql_type, GraphQLObjectType) and not type_name.startswith("__")
        for field_name, field in graphql_type.fields.items()
        if "first" in field.args
    }
    declared = {key for key, limits in inspector.limits.fields.items() if limits.page}
    assert paged == declared
    assert paged >= {("Query", "publicTimeline"), ("User", "followers")}


@pytest.mark.parametrize(
    ("query", "calls", "items"),
    [
        ('{ node(id: "VXNlcjox") { id } }', 1, 2),
        ("{ publicTimeline { edges { node { id } } } }", 1, 1 + 30 * 3),
        (
            "{ publicTimeline(first: 5) { nodes { author { messages { nodes { id } } } } } }",
            6,
            None,
        ),
        ('{ user(username: "a") { followers(first: 2) { nodes { id } } } }', 2, None),
        ('{ user(username: "a") { ... on User { following { nodes { id } } } } }', 2, None),
    ],
)
def test_costs_follow_the_type_of_each_field(
    inspector: Inspector, query: str, calls: int, items: int | None
) -> None:
    cost = _cost(inspector, query)
    assert cost.calls == calls
    if items is not None:
        assert cost.items == items


def test_sign_in_and_sign_up_declare_that_they_hash(inspector: Inspector) -> None:
    assert _cost(inspector, f"mutation {{ {LOGIN} }}").hashing == 1
    assert _cost(inspector, f"mutation {{ {LOGIN} {REGISTER} }}").hashing == 2
    assert _cost(inspector, "mutation { logout }").hashing == 0
